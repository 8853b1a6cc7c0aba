"""Fault injection: the faults a rig can put on a simulated device, and clearing them.

`apply_fault(fleet, device, fault, args)` acts at once and returns what it did; `args.active` false clears a
fault. Unknown devices, faults or bad arguments raise `FaultError` naming them, and change nothing.

| fault | devices | args |
|---|---|---|
| `comm_loss` | all | Modbus unit answers exception 0x0B; MQTT link drops without DISCONNECT (Last Will fires) |
| `power_fail` | all | controller dark and silent, then events 182/184 and startup flash on restore; cabinet off |
| `door_open` | all | |
| `clock_drift` | all | `s_per_h` (cabinet, default 120) or `offset_s` (controller, default 300) |
| `force_conflict` | signal_controller | a welded load switch: conflicting greens, the MMU latches flash |
| `detector_fault` | signal_controller | `detector` 1..16, `kind` open (default), shorted, chatter, watchdog, other |
| `preempt` | signal_controller | preempt input `number` (1..6, default 1) on (`active: false`: off); `exit_phase` |
| `preempt_gate` | signal_controller | gate-down input of preempt `number` (default 1); `active: false`: gates up |
| `corrupt_plan_transfer` | signal_controller | `at`: `write` (default) or `commit` (Modbus); MQTT: received plan |
| `lamp_failure` | lighting_cabinet | `circuit`, `count` luminaires failed (current drops) |
| `breaker_trip` | lighting_cabinet | `circuit` |
| `contactor_stuck` | lighting_cabinet | `circuit`, `closed` (default true) |
"""

from __future__ import annotations

import logging
import math
from typing import Any

from firmware_sim.coordination import ticks
from firmware_sim.fleet import Fleet
from firmware_sim.signal_controller import DETECTOR_FAULT_EVENTS

log = logging.getLogger(__name__)

COMMON = {"comm_loss", "power_fail", "door_open", "clock_drift"}
CONTROLLER = COMMON | {"force_conflict", "detector_fault", "corrupt_plan_transfer", "preempt", "preempt_gate"}
CABINET = COMMON | {"lamp_failure", "breaker_trip", "contactor_stuck"}


class FaultError(ValueError):
    """A fault request that cannot be applied; the message names the device, fault or argument."""


def _int(args: dict[str, Any], key: str, lo: int, hi: int, default: int | None = None) -> int:
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FaultError(f"argument {key!r} must be an integer {lo}..{hi}, got {value!r}")
    return value


def apply_fault(fleet: Fleet, device: str, fault: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply (or with `active: false` clear) `fault` on `device`. Raises FaultError."""
    args = dict(args or {})
    active = args.pop("active", True)
    if not isinstance(active, bool):
        raise FaultError(f"argument 'active' must be true or false, got {active!r}")
    ctrl, cab = fleet.controllers.get(device), fleet.cabinets.get(device)
    if ctrl is None and cab is None:
        raise FaultError(f"no device {device!r} in this fleet")
    allowed = CONTROLLER if ctrl is not None else CABINET
    if fault not in allowed:
        raise FaultError(f"fault {fault!r} does not apply to {device}; known: {sorted(allowed)}")
    if fault == "comm_loss":
        (fleet.comm_fault.add if active else fleet.comm_fault.discard)(device)
        if device in fleet.links:
            fleet.links[device].comm_fault = active
    elif fault == "corrupt_plan_transfer":
        at = args.get("at", "write")
        if at not in ("write", "commit"):
            raise FaultError(f"argument 'at' must be 'write' or 'commit', got {at!r}")
        from firmware_sim.controller_mqtt import ControllerMqttFace
        from firmware_sim.controller_regs import ControllerRegisters
        regs, link = fleet.registers.get(device), fleet.links.get(device)
        if isinstance(regs, ControllerRegisters):
            regs.transfer.corrupt = at if active else None
        elif link is not None and isinstance(link.face, ControllerMqttFace):
            link.face.corrupt = active      # over MQTT the whole plan arrives at once: flipped before the CRC check
        else:
            raise FaultError(f"{device} has no plan transfer")
    elif ctrl is not None:
        _controller_fault(ctrl, fault, active, args)
    elif cab is not None:
        _cabinet_fault(cab, fault, active, args)
    log.info("fault device=%s fault=%s active=%s args=%s", device, fault, active, args)
    return {"device": device, "fault": fault, "active": active, "args": args}


def _controller_fault(ctrl: Any, fault: str, active: bool, args: dict[str, Any]) -> None:
    if fault == "force_conflict":
        ctrl.force_conflict = active
    elif fault == "door_open":
        ctrl.set_alarm("door_open", active)
    elif fault == "power_fail":
        ctrl.power(not active)
    elif fault == "clock_drift":
        offset = _int(args, "offset_s", -86400, 86400, 300) if active else 0
        ctrl.epoch_ticks += ticks(offset)
        ctrl.set_alarm("clock_drift", active)
    elif fault == "detector_fault":
        det = ctrl.detectors.detectors.get(_int(args, "detector", 1, 16))
        if det is None:
            raise FaultError(f"detector {args['detector']} is not in use")
        kind = args.get("kind", "open")
        if kind not in DETECTOR_FAULT_EVENTS:
            raise FaultError(f"argument 'kind' must be one of {sorted(DETECTOR_FAULT_EVENTS)}, got {kind!r}")
        ctrl.fail_detector(det.phase, kind if active else None)
    elif fault in ("preempt", "preempt_gate"):
        number = _int(args, "number", 1, 6, 1)
        if number not in ctrl.cabinet.preempts:
            raise FaultError(f"preempt {number} is not wired in this cabinet (wired: {sorted(ctrl.cabinet.preempts)})")
        if fault == "preempt":
            ctrl.preempt_input(active, number=number,
                               exit_phase=_int(args, "exit_phase", 1, 16) if "exit_phase" in args else None)
        else:
            ctrl.gate_down_input(active, number=number)


def _cabinet_fault(cab: Any, fault: str, active: bool, args: dict[str, Any]) -> None:
    if fault == "door_open":
        cab.door_open = active
    elif fault == "power_fail":
        cab.mains_ok = not active
    elif fault == "clock_drift":
        drift = args.get("s_per_h", 120.0)
        if isinstance(drift, bool) or not isinstance(drift, int | float) or not math.isfinite(drift):
            raise FaultError(f"argument 's_per_h' must be a finite number, got {drift!r}")
        cab.drift_s_per_h = float(drift) if active else 0.0
        if not active:
            cab.clock_offset_s = 0.0
    else:
        circuit = cab.circuits[_int(args, "circuit", 1, len(cab.circuits)) - 1]
        if fault == "lamp_failure":
            circuit.failed = _int(args, "count", 0, circuit.luminaires, 1) if active else 0
        elif fault == "breaker_trip":
            circuit.breaker_tripped = active
        elif fault == "contactor_stuck":
            closed = args.get("closed", True)
            circuit.contactor_stuck = bool(closed) if active else None
