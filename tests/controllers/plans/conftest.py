"""Fixtures of the plan tests: the example plans of contracts/plans and the plan JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PLANS_CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "plans"
EXAMPLES = PLANS_CONTRACT / "examples"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def weekday_plan() -> dict[str, Any]:
    """A fresh copy of the valid example plan tn-001 (tests may change it)."""
    data: dict[str, Any] = load_json(EXAMPLES / "tn-001-weekday.json")
    return data


@pytest.fixture(scope="session")
def plan_schema() -> dict[str, Any]:
    data: dict[str, Any] = load_json(PLANS_CONTRACT / "plan-v1.schema.json")
    return data
