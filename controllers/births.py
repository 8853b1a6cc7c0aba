"""A device's `birth` judged against the registry: the registry says who a device is, the birth only what it runs.

A birth cannot create a device (an unknown one raises `unknown_device`, see `controllers.alarms.from_registry`), and
cannot rename, move or shrink a registered one: the registry's `site`, `kind`, `name` and `location` win, and the
size the device announced before (`circuits` of a cabinet, `phases` of a controller) cannot decrease. What the birth
claims differently is a mismatch (an alarm); the birth the consumer keeps carries the registry's values. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

#: Locations closer than this (degrees, ~1 m) are the same place: floats pass through JSON and databases.
LOCATION_TOLERANCE_DEG = 1e-5


@dataclass(frozen=True, slots=True)
class Registered:
    """What the registry holds of a device; `birth` is the last birth accepted (None before the first)."""

    site: str
    kind: str
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    birth: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Judged:
    """`refused`: the birth is ignored entirely (another site or kind: not this device's). `birth`: what to keep."""

    birth: dict[str, Any]
    mismatches: tuple[str, ...]
    refused: bool = False


def _far(a: float, b: float) -> bool:
    return not (math.isfinite(a) and math.isfinite(b)) or abs(a - b) > LOCATION_TOLERANCE_DEG


def judge_birth(birth: dict[str, Any], site: str, registered: Registered) -> Judged:
    """The birth of a registered device, received on a topic of `site`, reconciled with the registry."""
    if site != registered.site or birth.get("kind") != registered.kind:
        fields = [f for f, bad in (("site", site != registered.site), ("kind", birth.get("kind") != registered.kind))
                  if bad]
        return Judged(birth, tuple(fields), refused=True)
    kept = dict(birth)
    mismatches: list[str] = []
    if registered.name is not None:
        if "name" in birth and birth["name"] != registered.name:
            mismatches.append("name")
        kept["name"] = registered.name
    if registered.lat is not None and registered.lon is not None:
        location = birth.get("location")
        if isinstance(location, dict) and (_far(float(location.get("lat", math.nan)), registered.lat)
                                           or _far(float(location.get("lon", math.nan)), registered.lon)):
            mismatches.append("location")
        kept["location"] = {"lat": registered.lat, "lon": registered.lon}
    before = registered.birth or {}
    circuits, had = birth.get("circuits"), before.get("circuits")
    if isinstance(had, int) and (not isinstance(circuits, int) or circuits < had):
        mismatches.append("circuits")
        kept["circuits"] = had
    phases, had_phases = birth.get("phases"), before.get("phases")
    if isinstance(had_phases, list) and (not isinstance(phases, list) or not set(had_phases) <= set(phases)):
        mismatches.append("phases")
        kept["phases"] = had_phases
    return Judged(kept, tuple(mismatches))
