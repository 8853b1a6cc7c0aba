"""Warnings that never refuse a plan: MUTCD 4E.06 total pedestrian time, a scheduled dark signal, passage 0 on
an actuated phase, a max green far above the splits in free operation, times NTCIP cannot carry."""

from __future__ import annotations

from typing import Any

from controllers.plans import validate_plan

Plan = dict[str, Any]


def warned(plan: Plan) -> set[tuple[str, str]]:
    report = validate_plan(plan)
    assert report.ok, report.errors
    return {(i.rule, i.path) for i in report.warnings}


def test_total_pedestrian_time_mutcd_4e06(weekday_plan: Plan) -> None:
    # Walk 7 s + ped clearance sized by crosswalk / 1.07 m/s meets (crosswalk + 1.83) / 0.914 up to ~31 m.
    phase = weekday_plan["phases"][3]
    phase |= {"crosswalk_m": 26, "ped_clear_s": 25}  # 25 ≥ 24.3; 7 + 25 = 32 ≥ (26 + 1.83) / 0.914 = 30.45
    assert ("ped_total_short", "phases[3].walk_s") not in warned(weekday_plan)
    phase |= {"crosswalk_m": 40, "ped_clear_s": 38}  # 38 ≥ 37.38; 7 + 38 = 45 < (40 + 1.83) / 0.914 = 45.77
    assert ("ped_total_short", "phases[3].walk_s") in warned(weekday_plan)
    issue = next(i for i in validate_plan(weekday_plan).warnings if i.rule == "ped_total_short")
    assert (issue.required, issue.found) == (7.77, 7)
    for text in (issue.message.en, issue.message.vi):
        assert "45.77" in text and "4E.06" in text and "7.77" in text


def test_scheduled_dark_signal(weekday_plan: Plan) -> None:
    weekday_plan["day_plans"][0]["events"][7]["action"] = "dark"
    assert warned(weekday_plan) == {("dark_scheduled", "day_plans[0].events[7].action")}


def test_passage_zero_on_an_actuated_phase(weekday_plan: Plan) -> None:
    weekday_plan["phases"][2]["passage_s"] = 0  # side-street left 3: actuated in free and in both patterns
    assert warned(weekday_plan) == {("passage_zero", "phases[2].passage_s")}


def test_passage_zero_on_a_phase_only_ever_coordinated(weekday_plan: Plan) -> None:
    # Phase 2 is coordinated in both patterns; with no free operation scheduled it is never actuated.
    weekday_plan["phases"][1]["passage_s"] = 0
    assert ("passage_zero", "phases[1].passage_s") in warned(weekday_plan)  # free runs 05:00 and 22:00
    for day in weekday_plan["day_plans"]:
        for event in day["events"]:
            if event["action"] == "free":
                event["action"] = "flash"
    assert ("passage_zero", "phases[1].passage_s") not in warned(weekday_plan)


def test_max_green_far_above_the_splits_in_free_operation(weekday_plan: Plan) -> None:
    # Phase 4's longest green: pattern 2, 34 - 6 = 28 s. 1.5 × 28 = 42 s.
    weekday_plan["phases"][3]["max_green_s"] = 42
    assert ("max_green_free_long", "phases[3].max_green_s") not in warned(weekday_plan)
    weekday_plan["phases"][3]["max_green_s"] = 60
    assert ("max_green_free_long", "phases[3].max_green_s") in warned(weekday_plan)
    for day in weekday_plan["day_plans"]:  # no free operation: max green never ends a phase alone
        day["events"] = [e for e in day["events"] if e["action"] != "free"]
    assert ("max_green_free_long", "phases[3].max_green_s") not in warned(weekday_plan)


def test_times_ntcip_cannot_carry(weekday_plan: Plan) -> None:
    pattern = weekday_plan["patterns"][0]
    pattern["offset_s"] = 12.5
    pattern["splits_s"]["1"], pattern["splits_s"]["2"] = 19.5, 50.5
    assert warned(weekday_plan) == {
        ("not_whole_seconds", "patterns[0].offset_s"),
        ("not_whole_seconds", "patterns[0].splits_s.1"),
        ("not_whole_seconds", "patterns[0].splits_s.2"),
    }
