"""atspm on the simulator's own events (a controller stepped for a morning hour, the default detector layout):
arrivals on green follow the offset against the upstream platoon, and phase wait and the coordination state per bin
come out of what the controller logs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from api.measures import Detector, RunResult, compute
from controllers.events import ControllerEvent
from firmware_sim.detectors import LINK_M, SPEED_MS, default_layout
from firmware_sim.signal_controller import SignalController

MORNING = datetime(2026, 12, 2, 7, 0, tzinfo=timezone(timedelta(hours=7)))


def _measures(offset_s: float) -> RunResult:
    ctrl = SignalController("tn-sig-001", MORNING, random.Random(11), offset_s=offset_s)
    events: list[ControllerEvent] = []
    ctrl.event_sink = lambda code, param, ms: events.append(ControllerEvent(
        "tn", "tn-sig-001", datetime.fromtimestamp(ms / 1000, UTC), len(events) % 256, code, param))
    for _ in range(36000):
        ctrl.step()
    layout = [Detector(d["channel"], d["phase"], d["type"]) for d in default_layout(range(1, 9))]
    return compute(events, layout)


def _aog(result: RunResult, phase: int) -> float:
    rows = [r for r in result.rows if r.measure == "arrival_on_green" and r.phase == phase]
    total = sum(int(r.values["Total_Actuations"] or 0) for r in rows)
    return sum(float(r.values["Percent_AOG"] or 0) * int(r.values["Total_Actuations"] or 0) for r in rows) / total


def test_atspm_sees_the_platoon_meet_green_at_the_better_offset() -> None:
    good = round((LINK_M - 100) / SPEED_MS)
    better, worse = _measures(good), _measures(good + 50)
    for phase in (2, 6):
        assert _aog(better, phase) > _aog(worse, phase) + 0.3, phase
    waits = [r for r in better.rows if r.measure == "phase_wait"]
    assert {r.phase for r in waits} >= {1, 3, 4, 5, 7, 8}, "every actuated phase waits for its green"
    assert all(0 < float(r.values["AvgPhaseWait"] or 0) < 200 for r in waits)
    coordination = [r for r in better.rows if r.measure == "coordination_agg"]
    assert len(coordination) == 4 and all(r.values["Pattern"] == 1 for r in coordination), coordination
