"""Overrides, center against cabinet: what to send so both agree after a cabinet or its gateway restarted.

The center is the record of who overrode which circuit, until when and why. A cabinet keeps overrides in memory:
after a power cycle it runs its program again (the center still shows the crew's override), and while it was away
a release may never have reached it (the cabinet still holds a circuit nobody holds any more). Comparing the
center's active overrides with the circuits the cabinet reports gives one action per disagreeing circuit:
`resend` the center's override (same level, same `until`), or `clear` the cabinet's (a release).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

LEVEL_TOLERANCE_PCT = 0.5     # a Modbus cabinet reports whole percent
MIN_REMAINING = dt.timedelta(seconds=5)  # an override ending this soon is left to end by itself on the cabinet


@dataclass(frozen=True, slots=True)
class Held:
    """An override the center holds on `circuit`."""

    circuit: int
    level_pct: float
    until: dt.datetime


@dataclass(frozen=True, slots=True)
class Action:
    kind: Literal["resend", "clear"]
    circuit: int
    reason: str
    level_pct: float | None = None
    until: dt.datetime | None = None


def reconcile(held: Sequence[Held], circuits: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[Action]:
    """Actions that make the cabinet's `circuits` (its `state.values.circuits`: `circuit`, `control`,
    `level_pct`) agree with the center's active overrides `held` at `now`. Circuits the cabinet does not report
    are left alone (nothing to compare); so are overrides that end within MIN_REMAINING."""
    reported = {c["circuit"]: c for c in circuits if isinstance(c.get("circuit"), int)}
    ours = {h.circuit: h for h in held}
    actions: list[Action] = []
    for number in sorted(reported):
        c, h = reported[number], ours.get(number)
        overridden = c.get("control") == "override"
        if h is None:
            if overridden:
                actions.append(Action("clear", number, "the cabinet holds an override the center does not"))
            continue
        if h.until - now < MIN_REMAINING:
            continue
        if not overridden:
            actions.append(Action("resend", number, "the cabinet runs its program under the center's override",
                                  h.level_pct, h.until))
            continue
        level = c.get("level_pct")
        # Level 0 is off: the cabinet reports level 0 (not lit). Above 0 the lit level must be the override's.
        if isinstance(level, int | float) and abs(float(level) - h.level_pct) > LEVEL_TOLERANCE_PCT \
                and not (h.level_pct == 0 and not c.get("on")):
            actions.append(Action("resend", number, f"the cabinet holds {level} %, the center {h.level_pct} %",
                                  h.level_pct, h.until))
    return actions
