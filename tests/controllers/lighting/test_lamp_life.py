"""Lamp life against the rated life: % used, hours left, and the status boundaries."""

from __future__ import annotations

import pytest

from controllers.lighting.faults import CircuitLoad
from controllers.lighting.lamp_life import circuit_life

LED = CircuitLoad(circuit=1, luminaires=20, rated_w=100.0, rated_life_h=50_000.0)


@pytest.mark.parametrize(("burning_h", "used", "left", "status"), [
    (0.0, 0.0, 50_000.0, "ok"),
    (39_999.0, 80.0, 10_001.0, "ok"),          # 79.998 % rounds to 80.0 but is not yet 80 %
    (40_000.0, 80.0, 10_000.0, "nearing_eol"),
    (49_999.99, 100.0, 0.01, "nearing_eol"),
    (50_000.0, 100.0, 0.0, "past_eol"),
    (61_000.0, 122.0, 0.0, "past_eol"),        # still burning past its rated life: nothing left, never negative
])
def test_used_share_and_status(burning_h: float, used: float, left: float, status: str) -> None:
    life = circuit_life(1, LED, burning_h)
    assert (life.used_pct, life.remaining_h, life.status, life.luminaires) == (used, left, status, 20)


def test_unknown_without_rated_life_or_reading() -> None:
    no_rating = CircuitLoad(circuit=2, luminaires=12, rated_w=90.0)
    assert circuit_life(2, no_rating, 1000.0).status == "unknown"
    assert circuit_life(2, None, 1000.0).status == "unknown"
    life = circuit_life(1, LED, None)
    assert (life.status, life.used_pct, life.remaining_h, life.rated_life_h) == ("unknown", None, None, 50_000.0)


def test_threshold_is_a_share_of_the_rated_life() -> None:
    assert circuit_life(1, LED, 30_000.0, nearing_pct=60).status == "nearing_eol"
    with pytest.raises(ValueError, match="nearing_pct"):
        circuit_life(1, LED, 1.0, nearing_pct=0)
