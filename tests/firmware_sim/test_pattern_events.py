"""Events 131/132/133 are logged together whenever the controller starts a pattern (power-up, after flash, after
preemption, a pattern change), so atspm's coordination_agg finds the cycle length in the controller's own log."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from api.measures import Detector, compute
from controllers.events import ControllerEvent
from firmware_sim.detectors import default_layout
from firmware_sim.signal_cabinet import Preemption, SignalCabinet
from firmware_sim.signal_controller import SignalController
from tests.firmware_sim.helpers import MORNING, controller, run


def pattern_events(ctrl: SignalController) -> list[tuple[int, int]]:
    return [(e.code, e.param) for e in ctrl.events.entries if e.code in (131, 132, 133)]


def test_every_pattern_start_logs_its_cycle_and_offset() -> None:
    ctrl = controller(offset_s=30)
    run(ctrl, 30)                                                   # power-up: startup flash, then pattern 1
    assert pattern_events(ctrl) == [(131, 255), (132, 0), (133, 0), (131, 1), (132, 100), (133, 30)]
    assert ctrl.command(2, 0, 0) == "ok"                            # flash
    run(ctrl, 30)
    assert ctrl.command(4, 0, 0) == "ok"                            # release: back to the schedule's pattern 1
    run(ctrl, 30)
    assert pattern_events(ctrl)[-6:] == [(131, 255), (132, 0), (133, 0), (131, 1), (132, 100), (133, 30)]
    assert ctrl.command(1, 2, 0) == "ok"                            # hold pattern 2 (80 s)
    run(ctrl, 1)
    assert pattern_events(ctrl)[-3:] == [(131, 2), (132, 80), (133, 30)]
    assert ctrl.command(3, 0, 0) == "ok"                            # free
    run(ctrl, 1)
    assert pattern_events(ctrl)[-3:] == [(131, 254), (132, 0), (133, 0)]


def test_the_pattern_is_logged_again_after_preemption() -> None:
    cabinet = SignalCabinet(preemption=Preemption(track_phases=(4,), track_clear_s=10, dwell_phases=(2, 6),
                                                  min_dwell_s=5, exit_phases=(2, 6)))
    ctrl = SignalController("tn-sig-001", MORNING, random.Random(1), cabinet=cabinet)
    run(ctrl, 60)
    before = len(pattern_events(ctrl))
    ctrl.preempt_input(True)
    run(ctrl, 60)
    ctrl.preempt_input(False)
    run(ctrl, 60)
    assert ctrl.mode == "coordinated"
    assert pattern_events(ctrl)[before:] == [(131, 1), (132, 100), (133, 0)]


def test_atspm_coordination_agg_reads_the_cycle_length_from_the_simulated_log() -> None:
    ctrl = controller()
    events: list[ControllerEvent] = []
    ctrl.event_sink = lambda code, param, ms: events.append(ControllerEvent(
        "tn", "tn-sig-001", datetime.fromtimestamp(ms / 1000, UTC), len(events) % 256, code, param))
    ctrl.power(False)
    ctrl.power(True)        # a power-up inside the window atspm reads
    run(ctrl, 1800)
    layout = [Detector(d["channel"], d["phase"], d["type"]) for d in default_layout(range(1, 9))]
    rows = [r for r in compute(events, layout).rows if r.measure == "coordination_agg"]
    assert rows and all(r.values["Pattern"] == 1 and r.values["CycleLength"] == 100 for r in rows), rows
