"""An intersection's twin geometry beside its detector configuration: the two must agree.

The registry keeps the detector channels (`detectors` table: channel, phase, type; the ATSPM measures use them) and,
apart, the twin's geometry (legs, lanes, movements, detector placements on lanes). A placement names a channel, so:

- every placement's channel must be in the intersection's detector configuration (configure detectors first: the
  measured demand counts vehicles by channel, and a placement on an unknown channel would count nothing);
- the phase that channel calls must be one of the phases serving its approach (a detector placed on the north leg
  but calling the east leg's phase is a wiring mistake the twin would silently reproduce).

A later change of the detector configuration does not rewrite the geometry: placements whose channel has gone are
ignored when the demand is built (and logged), and the next geometry PUT names them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from controllers.twin.model import IntersectionGeometry


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One row of the detector configuration as the geometry check needs it."""

    channel: int
    phase: int
    type: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    path: str
    message: str


def mismatches(geometry: IntersectionGeometry, detectors: Iterable[ChannelConfig]) -> list[Mismatch]:
    """Every placement that disagrees with the detector configuration, with its path in the geometry document."""
    phases_of: dict[int, set[int]] = {}
    for d in detectors:
        phases_of.setdefault(d.channel, set()).add(d.phase)
    out: list[Mismatch] = []
    for i, approach in enumerate(geometry.approaches):
        served = set(approach.phases.values())
        for j, placement in enumerate(approach.detectors):
            path = f"body.approaches.{i}.detectors.{j}.channel"
            called = phases_of.get(placement.channel)
            if called is None:
                out.append(Mismatch(path, f"approach {approach.leg}: detector channel {placement.channel} is not in "
                                          "the intersection's detector configuration (PUT …/detectors first)"))
            elif not called & served:
                out.append(Mismatch(path, f"approach {approach.leg}: detector channel {placement.channel} calls "
                                          f"phase {', '.join(map(str, sorted(called)))}, which serves no movement "
                                          f"of this approach (its phases: {', '.join(map(str, sorted(served)))})"))
    return out
