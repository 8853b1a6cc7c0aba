"""NEMA dual-ring, barrier-synchronised phase sequencer, stepped in 0.1 s ticks. Pure: no clock, no I/O.

Each ring times green → yellow → red clearance for one phase at a time. Phases on one side of a barrier may time
together across rings; a ring crosses the barrier only when every ring has finished that side (a ring whose phase
gapped out holds its green until the others are ready, so the barrier is crossed by all rings at once).

- free (pattern None): actuated; green ends after min green by gap-out (no actuation within passage) or max-out,
  and only if a conflicting call waits (otherwise it rests in green). Recall phases always hold a call.
- coordinated (a Pattern): the cycle timer runs against the clock (`now` ticks minus the offset); each phase has a
  fixed force-off from the splits, counted from the start of the coordinated phases' green (cycle timer 0);
  coordinated phases do not gap out and rest in green; a phase is started only when it fits before its force-off.
- `max_recall`: every phase called and no gap-out (fixed time).
Events (Indiana codes) go to `emit(code, param)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_sim.coordination import Coordination, ticks
from firmware_sim.plan import Pattern, Plan
from firmware_sim.ring_state import (
    DONT_WALK,
    GREEN,
    IDLE,
    PED_CLEAR,
    RED,
    WALK,
    YELLOW,
    Outputs,
    PhaseTicks,
    Ring,
)


@dataclass
class Sequencer:
    plan: Plan
    emit: Callable[[int, int], None]
    recall: frozenset[int] = frozenset()
    max_recall: bool = False
    pattern: Pattern | None = None
    rings: list[Ring] = field(default_factory=list)
    group: int = 0
    calls: set[int] = field(default_factory=set)
    ped_calls: set[int] = field(default_factory=set)
    stopping: bool = False
    coord: Coordination | None = None
    _dirty: bool = True
    _out: Outputs = field(default_factory=Outputs)
    _t: dict[int, PhaseTicks] = field(default_factory=dict)
    # Lateness (ticks) of each green start of the first coordinated phase; the controller reads and clears it.
    coord_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rings = [Ring(tuple(r)) for r in self.plan.rings]
        self.set_plan(self.plan)

    def set_plan(self, plan: Plan) -> None:
        """Run `plan` (same rings and barriers as before); timings apply from each interval's next check."""
        self.plan = plan
        self._t = {p: PhaseTicks.of(t) for p, t in plan.phases.items()}
        self.set_pattern(plan.patterns.get(self.pattern.pattern) if self.pattern is not None else None)

    # ----- control -------------------------------------------------------------------------------------------
    def set_pattern(self, pattern: Pattern | None) -> None:
        """Coordinate to `pattern` (None = free). Takes effect at each phase's next green start."""
        self.pattern = pattern
        self.coord = Coordination.of(self.plan, pattern) if pattern is not None else None

    def stop(self) -> None:
        """End every green safely (after min green and pedestrian clearance) and rest in red: `idle` tells when."""
        self.stopping = True

    def halt(self) -> None:
        """Drop every output at once (what the conflict monitor's transfer relay does) and stay stopped."""
        self.stopping = True
        for ring in self.rings:
            ring.phase, ring.interval, ring.t, ring.ready, ring.waiting, ring.next_phase = None, IDLE, 0, False, \
                False, None
            ring.ped, ring.ped_t = DONT_WALK, 0
        self._dirty = True

    def restart(self) -> None:
        """Leave the stopped state; service begins with the barrier group of the main street (recall phases)."""
        self.stopping = False
        main = min(self.recall) if self.recall else self.plan.rings[0][0]
        if self.pattern is not None:
            main = self.pattern.coord_phases[0]
        self.group = (self.plan.group_of(main) - 1) % len(self.plan.barriers)

    @property
    def idle(self) -> bool:
        return all(r.interval == IDLE for r in self.rings)

    def cycle_timer(self, now: int) -> int:
        return 0 if self.coord is None else self.coord.cycle_timer(now)

    # ----- stepping ------------------------------------------------------------------------------------------
    def step(self, now: int, detectors: set[int], buttons: set[int]) -> None:
        """Advance one tick at absolute tick `now`; `detectors` are phases whose vehicle detector is occupied,
        `buttons` phases whose pedestrian pushbutton is pressed."""
        greens = {r.phase for r in self.rings if r.interval == GREEN}
        for p in detectors:
            if p in greens:
                self._ring_of(p).gap = 0
            else:
                self.calls.add(p)
        for p in buttons:
            if p not in self.ped_calls and self.plan.phases[p].walk_s is not None:
                self.ped_calls.add(p)
                self.emit(45, p)
        for ring in self.rings:
            self._step_ring(ring, now)
        if self.idle and not self.stopping:
            self._cross_barrier(now)

    def _ring_of(self, phase: int) -> Ring:
        return self.rings[self.plan.ring_of(phase)]

    def _called(self, p: int) -> bool:
        if self.stopping:
            return False
        if p in self.calls or p in self.ped_calls or p in self.recall or self.max_recall:
            return True
        return self.pattern is not None and p in self.pattern.coord_phases

    def _ped_wanted(self, p: int) -> bool:
        t = self.plan.phases[p]
        return t.walk_s is not None and (p in self.ped_calls or not t.ped_actuated)

    def _step_ring(self, ring: Ring, now: int) -> None:
        ring.t += 1
        if ring.interval == GREEN:
            self._time_green(ring, now)
        elif ring.interval == YELLOW and ring.phase is not None:
            if ring.t >= self._t[ring.phase].yellow:
                self.emit(9, ring.phase)
                self.emit(10, ring.phase)
                ring.interval, ring.t = RED, 0
                self._dirty = True
        elif ring.interval == RED and ring.phase is not None \
                and ring.t >= self._t[ring.phase].red_clear:
            self.emit(11, ring.phase)
            self.emit(12, ring.phase)
            ring.interval, ring.t, ring.phase = IDLE, 0, None
            self._dirty = True
            if ring.next_phase is not None:
                nxt, ring.next_phase = ring.next_phase, None
                self._start_green(ring, nxt, now)

    def _time_green(self, ring: Ring, now: int) -> None:
        assert ring.phase is not None
        p, t = ring.phase, self._t[ring.phase]
        ring.gap += 1
        if ring.ped == WALK:
            ring.ped_t += 1
            if ring.ped_t >= t.walk:
                ring.ped, ring.ped_t = PED_CLEAR, 0
                self._dirty = True
                self.emit(22, p)
        elif ring.ped == PED_CLEAR:
            ring.ped_t += 1
            if ring.ped_t >= t.ped_clear:
                ring.ped, ring.ped_t = DONT_WALK, 0
                self._dirty = True
                self.emit(23, p)
        if ring.t == t.min_green:
            self.emit(3, p)
        if not ring.ready:
            if ring.t < t.min_green or ring.ped != DONT_WALK:
                return
            if self.stopping:
                ring.ready, ring.reason = True, 6
            elif self.pattern is not None:
                coord = p in self.pattern.coord_phases
                if ring.deadline is not None and now >= ring.deadline:
                    ring.ready, ring.reason = True, 6
                elif not coord and not self.max_recall and ring.gap >= t.passage:
                    ring.ready, ring.reason = True, 4
            elif not self.max_recall and ring.gap >= t.passage:
                ring.ready, ring.reason = True, 4
            elif ring.t >= t.max_green:
                ring.ready, ring.reason = True, 5
            if not ring.ready:
                return
        # A ring that waits at the barrier is a call on every ring: it cannot cross alone.
        waited_for = any(o is not ring and o.waiting for o in self.rings)
        if not (self.stopping or waited_for or any(self._called(q) and self.plan.conflicts(p, q)
                                                   for q in self.plan.phases)):
            return      # rest in green: nobody else wants the intersection
        nxt = self._next_in_group(ring, p, now)
        # A phase that gapped out at the barrier keeps its green until the other rings are ready too
        # (simultaneous gap-out); a force-off, max-out or stop ends it at once and the ring waits in red.
        if nxt is None and ring.reason == 4 and not self._barrier_ready(ring, now):
            ring.waiting = True
            return      # hold green until the other rings are ready to cross the barrier
        self._end_green(ring, nxt)
        if nxt is None and ring.reason == 4:
            for other in self.rings:
                if other is not ring and other.interval == GREEN and other.waiting:
                    self._end_green(other, None)

    def _barrier_ready(self, ring: Ring, now: int) -> bool:
        for other in self.rings:
            if other is ring or other.interval == IDLE:
                continue
            if other.interval != GREEN or not other.ready:
                return False
            if other.phase is not None and self._next_in_group(other, other.phase, now) is not None:
                return False
        return True

    def _end_green(self, ring: Ring, nxt: int | None) -> None:
        assert ring.phase is not None
        self.emit(ring.reason or 6, ring.phase)
        self.emit(7, ring.phase)
        self.emit(8, ring.phase)
        ring.interval, ring.t, ring.ready, ring.next_phase, ring.waiting = YELLOW, 0, False, nxt, False
        self._dirty = True

    def _next_in_group(self, ring: Ring, current: int, now: int | None) -> int | None:
        group = self.plan.group_of(current)
        after = ring.order[ring.order.index(current) + 1:]
        for q in after:
            if self.plan.group_of(q) == group and self._called(q) and (now is None or self._fits(q, now)):
                return q
        return None

    def _fits(self, p: int, now: int) -> bool:
        """Coordinated: can `p` start now and end by its force-off? (A pedestrian call that does not fit is
        served anyway: the walk overruns the split, as the plan rules warn.)"""
        return self.coord is None or self.coord.fits(self.plan, p, now)

    def _deadline(self, p: int, now: int) -> int | None:
        """Coordinated: the tick when `p`'s green must end."""
        if self.coord is None:
            return None
        green = self.coord.green_ticks(self.plan, p, now)
        t = self.plan.phases[p]
        if self._ped_wanted(p):
            green = max(green, ticks((t.walk_s or 0) + (t.ped_clear_s or 0)))
        return now + green

    def _start_green(self, ring: Ring, p: int, now: int) -> None:
        ring.phase, ring.interval, ring.t, ring.gap, ring.ready, ring.reason = p, GREEN, 0, 0, False, 0
        self._dirty = True
        ring.waiting = False
        ring.deadline = self._deadline(p, now)
        self.calls.discard(p)
        self.emit(1, p)
        if self.coord is not None and p == self.coord.pattern.coord_phases[0]:
            late = (self.coord.cycle_timer(now) - self.coord.start[p]) % self.coord.cycle
            self.coord_starts.append(late if late < self.coord.cycle // 2 else 0)
        if self._ped_wanted(p):
            self.ped_calls.discard(p)
            ring.ped, ring.ped_t = WALK, 0
            self.emit(21, p)

    def _cross_barrier(self, now: int) -> None:
        groups = len(self.plan.barriers)
        for k in range(1, groups + 1):
            g = (self.group + k) % groups
            starts = []
            for ring in self.rings:
                first = next((p for p in ring.order if self.plan.group_of(p) == g and self._called(p)
                              and self._fits(p, now)), None)
                if first is not None:
                    starts.append((ring, first))
            if starts:
                self.group = g
                for ring, p in starts:
                    self._start_green(ring, p, now)
                return

    def outputs(self) -> Outputs:
        """The signal heads' state (a fresh copy: callers may modify it). Recomputed only after a change."""
        if self._dirty:
            self._out, self._dirty = self._compute_outputs(), False
        o = self._out
        return Outputs(o.green, o.yellow, o.red, o.walk, o.ped_clear)

    def _compute_outputs(self) -> Outputs:
        out = Outputs()
        for p in self.plan.phases:
            out.red |= 1 << (p - 1)
        for ring in self.rings:
            if ring.phase is None or ring.interval == IDLE:
                continue
            bit = 1 << (ring.phase - 1)
            if ring.interval == GREEN:
                out.green |= bit
                out.red &= ~bit
                if ring.ped == WALK:
                    out.walk |= bit
                elif ring.ped == PED_CLEAR:
                    out.ped_clear |= bit
            elif ring.interval == YELLOW:
                out.yellow |= bit
                out.red &= ~bit
        return out
