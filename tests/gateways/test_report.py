"""Report strategies per telemetry point: period, change, change or period."""

from __future__ import annotations

from gateways.modbus.profile import Point
from gateways.modbus.report import Reporter


def point(name: str, **kw: object) -> Point:
    return Point.model_validate({"name": name, "table": "input", "address": 0, "type": "u16", "access": "r",
                                 "role": "telemetry", **kw})


def test_strategies() -> None:
    r = Reporter([point("p"), point("c", report="change"), point("h", report="change_or_period", report_period_s=10),
                  point("s", role="state")])
    values = {"p": 1, "c": 1, "h": 1, "s": 1, "unknown": 5}
    assert r.select(values, 0.0) == {"p": 1, "c": 1, "h": 1}
    assert r.select(values, 1.0) == {"p": 1}
    assert r.select({**values, "c": 2, "h": 2}, 2.0) == {"p": 1, "c": 2, "h": 2}
    assert r.select({**values, "c": 2, "h": 2}, 11.9) == {"p": 1}
    assert r.select({**values, "c": 2, "h": 2}, 12.0) == {"p": 1, "h": 2}


def test_change_or_period_needs_its_period() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="report_period_s"):
        point("h", report="change_or_period")
