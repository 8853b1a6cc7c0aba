"""One judge per rule: the pairing of a day-plan event's action with `pattern`, and its time, are judged by the
validator (`schedule_ref`, at the event's path, in both languages); the JSON Schema and the model accept those
documents (shape only) and say in the contract that the validator judges them."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from controllers.plans import PlanV1, validate_plan

Plan = dict[str, Any]


def _pattern_without_number(plan: Plan) -> str:
    del plan["day_plans"][0]["events"][2]["pattern"]          # action pattern, no pattern
    return "day_plans[0].events[2].pattern"


def _flash_with_number(plan: Plan) -> str:
    plan["day_plans"][0]["events"][0]["pattern"] = 1          # action flash, with a pattern
    return "day_plans[0].events[0].pattern"


def _dark_with_number(plan: Plan) -> str:
    plan["day_plans"][0]["events"][1].update(action="dark", pattern=2)
    return "day_plans[0].events[1].pattern"


def _time_out_of_range(plan: Plan) -> str:
    plan["day_plans"][0]["events"][3]["at"] = "24:00"
    return "day_plans[0].events[3].at"


@pytest.mark.parametrize("damage", [_pattern_without_number, _flash_with_number, _dark_with_number,
                                    _time_out_of_range])
def test_event_pairing_and_time_are_the_validators_to_judge(
        damage: Any, weekday_plan: Plan, plan_schema: dict[str, Any]) -> None:
    path = damage(weekday_plan)
    checker = jsonschema.Draft202012Validator(plan_schema,
                                              format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert checker.is_valid(weekday_plan), "the schema judges shape only: this is a rule of the validator"
    PlanV1.model_validate(weekday_plan)
    report = validate_plan(weekday_plan)
    errors = [(e.rule, e.path) for e in report.errors]
    schedule = [e for e in report.errors if e.rule == "schedule_ref"]
    assert ("schedule_ref", path) in errors
    assert all(e.rule != "schema" for e in report.errors), errors
    for e in schedule:
        assert e.message.vi and e.message.en and e.message.vi != e.message.en


def test_the_schema_says_who_judges_the_events(plan_schema: dict[str, Any]) -> None:
    event = plan_schema["$defs"]["event"]
    assert "schedule_ref" in event["$comment"] and "pattern" in event["$comment"]
    assert "if" not in event and "then" not in event, "a second judge of the pairing would disagree with the first"
