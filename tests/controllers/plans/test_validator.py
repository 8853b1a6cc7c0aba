"""Unit tests of validate_plan on the example plan: several failures at once, structure, config, warnings."""

from __future__ import annotations

from typing import Any

import pytest

from controllers.plans import PlanV1, ValidatorConfig, validate_plan

Plan = dict[str, Any]


def found(plan: Plan | PlanV1, rules: ValidatorConfig | None = None) -> set[tuple[str, str]]:
    report = validate_plan(plan, rules) if rules else validate_plan(plan)
    return {(issue.rule, issue.path) for issue in report.errors}


def warned(plan: Plan) -> set[tuple[str, str]]:
    return {(issue.rule, issue.path) for issue in validate_plan(plan).warnings}


def test_a_report_lists_every_failure(weekday_plan: Plan) -> None:
    weekday_plan["phases"][0]["colour"] = "green"  # schema: the other phases are still checked
    weekday_plan["phases"][1]["yellow_s"] = 2.5
    weekday_plan["phases"][5]["red_clear_s"] = 1.0
    weekday_plan["phases"][7]["ped_clear_s"] = 15
    weekday_plan["patterns"][1]["offset_s"] = 95
    weekday_plan["day_plans"][1]["events"][2]["pattern"] = 9
    report = validate_plan(weekday_plan)
    assert {(i.rule, i.path) for i in report.errors} == {
        ("schema", "phases[0].colour"),
        ("yellow_min", "phases[1].yellow_s"),
        ("yellow_range", "phases[1].yellow_s"),
        ("red_clear_min", "phases[5].red_clear_s"),
        ("ped_clear_min", "phases[7].ped_clear_s"),
        ("offset_range", "patterns[1].offset_s"),
        ("schedule_ref", "day_plans[1].events[2].pattern"),
    }
    yellow = next(i for i in report.errors if i.rule == "yellow_min")
    assert (yellow.required, yellow.found) == (3.28, 2.5)
    assert "3.28" in yellow.message.en and "3.28" in yellow.message.vi
    assert yellow.message.vi != yellow.message.en
    assert not report.ok


def test_a_model_is_validated_like_its_json(weekday_plan: Plan) -> None:
    weekday_plan["phases"][1]["yellow_s"] = 3.0
    assert found(PlanV1.model_validate(weekday_plan)) == found(weekday_plan) == {("yellow_min", "phases[1].yellow_s")}


@pytest.mark.parametrize("data", [[], "plan", None, 3])
def test_not_an_object_is_a_schema_error(data: Any) -> None:
    report = validate_plan(data)
    assert [(i.rule, i.path) for i in report.errors] == [("schema", "")]


def test_missing_split_is_named(weekday_plan: Plan) -> None:
    del weekday_plan["patterns"][0]["splits_s"]["3"]
    weekday_plan["patterns"][0]["splits_s"]["4"] += 15
    assert found(weekday_plan) == {("split_min", "patterns[0].splits_s.3")}


def test_non_actuated_peds_need_walk_and_clearance_in_the_split(weekday_plan: Plan) -> None:
    # Phase 2: walk 7 + ped clearance 14 = 21 s of green, + yellow 4 + red 2 = 27 s; its min green alone needs 16.
    splits = weekday_plan["patterns"][1]["splits_s"]
    splits["1"], splits["2"] = 18, 26
    assert found(weekday_plan) == {("split_min", "patterns[1].splits_s.2")}
    weekday_plan["phases"][1]["ped_actuated"] = True
    assert found(weekday_plan) == set()
    assert ("ped_split_short", "patterns[1].splits_s.2") in warned(weekday_plan)


def test_phase_in_two_rings(weekday_plan: Plan) -> None:
    weekday_plan["rings"][1] = [5, 6, 7, 8, 4]
    assert found(weekday_plan) >= {("same_ring_concurrency", "rings[1][4]")}


def test_phase_in_no_ring_or_no_barrier(weekday_plan: Plan) -> None:
    weekday_plan["rings"][0] = [1, 2, 3]
    weekday_plan["barriers"][1] = [3, 4, 7]
    assert {("same_ring_concurrency", "rings"), ("same_ring_concurrency", "barriers")} <= found(weekday_plan)


def test_conflicting_concurrency_is_refused(weekday_plan: Plan) -> None:
    # Lefts 3/7 with throughs 2/6 would let phase 2 and 7 time together: not in the NEMA conflict matrix.
    weekday_plan["rings"] = [[1, 2, 3, 4], [7, 6, 5, 8]]
    weekday_plan["barriers"] = [[1, 2, 7, 6], [3, 4, 5, 8]]
    assert ("same_ring_concurrency", "barriers[0]") in found(weekday_plan)
    open_matrix = ValidatorConfig(compatible_pairs=None)
    assert not any(rule == "same_ring_concurrency" for rule, _ in found(weekday_plan, open_matrix))


def test_unknown_phase_everywhere(weekday_plan: Plan) -> None:
    weekday_plan["rings"][0].append(9)
    weekday_plan["patterns"][0]["coord_phases"] = [2, 10]
    assert {("unknown_phase", "rings[0][4]"), ("unknown_phase", "patterns[0].coord_phases[1]")} <= found(
        weekday_plan
    )


def test_coordinated_phases_one_per_ring(weekday_plan: Plan) -> None:
    weekday_plan["patterns"][0]["coord_phases"] = [2]
    assert found(weekday_plan) == {("coord_phase_barrier", "patterns[0].coord_phases")}
    weekday_plan["patterns"][0]["coord_phases"] = [1, 2]
    assert found(weekday_plan) == {("coord_phase_barrier", "patterns[0].coord_phases")}


def test_schedule_times_valid_and_sorted(weekday_plan: Plan) -> None:
    events = weekday_plan["day_plans"][0]["events"]
    events[1]["at"] = "5:00"
    events[3]["at"] = "06:30"
    events[4]["action"] = "free"  # keeps its pattern: only "pattern" events name one
    weekday_plan["holidays"].append({"date": "2026-09-02", "day_plan": 1})
    assert found(weekday_plan) == {
        ("schedule_ref", "day_plans[0].events[1].at"),
        ("schedule_ref", "day_plans[0].events[3].at"),
        ("schedule_ref", "day_plans[0].events[4].pattern"),
        ("schedule_ref", "holidays[5].date"),
    }


def test_duplicate_numbers_are_schema_errors(weekday_plan: Plan) -> None:
    weekday_plan["phases"].append(dict(weekday_plan["phases"][0]))
    weekday_plan["patterns"].append(dict(weekday_plan["patterns"][0]))
    weekday_plan["day_plans"].append(dict(weekday_plan["day_plans"][0]))
    assert found(weekday_plan) == {
        ("schema", "phases[8].phase"),
        ("schema", "patterns[2].pattern"),
        ("schema", "day_plans[2].day_plan"),
    }


def test_thresholds_are_configurable(weekday_plan: Plan) -> None:
    assert found(weekday_plan, ValidatorConfig(walk_min_s=8)) == {
        ("walk_min", f"phases[{i}].walk_s") for i in (1, 3, 5, 7)
    }
    # A slower design walking speed (elderly, schools) lengthens the required ped clearance: 14 m / 1.0 = 14 s.
    slow = found(weekday_plan, ValidatorConfig(ped_walking_speed_mps=0.9))
    assert ("ped_clear_min", "phases[1].ped_clear_s") in slow
    with pytest.raises(ValueError, match="extra"):
        ValidatorConfig.model_validate({"walk_min": 7})


def test_warnings_are_not_errors(weekday_plan: Plan) -> None:
    weekday_plan["phases"][1]["yellow_s"] = 5.5
    weekday_plan["phases"][1]["max_green_s"] = 60
    weekday_plan["day_plans"][1]["events"][0]["at"] = "00:30"
    weekday_plan["week"]["sun"] = weekday_plan["week"]["sat"] = 1
    weekday_plan["holidays"] = []
    splits = weekday_plan["patterns"][1]["splits_s"]
    splits["1"], splits["2"] = 11, 33  # 2 needs 27 + 1.5 for the longer yellow
    report = validate_plan(weekday_plan)
    assert report.ok, report.errors
    assert {(i.rule, i.path) for i in report.warnings} == {
        ("yellow_long", "phases[1].yellow_s"),
        ("max_green_gt_split", "patterns[0].splits_s.2"),
        ("max_green_gt_split", "patterns[1].splits_s.2"),
        ("max_green_gt_split", "patterns[1].splits_s.1"),  # 11 s split leaves 5 s of green, max green is 6
        ("day_plan_no_midnight", "day_plans[1].events[0].at"),
        ("unused_day_plan", "day_plans[1]"),
    }
