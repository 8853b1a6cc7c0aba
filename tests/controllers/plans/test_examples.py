"""The example files of contracts/plans: the JSON Schema and the pydantic model agree on them."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from controllers.plans import DayPlan, Event, Holiday, Pattern, Phase, PlanV1, Week, validate_plan
from tests.controllers.plans.conftest import EXAMPLES, load_json


def test_weekday_example_is_valid_without_warnings(weekday_plan: dict[str, Any], plan_schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator(plan_schema).validate(weekday_plan)
    report = validate_plan(weekday_plan)
    assert report.errors == []
    assert report.warnings == []


def test_schema_is_valid_draft_2020_12(plan_schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(plan_schema)


def test_invalid_schema_example_is_refused_by_both(plan_schema: dict[str, Any]) -> None:
    data = load_json(EXAMPLES / "invalid-schema.json")
    assert not jsonschema.Draft202012Validator(plan_schema).is_valid(data)
    with pytest.raises(ValidationError):
        PlanV1.model_validate(data)
    report = validate_plan(data)
    assert {(i.rule, i.path) for i in report.errors} == {
        ("schema", "phases[1].yellow_s"),
        ("schema", "phases[1].yelow_s"),
        ("schema", "patterns[0].cycle_s"),
    }


def test_invalid_timing_example_is_well_formed_but_refused(plan_schema: dict[str, Any]) -> None:
    data = load_json(EXAMPLES / "invalid-timing.json")
    jsonschema.Draft202012Validator(plan_schema).validate(data)
    PlanV1.model_validate(data)
    report = validate_plan(data)
    assert [(i.rule, i.path) for i in report.errors] == [
        ("yellow_min", "phases[1].yellow_s"),
        ("yellow_range", "phases[1].yellow_s"),
        ("walk_min", "phases[3].walk_s"),
        ("ring_sum", "patterns[0].splits_s"),
        ("barrier_align", "patterns[0].splits_s"),
        ("schedule_ref", "week.sun"),
    ]


@pytest.mark.parametrize(
    ("model", "pointer"),
    [
        (PlanV1, None),
        (Phase, "phase"),
        (Pattern, "pattern"),
        (Event, "event"),
        (DayPlan, "dayPlan"),
        (Week, "week"),
        (Holiday, "holiday"),
    ],
)
def test_schema_and_models_have_the_same_fields(
    model: type[BaseModel], pointer: str | None, plan_schema: dict[str, Any]
) -> None:
    node = plan_schema if pointer is None else plan_schema["$defs"][pointer]
    assert set(node["properties"]) == set(model.model_fields)
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert set(node["required"]) == required
    assert node["additionalProperties"] is False


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda p: p["phases"][0].pop("walk_s", None) or p["phases"][1].pop("walk_s"), "phases[1]"),
        (lambda p: p["phases"][0].update(ped_actuated="yes"), "phases[0].ped_actuated"),
        (lambda p: p["phases"][0].update(yellow_s=-1), "phases[0].yellow_s"),
        (lambda p: p.update(format="signalight.plan/v2"), "format"),
        (lambda p: p["patterns"][0]["splits_s"].update({"x": 3}), "patterns[0].splits_s.x"),
        (lambda p: p["holidays"][0].update(date="02/09/2026"), "holidays[0].date"),
        (lambda p: p["week"].pop("sun"), "week.sun"),
    ],
)
def test_shape_errors_are_refused_by_schema_and_model(
    change: Any, path: str, weekday_plan: dict[str, Any], plan_schema: dict[str, Any]
) -> None:
    change(weekday_plan)
    assert not jsonschema.Draft202012Validator(plan_schema).is_valid(weekday_plan)
    report = validate_plan(weekday_plan)
    assert ("schema", path) in {(i.rule, i.path) for i in report.errors}
