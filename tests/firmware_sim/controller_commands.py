"""What the simulator tests send a signal controller: signed MQTT commands, a plan to deploy, and a plan staged in
its Modbus download registers."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.controller_regs import ControllerRegisters
from firmware_sim.plan_transfer import to_registers
from tests.command_signing import signed

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "plans" / "examples" / "tn-001-weekday.json"
DEVICE = "tn-sig-001"
#: The plan download registers (contracts/modbus/signal_controller.yaml).
STAGING, LENGTH, CRC, COMMIT = 400, 300, 301, 303


def new_plan(cycle_s: int = 96) -> dict[str, Any]:
    """The weekday example with pattern 2 (what it runs on a weekday morning) on another cycle (phases 2 and 6 take
    the difference)."""
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    p2 = doc["patterns"][1]
    more = cycle_s - p2["cycle_s"]
    p2["cycle_s"] = cycle_s
    p2["splits_s"]["2"] += more
    p2["splits_s"]["6"] += more
    return doc


def cmd(clock: ManualClock, name: str, args: dict[str, Any], cmd_id: str = "cmd-0001",
        expires_in_s: float = 60) -> bytes:
    return json.dumps(signed({"id": cmd_id, "name": name, "args": args, "issued_by": "ops",
                              "expires_at": rfc3339(clock.now() + timedelta(seconds=expires_in_s))},
                             "tn", DEVICE)).encode()


def stage(regs: ControllerRegisters, payload: bytes, crc: int) -> None:
    words = to_registers(payload)
    for i in range(0, len(words), 120):
        assert regs.write(STAGING + i, words[i:i + 120]) is None
    assert regs.write(LENGTH, [len(payload), crc >> 16, crc & 0xFFFF]) is None
    regs.refresh()
    assert regs.image.get("plan_status") == 1                     # receiving
