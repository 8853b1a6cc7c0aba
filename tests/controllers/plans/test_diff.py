"""diff_plans: changes matched by number, with old/new values and a one-line text each."""

from __future__ import annotations

import copy
from typing import Any

from controllers.plans import PlanV1, diff_plans


def test_changes_are_named_by_what_the_engineer_knows(weekday_plan: dict[str, Any]) -> None:
    new = copy.deepcopy(weekday_plan)
    new["phases"].reverse()  # order alone is no change
    new["phases"][-2]["yellow_s"] = 4.5  # phase 2
    new["patterns"][0]["splits_s"]["2"] = 51
    new["patterns"][0]["splits_s"]["4"] = 34
    del new["holidays"][-1]
    new["day_plans"][0]["events"].append({"at": "23:30", "action": "dark"})
    new["rings"][0] = [2, 1, 3, 4]
    changes = diff_plans(PlanV1.model_validate(weekday_plan), PlanV1.model_validate(new))
    assert [(c.kind, c.path, c.old, c.new) for c in changes] == [
        ("changed", "phases[phase=2].yellow_s", 4, 4.5),
        ("changed", "rings", [[1, 2, 3, 4], [5, 6, 7, 8]], [[2, 1, 3, 4], [5, 6, 7, 8]]),
        ("changed", "patterns[pattern=1].splits_s.2", 50, 51),
        ("changed", "patterns[pattern=1].splits_s.4", 35, 34),
        ("added", "day_plans[day_plan=1].events[at=23:30]", None, {"at": "23:30", "action": "dark"}),
        ("removed", "holidays[date=2026-09-02]", {"date": "2026-09-02", "day_plan": 2}, None),
    ]
    assert changes[0].text == "phases[phase=2].yellow_s: 4 → 4.5"
    assert changes[-1].text == 'holidays[date=2026-09-02]: removed (was {"date":"2026-09-02","day_plan":2})'


def test_optional_fields_appear_and_disappear(weekday_plan: dict[str, Any]) -> None:
    new = copy.deepcopy(weekday_plan)
    for key in ("walk_s", "ped_clear_s", "crosswalk_m"):
        del new["phases"][1][key]
    changes = diff_plans(PlanV1.model_validate(weekday_plan), PlanV1.model_validate(new))
    assert {(c.kind, c.path) for c in changes} == {
        ("removed", "phases[phase=2].walk_s"),
        ("removed", "phases[phase=2].ped_clear_s"),
        ("removed", "phases[phase=2].crosswalk_m"),
    }


def test_long_values_are_shortened_in_the_text(weekday_plan: dict[str, Any]) -> None:
    new = copy.deepcopy(weekday_plan)
    new["phases"].append({**weekday_plan["phases"][0], "phase": 9})
    (change,) = diff_plans(PlanV1.model_validate(weekday_plan), PlanV1.model_validate(new))
    assert change.path == "phases[phase=9]" and change.new is not None
    assert change.text.endswith("…") and len(change.text) < 100
