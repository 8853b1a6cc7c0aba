"""Where each phase sits in a coordinated cycle, and where the cycle is at a local time of day.

The cycle is laid out barrier group by barrier group, in the order of `barriers`. A group lasts as long as the
split sum of the rings that have phases in it (they are equal in a valid plan; while they are not, the longest,
because no ring crosses the barrier before the last one reaches it). Within a group each ring runs its phases
in ring order from the group's start, each phase's green starting at the start of its split; a ring with no
phase in the group rests (all red) for the whole group.

Offset reference (the same in the simulator and on the wire, see `contracts/plans/README.md`): the local cycle
zero is the start of green of the first coordinated phase to turn green in the cycle, whatever the order of
`coord_phases`; the master cycle is referenced to local midnight, so local cycle zero falls at
midnight + offset + k·cycle. Pure: the caller passes local time.
"""

from __future__ import annotations

import datetime as dt

from controllers.plans.model import Pattern
from controllers.plans.rules_rings import Structure


def group_times_s(pattern: Pattern, structure: Structure) -> list[float]:
    """Duration (s) of each barrier group; a missing split counts as 0 (rule split_min reports it)."""
    return [
        max((sum(pattern.split_of(n) or 0.0 for n in phases) for phases in group if phases), default=0.0)
        for group in structure.groups
    ]


def ring_totals_s(pattern: Pattern, structure: Structure) -> list[float]:
    """Each ring's splits plus the time it rests through the groups it has no phase in (s)."""
    times = group_times_s(pattern, structure)
    totals = []
    for r, ring in enumerate(structure.rings):
        rest = sum(times[g] for g, group in enumerate(structure.groups) if not group[r])
        totals.append(sum(pattern.split_of(n) or 0.0 for n in ring) + rest)
    return totals


def split_starts_s(pattern: Pattern, structure: Structure) -> dict[int, float]:
    """Start of each phase's split, which is the start of its green, in s from the start of the first group."""
    starts: dict[int, float] = {}
    group_start = 0.0
    for group, length in zip(structure.groups, group_times_s(pattern, structure), strict=True):
        for phases in group:
            at = group_start
            for n in phases:
                starts[n] = at
                at += pattern.split_of(n) or 0.0
        group_start += length
    return starts


def cycle_zero_s(pattern: Pattern, structure: Structure) -> float:
    """Local cycle zero in s from the start of the first group: the green start of the coordinated phase that
    turns green first (the coordinated phases share one group, so "first" is within that group). For a plan
    the validator accepted (coordinated phases in its rings); raises KeyError for a phase in no ring."""
    starts = split_starts_s(pattern, structure)
    return min(starts[n] for n in pattern.coord_phases)


def green_starts_s(pattern: Pattern, structure: Structure) -> dict[int, float]:
    """Each phase's green start in s after local cycle zero (0 ≤ value < cycle)."""
    zero = cycle_zero_s(pattern, structure)
    return {n: (at - zero) % pattern.cycle_s for n, at in split_starts_s(pattern, structure).items()}


def cycle_position_s(pattern: Pattern, local: dt.datetime) -> float:
    """Seconds since the last local cycle zero at local wall-clock time `local` (its date is ignored).

    Cycle zero falls at local midnight + offset + k·cycle, so every day starts in step with the master
    clock (no drift from one day to the next when 86 400 s is not a multiple of the cycle).
    """
    since_midnight = (
        local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    )
    return (since_midnight - pattern.offset_s) % pattern.cycle_s
