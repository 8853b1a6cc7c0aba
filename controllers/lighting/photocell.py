"""The photocell's debounced verdict: dark below one threshold, light above a higher one, each change confirmed
only after the lux has stayed past the threshold for the delay (a passing headlight or cloud changes nothing)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from controllers.lighting.model import Photocell


@dataclass(frozen=True, slots=True)
class PhotocellState:
    """`dark` is the confirmed verdict; `pending_since` when the lux first crossed toward the other verdict."""

    dark: bool
    pending_since: dt.datetime | None = None


def photocell_update(cell: Photocell, state: PhotocellState, lux: float, now: dt.datetime) -> PhotocellState:
    """The verdict after reading `lux` at `now`. Raises ValueError for a reading that is not a finite lux."""
    if not lux == lux or lux in (float("inf"), float("-inf")) or lux < 0:
        raise ValueError(f"lux must be a finite number ≥ 0, got {lux}")
    crossing = lux > cell.off_above_lux if state.dark else lux < cell.on_below_lux
    if not crossing:
        return PhotocellState(dark=state.dark)
    since = state.pending_since or now
    if (now - since).total_seconds() >= cell.delay_s:
        return PhotocellState(dark=not state.dark)
    return PhotocellState(dark=state.dark, pending_since=since)
