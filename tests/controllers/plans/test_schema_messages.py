"""`schema` failures speak to an engineer in both languages alike: the Vietnamese sentence carries the same
facts as the English one, and neither they nor `required`/`found` carry pydantic's internal error codes."""

from __future__ import annotations

import json
import re
from typing import Any, get_args

import pytest
from hypothesis import given
from pydantic_core.core_schema import ErrorType

from controllers.plans import Issue, validate_plan
from controllers.plans.schema_messages import CUSTOM
from tests.controllers.plans.budget import examples
from tests.controllers.plans.strategies import damaged_plans

# Codes with an underscore: plain words ("missing") are fine English, `greater_than_equal` is not.
CODES = {code for code in (*get_args(ErrorType), *CUSTOM) if "_" in code}
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

MALFORMED: list[tuple[str, Any]] = [
    ("a misspelt field", lambda p: p["phases"][1].update(yelow_s=p["phases"][1].pop("yellow_s"))),
    ("a string for a number", lambda p: p["phases"][0].update(walk_s="7")),
    ("null for an optional field", lambda p: p["phases"][1].update(walk_s=None)),
    ("half the ped fields", lambda p: p["phases"][1].pop("crosswalk_m")),
    ("a negative yellow", lambda p: p["phases"][0].update(yellow_s=-1)),
    ("speed zero", lambda p: p["phases"][0].update(approach_speed_kph=0)),
    ("grade too steep", lambda p: p["phases"][0].update(grade_pct=25)),
    ("phase 17", lambda p: p["phases"][0].update(phase=17)),
    ("phase 2.5", lambda p: p["phases"][0].update(phase=2.5)),
    ("phase true", lambda p: p["phases"][0].update(phase=True)),
    ("five rings", lambda p: p.update(rings=[[1], [2], [3], [4], [5, 6, 7, 8]])),
    ("no rings", lambda p: p.update(rings=[])),
    ("an empty ring", lambda p: p["rings"].append([])),
    ("a long name", lambda p: p.update(name="x" * 81)),
    ("an empty name", lambda p: p.update(name="")),
    ("a bad id", lambda p: p.update(intersection_id="tn 001")),
    ("format v2", lambda p: p.update(format="signalight.plan/v2")),
    ("an unknown action", lambda p: p["day_plans"][0]["events"][0].update(action="off")),
    ("no events", lambda p: p["day_plans"][0].update(events=[])),
    ("split key 0", lambda p: p["patterns"][0]["splits_s"].update({"0": 3})),
    ("cycle as text", lambda p: p["patterns"][0].update(cycle_s="120")),
    ("NaN yellow", lambda p: p["phases"][0].update(yellow_s=float("nan"))),
    ("infinite max green", lambda p: p["phases"][0].update(max_green_s=float("inf"))),
    ("an impossible date", lambda p: p["holidays"][0].update(date="2026-02-30")),
    ("a date as a number", lambda p: p["holidays"][0].update(date=20260101)),
    ("week as text", lambda p: p.update(week="mon")),
    ("phases as an object", lambda p: p.update(phases={})),
    ("a missing week day", lambda p: p["week"].pop("sun")),
    ("not an object", lambda p: p.clear() or p.update(x=1)),
]


def check_issue(issue: Issue) -> None:
    """One schema issue: both languages, different, the same numbers, no internal codes, JSON values."""
    vi, en = issue.message.vi, issue.message.en
    assert vi and en and vi != en
    assert issue.path in en and issue.path in vi
    assert sorted(NUMBER.findall(en)) == sorted(NUMBER.findall(vi)), (en, vi)
    for text in (json.dumps(issue.required), json.dumps(issue.found), vi, en):
        words = set(re.findall(r"[a-z]+(?:_[a-z]+)+", text))
        assert not words & CODES, (text, words & CODES)
    json.dumps(issue.model_dump(mode="json"), allow_nan=False)  # found NaN would not be JSON


@pytest.mark.parametrize(("what", "change"), MALFORMED, ids=[what for what, _ in MALFORMED])
def test_every_schema_failure_is_said_precisely_in_both_languages(
    what: str, change: Any, weekday_plan: dict[str, Any]
) -> None:
    change(weekday_plan)
    report = validate_plan(weekday_plan)
    schema = [issue for issue in report.errors if issue.rule == "schema"]
    assert schema, what
    for issue in schema:
        check_issue(issue)


def test_bounds_and_lengths_are_in_both_languages(weekday_plan: dict[str, Any]) -> None:
    weekday_plan["phases"][0]["grade_pct"] = 25
    weekday_plan["rings"] = [[1], [2], [3], [4], [5, 6, 7, 8]]
    by_path = {i.path: i for i in validate_plan(weekday_plan).errors}
    grade, rings = by_path["phases[0].grade_pct"], by_path["rings"]
    assert (grade.required, grade.found) == ("≤ 20", 25)
    assert "≤ 20" in grade.message.vi and "25" in grade.message.vi
    assert (rings.required, rings.found) == ("≤ 4 items", 5)
    assert "5 phần tử" in rings.message.vi and "nhiều nhất 4" in rings.message.vi


@examples(100)
@given(document=damaged_plans())
def test_damaged_plans_get_precise_messages(document: Any) -> None:
    for issue in validate_plan(document).errors:
        if issue.rule == "schema":
            check_issue(issue)
