"""A fixed cap that the ITE minimum exceeds: no value could pass both, so the cap gives way with a warning
naming the reason; the minimum stays an error."""

from __future__ import annotations

from typing import Any

from controllers.plans import ValidatorConfig, validate_plan
from controllers.plans.report import ValidationReport

Plan = dict[str, Any]


def _rules(report: ValidationReport) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    return {(i.rule, i.path) for i in report.errors}, {(i.rule, i.path) for i in report.warnings}


def _fast_approach(plan: Plan, yellow: float) -> Plan:
    # Phase 1 at 110 km/h on the level: ITE yellow 1 + 30.56 / 6.1 = 6.01 s, over the 6 s cap; red clearance
    # (25 + 6) / 30.56 = 1.01 s. Pattern 2 gives phase 1 2 s more (from phase 2) to fit the longer yellow.
    phase = plan["phases"][0]
    phase |= {"approach_speed_kph": 110, "yellow_s": yellow, "red_clear_s": 1.1}
    plan["patterns"][1]["splits_s"]["1"] += 2
    plan["patterns"][1]["splits_s"]["2"] -= 2
    plan["phases"][1]["max_green_s"] = 24  # what phase 2's shorter split leaves
    return plan


def test_yellow_cap_below_the_ite_minimum_is_a_warning(weekday_plan: Plan) -> None:
    report = validate_plan(_fast_approach(weekday_plan, 6.1))
    errors, warnings = _rules(report)
    assert errors == set()
    assert warnings == {("yellow_cap_clash", "phases[0].yellow_s")}
    clash = report.warnings[0]
    assert (clash.required, clash.found) == (6.0, 6.01)
    for text in (clash.message.en, clash.message.vi):
        assert "6.01" in text and "6.1" in text and "110" in text
    assert "advance warning" in clash.message.en and "lower approach speed" in clash.message.en
    assert "red clearance" in clash.message.en and "đỏ toàn phần" in clash.message.vi


def test_the_ite_minimum_stays_an_error(weekday_plan: Plan) -> None:
    errors, warnings = _rules(validate_plan(_fast_approach(weekday_plan, 6.0)))
    assert errors == {("yellow_min", "phases[0].yellow_s")}  # not yellow_range: 6.0 s is at the cap
    assert ("yellow_cap_clash", "phases[0].yellow_s") in warnings


def test_the_cap_gives_way_only_as_far_as_the_minimum_needs(weekday_plan: Plan) -> None:
    weekday_plan["patterns"][0]["splits_s"]["1"] += 1  # room for a 7 s yellow in pattern 1 ...
    weekday_plan["patterns"][0]["splits_s"]["2"] -= 1  # ... taken from phase 2
    weekday_plan["patterns"][1]["splits_s"]["1"] += 1
    weekday_plan["patterns"][1]["splits_s"]["2"] -= 1
    report = validate_plan(_fast_approach(weekday_plan, 7.0))
    assert [(i.rule, i.required) for i in report.errors] == [("yellow_range", [3.0, 6.1])]


def test_red_clearance_cap_below_the_need_is_a_warning(weekday_plan: Plan) -> None:
    # Phase 3 at 30 km/h across a 60 m junction: (60 + 6) / 8.33 = 7.92 s, over the 6 s cap.
    phase = weekday_plan["phases"][2]
    phase |= {"approach_speed_kph": 30, "clearing_width_m": 60, "red_clear_s": 8.0}
    for pattern in weekday_plan["patterns"]:  # 5.4 s more red for phase 3: take it from phase 4's split
        pattern["splits_s"]["3"] += 6
        pattern["splits_s"]["4"] -= 6
    report = validate_plan(weekday_plan)
    errors, warnings = _rules(report)
    assert errors == set()
    assert ("red_clear_cap_clash", "phases[2].red_clear_s") in warnings
    clash = next(i for i in report.warnings if i.rule == "red_clear_cap_clash")
    assert (clash.required, clash.found) == (6.0, 7.92)
    assert "7.92" in clash.message.en and "7.92" in clash.message.vi and "8" in clash.message.vi
    phase["red_clear_s"] = 6.0
    assert _rules(validate_plan(weekday_plan))[0] == {("red_clear_min", "phases[2].red_clear_s")}
    phase["red_clear_s"] = 8.5
    assert _rules(validate_plan(weekday_plan))[0] == {("red_clear_max", "phases[2].red_clear_s")}


def test_a_cap_the_minimum_fits_under_is_still_enforced(weekday_plan: Plan) -> None:
    weekday_plan["phases"][0]["yellow_s"] = 6.5  # 50 km/h needs 3.28 s: 6.5 s is over the cap, no excuse
    for pattern in weekday_plan["patterns"]:
        pattern["splits_s"]["1"] += 3
        pattern["splits_s"]["2"] -= 3
    errors, warnings = _rules(validate_plan(weekday_plan))
    assert errors == {("yellow_range", "phases[0].yellow_s")}
    assert not any(rule.endswith("cap_clash") for rule, _ in warnings)


def test_a_configured_cap_clashes_the_same_way(weekday_plan: Plan) -> None:
    # An agency capping yellow at 4 s: phase 2 at 50 km/h is fine (3.28 s), at 70 km/h (4.19 s) the cap gives way.
    weekday_plan["phases"][1] |= {"approach_speed_kph": 70, "yellow_s": 4.2}
    errors, warnings = _rules(validate_plan(weekday_plan, ValidatorConfig(yellow_max_s=4.0)))
    assert ("yellow_cap_clash", "phases[1].yellow_s") in warnings
    assert not any(path == "phases[1].yellow_s" for _, path in errors)
