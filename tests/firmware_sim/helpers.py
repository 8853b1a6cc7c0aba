"""Shared helpers for the firmware simulator tests: build devices and run them on synthetic time."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from firmware_sim.controller_regs import ControllerRegisters
from firmware_sim.plan import Plan
from firmware_sim.signal_controller import SignalController

# 10:00 local (Asia/Ho_Chi_Minh) on a Monday: the default day plan runs pattern 1 (100 s cycle).
MORNING = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def controller(seed: int = 1, plan: Plan | None = None, start: datetime = MORNING,
               offset_s: float = 0.0) -> SignalController:
    return SignalController("tn-sig-001", start, random.Random(seed), plan=plan, offset_s=offset_s)


def controller_with_regs(seed: int = 1) -> tuple[SignalController, ControllerRegisters]:
    ctrl = controller(seed)
    return ctrl, ControllerRegisters(ctrl)


def run(ctrl: SignalController, seconds: float) -> None:
    for _ in range(round(seconds * 10)):
        ctrl.step()


def bits(mask: int) -> set[int]:
    return {n + 1 for n in range(16) if mask & (1 << n)}
