"""Fixtures of the lighting tests: the example document of contracts/lighting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

LIGHTING_CONTRACT = Path(__file__).resolve().parents[3] / "contracts" / "lighting"
EXAMPLE = LIGHTING_CONTRACT / "examples" / "thai-nguyen-city.json"


def example() -> dict[str, Any]:
    """A fresh copy of the valid example document (tests may change it)."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def city() -> dict[str, Any]:
    return example()
