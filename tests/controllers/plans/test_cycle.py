"""The offset reference: local cycle zero at the green start of the first coordinated phase to turn green,
the master cycle referenced to local midnight."""

from __future__ import annotations

import datetime as dt
from typing import Any

from controllers.plans import PlanV1
from controllers.plans.cycle import cycle_position_s, cycle_zero_s, green_starts_s, ring_totals_s
from controllers.plans.rules_rings import Structure
from tests.controllers.plans.conftest import EXAMPLES, load_json


def _t_plan() -> PlanV1:
    return PlanV1.model_validate(load_json(EXAMPLES / "tn-014-t-junction.json"))


def test_t_junction_layout() -> None:
    plan = _t_plan()
    structure = Structure.of(plan.rings, plan.barriers)
    pattern = plan.patterns[0]  # 1: 15, 2: 55, 6: 70 | 4: 30; ring 2 rests 30 s
    assert ring_totals_s(pattern, structure) == [100, 100]
    # Phase 6 turns green at the start of the group, 2 after the leading left 1: cycle zero is 6's green start.
    assert cycle_zero_s(pattern, structure) == 0
    assert green_starts_s(pattern, structure) == {1: 0, 2: 15, 6: 0, 4: 70}


def test_cycle_zero_does_not_depend_on_the_order_of_coord_phases() -> None:
    plan = _t_plan()
    structure = Structure.of(plan.rings, plan.barriers)
    one = plan.patterns[0]
    other = one.model_copy(update={"coord_phases": [6, 2]})
    assert cycle_zero_s(one, structure) == cycle_zero_s(other, structure) == 0
    assert green_starts_s(one, structure) == green_starts_s(other, structure)


def test_lagging_coordinated_phase_sets_cycle_zero_later() -> None:
    data: dict[str, Any] = load_json(EXAMPLES / "tn-001-weekday.json")
    data["rings"] = [[2, 1, 3, 4], [6, 5, 7, 8]]  # both lefts lag: 2 and 6 turn green at the group start
    plan = PlanV1.model_validate(data)
    structure = Structure.of(plan.rings, plan.barriers)
    assert cycle_zero_s(plan.patterns[0], structure) == 0
    data["rings"] = [[1, 2, 3, 4], [6, 5, 7, 8]]  # 1 leads (20 s), 6 does not: 6 turns green first
    plan = PlanV1.model_validate(data)
    structure = Structure.of(plan.rings, plan.barriers)
    starts = green_starts_s(plan.patterns[0], structure)
    assert (starts[6], starts[2], starts[1]) == (0, 20, 0)
    data["rings"] = [[1, 2, 3, 4], [5, 6, 7, 8]]  # both lead: 2 and 6 start 20 s into the cycle layout
    plan = PlanV1.model_validate(data)
    structure = Structure.of(plan.rings, plan.barriers)
    assert cycle_zero_s(plan.patterns[0], structure) == 20
    assert green_starts_s(plan.patterns[0], structure)[1] == 100  # the lefts start 20 s before cycle zero


def test_cycle_is_referenced_to_local_midnight() -> None:
    pattern = _t_plan().patterns[0]  # cycle 100 s, offset 12 s
    midnight = dt.datetime(2026, 12, 2)
    assert cycle_position_s(pattern, midnight + dt.timedelta(seconds=12)) == 0
    assert cycle_position_s(pattern, midnight) == 88
    # 86 400 s is not a multiple of 100 s: the cycle restarts in step at every midnight, no drift day to day.
    next_day = midnight + dt.timedelta(days=1, seconds=12)
    assert cycle_position_s(pattern, next_day) == 0
    assert cycle_position_s(pattern, next_day - dt.timedelta(seconds=1)) == 99
