"""One judge per contract: the JSON Schema of contracts/plans and the pydantic model accept exactly the same
documents, on the examples and on random plans with random damage to their shape.

The schema is checked as a vendor would check it, with `format` asserted (a holiday 2026-02-30 is not a date).
Documents are JSON values: no NaN or Infinity, which JSON cannot carry (the model refuses them anyway).
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import given
from pydantic import ValidationError

from controllers.plans import PlanV1
from tests.controllers.plans.budget import examples
from tests.controllers.plans.conftest import EXAMPLES, load_json
from tests.controllers.plans.strategies import damaged_plans


def _schema_validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _model_accepts(document: Any) -> bool:
    try:
        PlanV1.model_validate(document)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_schema_and_model_agree_on_the_examples(path: Any, plan_schema: dict[str, Any]) -> None:
    document = load_json(path)
    assert _schema_validator(plan_schema).is_valid(document) == _model_accepts(document)


@pytest.mark.parametrize(
    ("change", "accepted"),
    [
        (lambda p: p["phases"][0].update(phase=1.0), True),  # JSON Schema: 1.0 is an integer
        (lambda p: p["rings"][0].__setitem__(0, 1.0), True),
        (lambda p: p.update(intersection_id="tn-001\n"), False),
        (lambda p: p["patterns"][0]["splits_s"].update({"1\n": 3}), False),
        (lambda p: p["holidays"][0].update(date="2026-01-01\n"), False),
        (lambda p: p["holidays"][0].update(date="2026-02-30"), False),
        (lambda p: p["phases"][0].update(walk_s=None), False),
        (lambda p: p["day_plans"][0]["events"][0].update(pattern=None), False),
        # Rules, not shape: the validator judges these (schedule_ref), the schema and the model both accept.
        (lambda p: p["day_plans"][0]["events"][0].update(at="25:00"), True),
        (lambda p: p["day_plans"][0]["events"][0].update(pattern=1), True),
    ],
)
def test_schema_and_model_agree_on_edge_cases(
    change: Any, accepted: bool, weekday_plan: dict[str, Any], plan_schema: dict[str, Any]
) -> None:
    change(weekday_plan)
    assert _schema_validator(plan_schema).is_valid(weekday_plan) is accepted
    assert _model_accepts(weekday_plan) is accepted


@examples(150)
@given(document=damaged_plans())
def test_schema_and_model_agree_on_damaged_plans(document: Any, plan_schema: dict[str, Any]) -> None:
    refusals = _schema_validator(plan_schema).iter_errors(document)
    schema_errors = [f"{list(e.absolute_path)}: {e.message}" for e in refusals]
    assert (not schema_errors) == _model_accepts(document), schema_errors
