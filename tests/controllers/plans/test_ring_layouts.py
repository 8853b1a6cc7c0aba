"""Ring layouts beyond the full dual ring: T-junctions where a ring rests through a barrier group, single rings."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controllers.plans import validate_plan
from tests.controllers.plans.conftest import EXAMPLES, load_json

Plan = dict[str, Any]


@pytest.fixture
def t_plan() -> Plan:
    """The T-junction example: rings [[1, 2, 4], [6]], barriers [[1, 2, 6], [4]]; ring 2 rests through 4."""
    data: Plan = load_json(EXAMPLES / "tn-014-t-junction.json")
    return data


def errors(plan: Plan) -> list[tuple[str, str]]:
    return [(i.rule, i.path) for i in validate_plan(plan).errors]


def three_phase(plan: Plan) -> Plan:
    """2+6 | 4: the T-junction example without its leading left."""
    out = copy.deepcopy(plan)
    out["phases"] = [p for p in out["phases"] if p["phase"] != 1]
    out["rings"], out["barriers"] = [[2, 4], [6]], [[2, 6], [4]]
    for pattern in out["patterns"]:
        splits = pattern["splits_s"]
        splits["2"] += splits.pop("1")
    return out


def test_t_junction_example_validates(t_plan: Plan) -> None:
    report = validate_plan(t_plan)
    assert report.errors == [] and report.warnings == []


def test_three_phase_t_junction_validates(t_plan: Plan) -> None:
    assert errors(three_phase(t_plan)) == []


def test_ring_sum_counts_the_rest_time(t_plan: Plan) -> None:
    # Ring 2 is phase 6 (70 s) plus 30 s resting while 4 runs: 100 s. Cutting 4 by 5 s and the cycle with it
    # keeps both rings summing to the cycle; cutting only the cycle breaks both, and the rest is named.
    pattern = t_plan["patterns"][0]
    pattern["cycle_s"] = 95
    pattern["splits_s"]["4"] = 25
    assert errors(t_plan) == []
    pattern["cycle_s"] = 90
    report = validate_plan(t_plan)
    assert [(i.rule, i.found) for i in report.errors] == [("ring_sum", 95), ("ring_sum", 95)]
    ring2 = report.errors[1]
    assert "25 s resting" in ring2.message.en and "25 s nghỉ" in ring2.message.vi


def test_barrier_align_compares_only_rings_in_the_group(t_plan: Plan) -> None:
    # Group 1 holds only ring 1's phase 4: nothing to align. In group 0, 1 + 2 must equal 6.
    t_plan["patterns"][0]["splits_s"]["6"] = 65
    report = validate_plan(t_plan)
    align = [i for i in report.errors if i.rule == "barrier_align"]
    assert [(i.path, i.found) for i in align] == [("patterns[0].splits_s", [70, 65])]
    assert "1: 70, 2: 65" in align[0].message.en and "1: 70, 2: 65" in align[0].message.vi


def test_a_ring_may_skip_a_group_but_not_go_back(t_plan: Plan) -> None:
    t_plan["rings"] = [[4, 1, 2], [6]]
    assert ("same_ring_concurrency", "rings[0]") in errors(t_plan)


def test_a_ring_resting_through_the_first_group(t_plan: Plan) -> None:
    # Side street 4 in ring 2, main road 2 in ring 1 only (6 gone): each ring rests through one group.
    plan = three_phase(t_plan)
    plan["phases"] = [p for p in plan["phases"] if p["phase"] != 6]
    plan["rings"], plan["barriers"] = [[2], [4]], [[2], [4]]
    for pattern in plan["patterns"]:
        del pattern["splits_s"]["6"]
        pattern["coord_phases"] = [2]
    assert errors(plan) == []


def test_coordinated_phases_one_per_ring_with_a_phase_in_their_group(t_plan: Plan) -> None:
    # Coordinating the side street 4: ring 2 rests through its group, so 4 alone is right.
    t_plan["patterns"][0]["coord_phases"] = [4]
    assert errors(t_plan) == []
    t_plan["patterns"][0]["coord_phases"] = [4, 6]  # two groups
    assert errors(t_plan) == [("coord_phase_barrier", "patterns[0].coord_phases")]
    t_plan["patterns"][0]["coord_phases"] = [2]  # ring 2 has 6 in that group: it needs a coordinated phase
    assert errors(t_plan) == [("coord_phase_barrier", "patterns[0].coord_phases")]


def test_single_ring_plans_keep_working(t_plan: Plan) -> None:
    plan = three_phase(t_plan)
    plan["phases"] = [p for p in plan["phases"] if p["phase"] != 6]
    plan["rings"], plan["barriers"] = [[2, 4]], [[2], [4]]
    for pattern in plan["patterns"]:
        del pattern["splits_s"]["6"]
        pattern["coord_phases"] = [2]
    assert errors(plan) == []
    plan["barriers"] = [[2, 4]]  # one group: no barrier at all
    assert errors(plan) == []


def test_while_the_structure_is_refused_resting_rings_are_not_summed(t_plan: Plan) -> None:
    # The structure is refused (phase 1 in no barrier group); ring 2's rest time is unknown, so its sum is not
    # reported (it would only repeat the structural fault); ring 1 still is.
    t_plan["barriers"] = [[2, 6], [4]]
    t_plan["patterns"][0]["cycle_s"] = 101
    assert errors(t_plan) == [
        ("same_ring_concurrency", "barriers"),
        ("ring_sum", "patterns[0].splits_s"),
    ]
