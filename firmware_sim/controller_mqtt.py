"""A signal controller speaking MQTT topic contract v1 itself: the same firmware as the Modbus units, another face.

Birth (kind signal_controller, capability deploy_plan), state (the normalized signal state of topics-v1 "State",
re-implemented here from the firmware's outputs), telemetry (cycle timer, detector counts and occupancy, cabinet
temperature, mains voltage, uptime), Indiana events `{ts, seq, code, param}` and alarm events, and commands on
`cmd`. Command checking (schema, expiry, same id at most once) is shared with the cabinet (`mqtt_commands.py`).

`deploy_plan {plan, crc32}`: the CRC-32 of the plan's transfer encoding (canonical compact sorted JSON) must equal
`crc32`, then the firmware's own plan parser checks it. Answers: progress `verifying`, `activating` (final: false),
then final `active` once the controller runs the plan from its next cycle boundary, or final `rolled_back` with
`crc_mismatch` / `invalid_plan` / `busy`, the running plan unchanged. Fault `corrupt_plan_transfer` flips bit 0
of the received payload's first byte before the CRC check. No I/O: the link publishes what `outbox()` returns.
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.clock import SimClock, parse_rfc3339, rfc3339
from firmware_sim.command_auth import CommandKeys
from firmware_sim.mqtt_commands import CommandBook
from firmware_sim.plan import PlanError, parse_plan
from firmware_sim.plan_transfer import canonical_bytes
from firmware_sim.signal_controller import SignalController

log = logging.getLogger(__name__)

TELEMETRY_S = 10.0
# Events wait here between publishes (and while the broker is away). Overflow policy, as the device log: the
# oldest are dropped and counted in telemetry `events_lost` (monotonic); no event code is reused for it.
EVENTS_MAX = 512
MODEL, FIRMWARE = "SL-TS2-8M", "fw-2.4.1"
PHASES, PED_PHASES = range(1, 9), (2, 4, 6, 8)
CODES = {"hold_pattern": 1, "flash": 2, "free": 3, "release": 4, "reset_conflict": 5}
# Values that move every tick: publishing state on their change would flood the broker.
MOVING = ("cycle_timer_s", "backup_remaining_s")


class ControllerMqttFace:
    """Payloads and command handling of one MQTT signal controller. Not thread-safe; one event loop."""

    kind = "signal_controller"

    def __init__(self, ctrl: SignalController, site: str, clock: SimClock, keys: CommandKeys | None = None,
                 window: Path | None = None) -> None:
        self.ctrl, self.site, self.clock = ctrl, site, clock
        self.device_id = ctrl.device_id
        self.prefix = f"sl/v1/{site}/{ctrl.device_id}"
        self.seq = -1
        self.bd_seq = -1
        # keys None: every command refused; window: the replay window file kept across restarts
        self.book = CommandBook(ctrl.device_id, clock, site, keys, window)
        self.last_state: dict[str, Any] | None = None
        self.active_crc = zlib.crc32(canonical_bytes(ctrl.plan_doc))
        self.pending: tuple[str, int] | None = None          # (command id, crc) of the plan waiting to activate
        self.corrupt = False                                  # fault corrupt_plan_transfer
        self.events: deque[dict[str, Any]] = deque()
        self.lost = 0
        self.late: list[dict[str, Any]] = []                  # final answers produced outside a command
        self.unsent: list[tuple[str, dict[str, Any]]] = []    # taken by a publish that failed: sent first next time
        ctrl.event_sink = self._on_event
        ctrl.alarm_sink = self._on_alarm
        ctrl.on_plan_activated = self._activated

    def topic(self, suffix: str) -> str:
        return f"{self.prefix}/{suffix}"

    def powered(self) -> bool:
        return self.ctrl.powered

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 256
        return self.seq

    # ----- payloads ------------------------------------------------------------------------------------------
    def birth(self) -> dict[str, Any]:
        self.bd_seq = (self.bd_seq + 1) % 256
        return {"ts": rfc3339(self.clock.now()), "bd_seq": self.bd_seq, "kind": "signal_controller", "model": MODEL,
                "firmware": FIRMWARE, "transport": "mqtt", "name": self.device_id,
                "capabilities": ["hold_pattern", "flash", "free", "release", "reset_conflict", "deploy_plan",
                                 "preempt"],
                "phases": sorted(self.ctrl.plan.phases)}

    def state_values(self) -> dict[str, Any]:
        c = self.ctrl
        out, pattern = c.display, c.seq.pattern
        running = c.mode in ("coordinated", "manual_hold") and pattern is not None
        flashing = c.mode == "flash"
        phases: dict[str, str] = {}
        for n in PHASES:
            bit = 1 << (n - 1)
            if out.green & bit:
                phases[str(n)] = "green"
            elif out.yellow & bit:
                phases[str(n)] = "flash_yellow" if flashing else "yellow"
            elif out.red & bit:
                phases[str(n)] = "flash_red" if flashing else "red"
            else:
                phases[str(n)] = "dark"
        peds: dict[str, str] = {}
        for n in PED_PHASES:
            bit = 1 << (n - 1)
            peds[str(n)] = ("dark" if c.mode in ("dark", "flash") else "walk" if out.walk & bit
                            else "ped_clear" if out.ped_clear & bit else "dont_walk")
        return {"mode": c.mode, "flash_cause": c.flash_cause if flashing else "none",
                "pattern": pattern.pattern if running and pattern else 0,
                "cycle_s": pattern.cycle_s if running and pattern else 0,
                "cycle_timer_s": c.seq.cycle_timer(c.local_ticks()) / 10 if running else 0,
                "control_source": "central" if c.central is not None else "schedule",
                "backup_remaining_s": c.backup_remaining_s(), "phases": phases, "peds": peds,
                "detectors": c.detectors.mask & 0xFFFF, "alarms": sorted(c.alarms), "plan_crc32": self.active_crc}

    def state(self, seq: int | None = None) -> dict[str, Any]:
        """The state now, with the next `seq`, or `seq` (that of a state taken but never sent)."""
        values = self.state_values()
        self.last_state = values
        return {"ts": rfc3339(self.clock.now()), "seq": self._next_seq() if seq is None else seq,
                "kind": "signal_controller", "values": values}

    def state_changed(self) -> bool:
        if self.last_state is None:
            return True
        now, then = self.state_values(), dict(self.last_state)
        for key in MOVING:
            now.pop(key)
            then.pop(key)
        return now != then

    def telemetry(self) -> dict[str, Any]:
        c, values = self.ctrl, self.state_values()
        tele: dict[str, float | bool] = {"cycle_timer_s": values["cycle_timer_s"], "cycle_s": values["cycle_s"],
                                         "cabinet_temp_c": round(c.cabinet_temp_c(), 1),
                                         "mains_voltage_v": round(c.mains_voltage_v(), 1),
                                         "uptime_s": c.uptime_ticks // 10, "events_lost": self.lost}
        for n, det in c.detectors.detectors.items():
            tele[f"det{n}_count"] = det.count
            tele[f"det{n}_occupancy_pct"] = det.occupancy_pct
        return {"ts": rfc3339(self.clock.now()), "seq": self._next_seq(), "values": tele}

    def _on_event(self, code: int, param: int, epoch_ms: int) -> None:
        if len(self.events) >= EVENTS_MAX:
            self.events.popleft()
            self.lost += 1
        self.events.append({"ts": _ms(epoch_ms), "code": code, "param": param & 0xFFFF})

    def _on_alarm(self, name: str, active: bool) -> None:
        if len(self.events) >= EVENTS_MAX:
            self.events.popleft()
            self.lost += 1
        self.events.append({"ts": rfc3339(self.clock.now()), "alarm": name, "active": active})

    def connected(self) -> None:
        """A session started; queued events are still sent (nothing is lost across a reconnect)."""

    def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        """What to publish now: what a failed publish left, late command answers, then events in order (each takes
        the next seq)."""
        out, self.unsent = self.unsent, []
        out += [("cmd/res", res) for res in self.late]
        self.late.clear()
        while self.events:
            out.append(("event", {**self.events.popleft(), "seq": self._next_seq()}))
        return out

    def requeue(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Items of `outbox()` the link could not publish (link lost): they go out first on the next session."""
        self.unsent = items + self.unsent

    # ----- commands ------------------------------------------------------------------------------------------
    def commands(self, payload: bytes) -> list[dict[str, Any]]:
        """The cmd/res answers to a `cmd` payload (empty when it cannot be answered)."""
        return self.book.handle(payload, self._execute)

    def _execute(self, cmd_id: str, name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        bad = _non_finite(args, "args")
        if bad is not None:
            # NaN or Infinity (which Python's JSON reader lets through) never reaches the firmware.
            error, stage = ("invalid_plan", "rolled_back") if name == "deploy_plan" else ("invalid_args", None)
            if name == "deploy_plan":
                self.ctrl.set_alarm("plan_deploy_failed", True)
            return [self.book.result(cmd_id, False, error, f"{bad}: expected a finite number", stage=stage)]
        if name == "deploy_plan":
            return self._deploy(cmd_id, args)
        if name == "preempt":
            if self.ctrl.conflict_latched or not self.ctrl.powered:
                return [self.book.result(cmd_id, False, "refused", f"preempt refused in mode {self.ctrl.mode}")]
            number = args.get("number", 1)
            if number not in self.ctrl.cabinet.preempts:
                return [self.book.result(cmd_id, False, "invalid_args", f"preempt {number} is not wired in this "
                                         f"cabinet (wired: {sorted(self.ctrl.cabinet.preempts)})")]
            if "gate_down" in args:
                self.ctrl.gate_down_input(bool(args["gate_down"]), number=number)
            self.ctrl.preempt_input(bool(args["input"]), number=number, exit_phase=args.get("exit_phase"))
            return [self.book.result(cmd_id, True, None, None, state=self.state_values())]
        code = CODES.get(name)
        if code is None:
            return [self.book.result(cmd_id, False, "unknown_command", f"a signal controller does not do {name!r}")]
        duration_s = 0
        if "until" in args:
            until: datetime = parse_rfc3339(args["until"])
            # rounded up: a backup timer may outlast `until` by a fraction of a second, never end before it
            duration_s = max(1, math.ceil((until - self.book.center_now()).total_seconds()))
        result = self.ctrl.command(code, int(args.get("pattern", 0)), duration_s)
        if result != "ok":
            error = "invalid_args" if result == "invalid_args" else "refused"
            return [self.book.result(cmd_id, False, error, f"{name} {result} in mode {self.ctrl.mode}")]
        return [self.book.result(cmd_id, True, None, None, state=self.state_values())]

    def _deploy(self, cmd_id: str, args: dict[str, Any]) -> list[dict[str, Any]]:
        verifying = self.book.result(cmd_id, True, None, None, final=False, stage="verifying")
        if self.pending is not None or self.ctrl.pending_plan is not None:
            return [verifying, self._refuse(cmd_id, "busy", "another plan is waiting for its cycle boundary")]
        payload = bytearray(canonical_bytes(args["plan"]))
        if self.corrupt and payload:
            payload[0] ^= 1
        crc = zlib.crc32(payload)
        if crc != args["crc32"]:
            return [verifying, self._refuse(cmd_id, "crc_mismatch", f"received CRC-32 {crc:#010x}, "
                                                                    f"announced {args['crc32']:#010x}")]
        try:
            plan = parse_plan(json.loads(payload.decode("utf-8")))
            self.ctrl.accept_plan(plan)
        except (PlanError, KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
            return [verifying, self._refuse(cmd_id, "invalid_plan", str(exc)[:1024] or type(exc).__name__)]
        self.pending = (cmd_id, crc)
        self.ctrl.set_alarm("plan_deploy_failed", False)
        log.info("plan_accepted device=%s id=%s crc32=%#010x", self.device_id, cmd_id, crc)
        return [verifying, self.book.result(cmd_id, True, None, None, final=False, stage="activating")]

    def _refuse(self, cmd_id: str, error: str, message: str) -> dict[str, Any]:
        self.ctrl.set_alarm("plan_deploy_failed", True)
        return self.book.result(cmd_id, False, error, message, stage="rolled_back")

    def _activated(self) -> None:
        if self.pending is None:
            return
        cmd_id, self.active_crc = self.pending
        self.pending = None
        self.late.append(self.book.result(cmd_id, True, None, None, stage="active", state=self.state_values()))


def _non_finite(value: Any, where: str) -> str | None:
    """Where the first NaN or ±Infinity in a decoded JSON value is, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite(v, f"{where}.{k}")
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_finite(v, f"{where}[{i}]")
            if found:
                return found
    return None


def _ms(epoch_ms: int) -> str:
    from datetime import UTC
    return rfc3339(datetime.fromtimestamp(epoch_ms / 1000, UTC))
