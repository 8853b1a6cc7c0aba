"""Coordination timing of one pattern: the cycle timer against the clock, fixed force-offs, permissive windows.

The cycle is laid out from the barriers: every ring runs the barrier groups in order and the phases of a group in
ring order, so all rings cross each barrier together (a ring with no phase in a group rests in red while the
others time it). Reference (contracts/plans/README.md, "Offset"): local cycle zero is the start of green of the
coordinated phase that turns green first in the cycle, whatever the order of `coord_phases`; the master cycle is
referenced to local midnight: cycle zero at local midnight + offset + k·cycle. All values are ticks of 0.1 s. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.plan import Pattern, Plan, group_lengths_s

DAY_TICKS = 864_000


def ticks(seconds: float) -> int:
    """Seconds as 0.1 s firmware ticks."""
    return round(seconds * 10)


@dataclass(frozen=True, slots=True)
class Coordination:
    pattern: Pattern
    cycle: int
    offset: int
    ref_phase: int                 # the coordinated phase whose green start is local cycle zero
    force_off: dict[int, int]      # cycle timer at which the phase's green must end
    window: dict[int, int]         # how far the force-off lies after its ring's coordinated phase's force-off
    start: dict[int, int]          # scheduled green start

    @classmethod
    def of(cls, plan: Plan, pattern: Pattern) -> Coordination:
        cycle = ticks(pattern.cycle_s)
        group_start, t = [], 0
        for length in group_lengths_s(pattern, plan.rings, plan.barriers):
            group_start.append(t)
            t += ticks(length)
        start: dict[int, int] = {}
        end_green: dict[int, int] = {}
        for ring in plan.rings:
            for g, group in enumerate(plan.barriers):
                at = group_start[g]
                for p in (q for q in ring if q in group):
                    timing = plan.phases[p]
                    start[p] = at
                    at += ticks(pattern.splits_s[p])
                    end_green[p] = at - ticks(timing.yellow_s) - ticks(timing.red_clear_s)
        ref_phase = min(pattern.coord_phases, key=lambda p: (start[p], p))
        ref = start[ref_phase]
        force_off, window, begin = {}, {}, {}
        for ring in plan.rings:
            coord = next((p for p in ring if p in pattern.coord_phases), None)
            for p in ring:
                force_off[p] = (end_green[p] - ref) % cycle
                if coord is not None:
                    window[p] = (end_green[p] - end_green[coord]) % cycle
                else:   # a ring without a coordinated phase (T-junction): any time in its barrier group
                    window[p] = end_green[p] - group_start[plan.group_of(p)]
                begin[p] = (start[p] - ref) % cycle
        return cls(pattern, cycle, ticks(pattern.offset_s), ref_phase, force_off, window, begin)

    def master_timer(self, local: int) -> int:
        """The master cycle timer at local tick `local` (ticks of local time since the epoch): zero at local
        midnight + offset + k·cycle."""
        return (local % DAY_TICKS - self.offset) % self.cycle

    def fits(self, plan: Plan, p: int, tc: int) -> bool:
        """Can non-coordinated phase `p` start at cycle timer `tc` and still time its min green before its
        force-off?"""
        if p in self.pattern.coord_phases:
            return True
        remaining = (self.force_off[p] - tc) % self.cycle
        return ticks(plan.phases[p].min_green_s) <= remaining <= self.window[p]

    def green_ticks(self, plan: Plan, p: int, tc: int) -> int:
        """Green time to the force-off for `p` starting at cycle timer `tc` (at least its min green).

        A coordinated phase that starts after its scheduled start (a late transition) keeps this cycle's
        force-off instead of dwelling a whole cycle; one that starts early (the others gapped out: early return
        to green) rests until this cycle's force-off."""
        remaining = (self.force_off[p] - tc) % self.cycle
        if p in self.pattern.coord_phases:
            late = (tc - self.start[p]) % self.cycle
            if late < self.cycle // 2:
                remaining = (self.force_off[p] - self.start[p]) % self.cycle - late
        return max(remaining, ticks(plan.phases[p].min_green_s))
