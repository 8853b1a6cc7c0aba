"""The photocell's debounced verdict: hysteresis between two thresholds and a delay before a change counts."""

from __future__ import annotations

import datetime as dt

import pytest

from controllers.lighting import Photocell, PhotocellState, photocell_update

CELL = Photocell(on_below_lux=30, off_above_lux=60, delay_s=120)
T0 = dt.datetime(2027, 1, 5, 10, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_dark_only_after_the_delay() -> None:
    state = PhotocellState(dark=False)
    state = photocell_update(CELL, state, 20, at(0))
    assert not state.dark and state.pending_since == at(0)
    state = photocell_update(CELL, state, 25, at(119))
    assert not state.dark
    state = photocell_update(CELL, state, 25, at(120))
    assert state.dark and state.pending_since is None


def test_a_passing_shadow_changes_nothing() -> None:
    state = photocell_update(CELL, PhotocellState(dark=False), 10, at(0))
    state = photocell_update(CELL, state, 500, at(60))       # the cloud passed: the pending change is dropped
    state = photocell_update(CELL, state, 10, at(130))
    assert not state.dark and state.pending_since == at(130)


def test_hysteresis_between_the_thresholds() -> None:
    dark = PhotocellState(dark=True)
    assert photocell_update(CELL, dark, 45, at(0)) == dark           # between 30 and 60: stays dark
    light = PhotocellState(dark=False)
    assert photocell_update(CELL, light, 45, at(0)) == light         # ... and stays light
    state = photocell_update(CELL, dark, 61, at(0))
    assert photocell_update(CELL, state, 70, at(120)).dark is False


@pytest.mark.parametrize("lux", [float("nan"), float("inf"), -1.0])
def test_bad_readings_are_refused(lux: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        photocell_update(CELL, PhotocellState(dark=False), lux, at(0))
