"""The local time-of-day schedule and the detector field."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from firmware_sim.detectors import DetectorField
from firmware_sim.plan import default_plan_doc, parse_plan
from firmware_sim.schedule import scheduled_action
from tests.firmware_sim.helpers import controller, run


def plan_doc() -> dict[str, Any]:
    doc = default_plan_doc("tn-sig-001")
    doc["day_plans"] = [
        {"day_plan": 1, "events": [{"at": "06:00", "action": "pattern", "pattern": 1},
                                   {"at": "22:30", "action": "flash"}]},
        {"day_plan": 2, "events": [{"at": "08:00", "action": "free"}]},
    ]
    doc["week"] = {**doc["week"], "sun": 2}
    doc["holidays"] = [{"date": "2026-09-02", "day_plan": 2}]           # Quốc khánh
    return doc


def test_schedule_week_holidays_and_carry_over() -> None:
    plan = parse_plan(plan_doc())
    assert scheduled_action(plan, datetime(2026, 11, 23, 10, 0)) == ("pattern", 1)     # Monday
    assert scheduled_action(plan, datetime(2026, 11, 23, 23, 0)) == ("flash", None)
    assert scheduled_action(plan, datetime(2026, 11, 24, 3, 0)) == ("flash", None), "yesterday's last event"
    assert scheduled_action(plan, datetime(2026, 11, 29, 12, 0)) == ("free", None)      # Sunday
    assert scheduled_action(plan, datetime(2026, 11, 29, 7, 0)) == ("flash", None)      # Saturday's last
    assert scheduled_action(plan, datetime(2026, 9, 2, 12, 0)) == ("free", None)        # a Wednesday holiday


def test_controller_follows_its_schedule_into_flash_through_clearance() -> None:
    # 15:25 UTC is 22:25 local: five minutes later the schedule asks for flash
    ctrl = controller(plan=parse_plan(plan_doc()), start=datetime.fromisoformat("2026-11-23T15:25:00+00:00"))
    run(ctrl, 200)
    assert ctrl.mode == "coordinated"
    run(ctrl, 150)
    assert ctrl.mode == "flash" and ctrl.flash_cause == "schedule"
    assert 173 in [e.code for e in ctrl.events.entries] or ctrl.events.overflows


def test_detectors_count_and_measure_occupancy() -> None:
    field = DetectorField(random.Random(4), tuple(range(1, 9)))
    on_changes = 0
    for tick in range(36000):                                 # one peak hour, phase 2 always green
        _, _, changes = field.step(tick, 8, greens=0b10)
        on_changes += sum(1 for det, on in changes if on and det == 2)
    assert 550 <= field.detectors[2].count <= 850, "about 700 veh/h on the through movement"
    assert on_changes == field.detectors[2].count
    assert 0 < field.detectors[2].occupancy_pct < 50
    assert field.detectors[4].queue > 100 and field.detectors[4].active, "red approach: queue sits on the loop"
    assert field.detectors[4].occupancy_pct == 100.0
    field.detectors[3].failed = True
    occupied, _, _ = field.step(36000, 8, greens=0)
    assert 3 not in occupied


def test_same_seed_same_run() -> None:
    a, b = controller(seed=7), controller(seed=7)
    run(a, 300)
    run(b, 300)
    assert [e.registers() for e in a.events.entries] == [e.registers() for e in b.events.entries]
    assert a.detectors.detectors[2].count == b.detectors.detectors[2].count


def test_pedestrian_overruns_raise_coordination_failure() -> None:
    doc = default_plan_doc("tn-sig-001")
    # phase 4's walk plus clearance (42 s) cannot fit its 22 s of green: every push breaks coordination
    doc["phases"][3].update(ped_clear_s=35.0, crosswalk_m=30.0)
    ctrl = controller(plan=parse_plan(doc))
    ctrl.detectors.volume_factor = 5.0                  # pushes every cycle
    run(ctrl, 900)
    assert "coordination_failure" in ctrl.alarms
    ctrl.detectors.next_ped.clear()                      # nobody pushes any more: back in step
    run(ctrl, 700)
    assert "coordination_failure" not in ctrl.alarms


def test_polling_does_not_change_the_traffic() -> None:
    """Reads draw sensor noise; the traffic (detectors, phases, events) must not depend on how often."""
    from firmware_sim.controller_regs import ControllerRegisters
    a, b = controller(seed=11), controller(seed=11)
    regs = ControllerRegisters(b)
    for _ in range(3000):
        a.step()
        b.step()
        regs.refresh()                                   # polled every tick
    assert [e.registers() for e in a.events.entries] == [e.registers() for e in b.events.entries]
    assert [d.count for d in a.detectors.detectors.values()] == [d.count for d in b.detectors.detectors.values()]
