"""NEMA dual-ring, barrier-synchronised phase sequencer, stepped in 0.1 s ticks. Pure: no clock, no I/O.

Each ring times green → yellow → red clearance for one phase at a time. Phases on one side of a barrier may time
together across rings; a ring crosses the barrier only when every ring has finished that side: a ring whose phase
gapped out holds its green until the others are ready, and is released the moment the last of the others ends
its green for the barrier (by gap-out, max-out or force-off), so all rings leave the group together. A ring with
no phase in a barrier group rests in red while the others time it.

- free (pattern None): actuated; green ends after min green by gap-out (no actuation within passage) or max-out,
  and only if a conflicting call waits (otherwise it rests in green, and a gap-out while resting is forgotten
  when the detector is actuated again). The max timer starts at the first conflicting call (at the green start
  when one is already waiting). Recall phases always hold a call.
- coordinated (a Pattern): the local cycle timer follows the master timer (`Coordination`); each phase has a
  fixed force-off from the splits, counted from local cycle zero; coordinated phases do not gap out and rest in
  green; a phase is started only when it fits before its force-off. Deadlines are kept on the sequencer's own
  tick count, so a jump of the wall clock never stretches or cuts a green.
- transitions: when the local cycle is out of step with the master (pattern change, clock jump, local midnight,
  entering coordination), the difference (`lag`) is worked off at each local cycle zero by shortening or
  lengthening the coordinated phases' green (shortway: ≤ 17 % of the cycle shorter or ≤ 20 % longer; dwell:
  ≤ 50 % longer), never below their min green.
- `max_recall`: every phase called and no gap-out (fixed time); `fail_recall`: phases whose detector failed, on
  max recall (fail-safe).
- `forced` (preemption): only these phases are called; any other green ends after its min green and pedestrian
  clearance (with `entry` set, cut to the preempt's entry min green, walk and pedestrian clearance: yellow and red
  clearance are never cut); coordination and recalls are suspended.
Events (Indiana codes) go to `emit(code, param)`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_sim.coordination import DAY_TICKS, Coordination, ticks
from firmware_sim.plan import Pattern, Plan
from firmware_sim.ring_state import (
    DONT_WALK,
    GREEN,
    IDLE,
    PED_CLEAR,
    RED,
    WALK,
    YELLOW,
    EntryLimits,
    Outputs,
    PhaseTicks,
    Ring,
)

SUBTRACT_MAX, ADD_MAX, DWELL_MAX = 0.17, 0.20, 0.50     # of the cycle, per cycle (transition bounds)
IN_STEP, ADD, SUBTRACT, DWELL = 1, 2, 3, 4              # Indiana event 150 parameters (coord cycle state)


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
    fail_recall: set[int] = field(default_factory=set)
    forced: frozenset[int] | None = None
    entry: EntryLimits | None = None    # preemption entry: how far a green that must end may be cut
    omit_walk: bool = False             # preemption entry and track clearance: no walk is started
    transition: str = "shortway"        # or "dwell"
    mono: int = 0                       # ticks stepped: deadlines count on it, not on the wall clock
    lag: int = 0                        # ticks the local cycle runs behind the master cycle (0 = in step)
    _tl: int | None = None              # local cycle timer of the last step
    _now: int = 0                       # local tick of the last step
    at_zero: bool = False               # the last step passed local cycle zero (the timer may have moved on)
    _pending_coord: Coordination | None = None
    _dirty: bool = True
    _out: Outputs = field(default_factory=Outputs)
    _t: dict[int, PhaseTicks] = field(default_factory=dict)
    _conf: dict[int, frozenset[int]] = field(default_factory=dict)
    _marks: dict[tuple[int, frozenset[int]], tuple[Coordination, tuple[int, ...]]] = field(default_factory=dict)
    # Lateness (ticks) of each green start of the reference coordinated phase; the controller reads and clears it.
    coord_starts: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rings = [Ring(tuple(r)) for r in self.plan.rings]
        self.set_plan(self.plan)

    def set_plan(self, plan: Plan) -> None:
        """Run `plan` (same rings and barriers as before); timings apply from each interval's next check."""
        self.plan = plan
        self._t = {p: PhaseTicks.of(t) for p, t in plan.phases.items()}
        self._conf = {p: frozenset(q for q in plan.phases if plan.conflicts(p, q)) for p in plan.phases}
        pattern = plan.patterns.get(self.pattern.pattern) if self.pattern is not None else None
        self.pattern, self.coord, self._pending_coord = None, None, None
        self.set_pattern(pattern)

    # ----- control -------------------------------------------------------------------------------------------
    def set_pattern(self, pattern: Pattern | None) -> None:
        """Coordinate to `pattern` (None = free). From free, coordination starts at once (local cycle zero now,
        then a transition to the master cycle); from another pattern, the new one takes over at the next local
        cycle zero."""
        self.pattern = pattern
        if pattern is None:
            self.coord = self._pending_coord = None
            self._tl = None
            return
        new = Coordination.of(self.plan, pattern)
        if self.coord is None:
            self.coord, self._pending_coord = new, None
            self._tl = None     # the local cycle starts at the next step
        else:
            self._pending_coord = new

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
        main = min(self.recall) if self.recall else next(r[0] for r in self.plan.rings if r)
        if self.coord is not None:
            main = self.coord.ref_phase
        self.group = (self.plan.group_of(main) - 1) % len(self.plan.barriers)

    @property
    def idle(self) -> bool:
        return all(r.interval == IDLE for r in self.rings)

    def cycle_timer(self, now: int | None = None) -> int:
        """The local cycle timer (ticks) of the last step; 0 when free."""
        return 0 if self.coord is None or self._tl is None else self._tl

    # ----- stepping ------------------------------------------------------------------------------------------
    def step(self, now: int, detectors: set[int], buttons: set[int]) -> None:
        """Advance one tick at local tick `now`; `detectors` are phases whose vehicle detector is occupied,
        `buttons` phases whose pedestrian pushbutton is pressed."""
        self.mono += 1
        self._now = now
        self.at_zero = False
        if self.coord is not None:
            self._follow_master(now)
        greens = {r.phase for r in self.rings if r.interval == GREEN}
        for p in detectors:
            if p in greens:
                self._ring_of(p).gap = 0
            elif p not in self.calls:
                self.calls.add(p)
                self.emit(43, p)
        for p in buttons:
            if p not in self.ped_calls and self.plan.phases[p].walk_s is not None:
                self.ped_calls.add(p)
                self.emit(45, p)
        for ring in self.rings:
            self._step_ring(ring)
        for ring in self.rings:
            # A ring stepped later in this tick may have come to rest at the barrier with calls it can reach only
            # by crossing: that is a conflicting call from this tick on, whatever the order of the rings.
            if ring.interval == GREEN and ring.max_from is None and ring.phase is not None \
                    and self._conflicting_call(ring.phase):
                ring.max_from = ring.t
        if self.idle and not self.stopping:
            self._cross_barrier()
        elif not self.stopping:
            self._late_start()

    # ----- quiet ticks ---------------------------------------------------------------------------------------
    def fingerprint(self) -> tuple[object, ...]:
        """Everything a tick can change except the running timers (t, gap, ped_t, mono, the local cycle timer):
        two consecutive steps with equal fingerprints are a steady state (see `quiet_ticks`)."""
        state: list[object] = [self.group, self.stopping, self.lag, id(self.coord), id(self._pending_coord),
                               self.forced, frozenset(self.calls), frozenset(self.ped_calls),
                               frozenset(self.fail_recall), self.max_recall]
        for r in self.rings:
            state += (r.phase, r.interval, r.ready, r.waiting, r.reason, r.deadline, r.served, r.max_from,
                      r.next_phase, r.ped)
        return tuple(state)

    def snapshot(self) -> tuple[object, ...]:
        """The fingerprint and the running timers: the whole state a step depends on (for tests that compare a
        run that jumps over quiet ticks with one that steps every tick)."""
        timers = tuple((r.t, r.gap, r.ped_t) for r in self.rings)
        state = list(self.fingerprint())
        state[3:5] = [c.pattern.pattern if c is not None else None for c in (self.coord, self._pending_coord)]
        return tuple(state), timers, self.mono, self._tl

    def quiet_ticks(self, now: int, detectors: set[int]) -> int:
        """After a steady step at local tick `now` (its fingerprint equal to the step before's), how many
        further steps with the same inputs change nothing but the timers: the distance to the first timer that
        reaches a threshold (yellow, red clearance, min green, walk, pedestrian clearance, passage, max green
        from the call, force-off deadline, a cycle timer value where a phase starts or stops fitting, local
        cycle zero, local midnight). Every rule of a step compares a timer with a constant or reads state that
        only a step that changes the fingerprint can change, so those steps are exactly the skipped ones.
        0 during preemption (its entry limits are not modelled here)."""
        if self.forced is not None or self.entry is not None:
            return 0
        k = 1 << 30
        for ring in self.rings:
            p = ring.phase
            if ring.interval == IDLE or p is None:
                continue
            t = self._t[p]
            if ring.interval == YELLOW:
                k = min(k, t.yellow - ring.t - 1)
            elif ring.interval == RED:
                k = min(k, t.red_clear - ring.t - 1)
            else:
                if ring.t < t.min_green:
                    k = min(k, t.min_green - ring.t - 1)
                if ring.ped == WALK:
                    k = min(k, t.walk - ring.ped_t - 1)
                elif ring.ped == PED_CLEAR:
                    k = min(k, t.ped_clear - ring.ped_t - 1)
                if p not in detectors and ring.gap < t.passage and self.gap_counts(p):
                    k = min(k, t.passage - ring.gap - 1)
                if ring.max_from is not None and ring.t - ring.max_from < t.max_green:
                    k = min(k, ring.max_from + t.max_green - ring.t - 1)
                if ring.deadline is not None and self.mono < ring.deadline:
                    k = min(k, ring.deadline - self.mono - 1)
        coord = self.coord
        if coord is not None:
            k = min(k, DAY_TICKS - now % DAY_TICKS - 1)
            if self._tl is not None:
                k = min(k, self._next_boundary(coord, self._tl) - 1)
        return max(0, k)

    def passage_ticks(self, p: int) -> int:
        """Phase `p`'s passage time in ticks (a green gaps out once its gap timer reaches it)."""
        return self._t[p].passage

    def gap_counts(self, p: int) -> bool:
        """Can green `p` still gap out? Not on max recall, nor as a coordinated phase in coordination."""
        if self.max_recall or p in self.fail_recall:
            return False
        return not (self._coordinated() and self.coord is not None and p in self.coord.pattern.coord_phases)

    def _next_boundary(self, coord: Coordination, tl: int) -> int:
        """Ticks from cycle timer `tl` to the next value where some called phase's `fits` may change, or cycle
        zero. `fits` is asked only of called phases, and calls change only by an input or a green start."""
        if self.max_recall:
            called = frozenset(self._t)
        else:   # what `_called` says of each phase (never forced here; stopping calls nothing: more bounds)
            called = (frozenset(self.calls) | self.ped_calls | self.recall | self.fail_recall
                      | frozenset(coord.pattern.coord_phases)).intersection(self._t)
        key = (id(coord), called)
        marks = self._marks.get(key)
        if marks is None or marks[0] is not coord:
            bounds = {0}
            for p in called:
                fo, mg = coord.force_off[p], self._t[p].min_green
                bounds |= {(fo - coord.window[p]) % coord.cycle, (fo - mg + 1) % coord.cycle, (fo + 1) % coord.cycle}
            marks = (coord, tuple(sorted(bounds)))
            if len(self._marks) > 4096:
                self._marks.clear()
            self._marks[key] = marks
        at = marks[1]
        i = bisect_right(at, tl)
        return at[i] - tl if i < len(at) else at[0] + coord.cycle - tl

    def skip(self, k: int, now: int, detectors: set[int], last_on: dict[int, int] | None = None) -> None:
        """Advance `k` quiet ticks (at most `quiet_ticks`) at once; the next step is at local tick now + k + 1.
        The detectors stay as they were at `now`, except those of greens that cannot gap out (`gap_counts`):
        `last_on` gives their last occupied tick up to now + k (for a detector that is not stuck on), so their
        gap timers stay exact."""
        if k <= 0:
            return
        self.mono += k
        self._now = now + k
        self.at_zero = False
        if self._tl is not None and self.coord is not None:
            self._tl = (self._tl + k) % self.coord.cycle
        for ring in self.rings:
            ring.t += k
            if ring.interval == GREEN:
                last = last_on.get(ring.phase) if last_on and ring.phase is not None else None
                if last is not None and last >= now:
                    ring.gap = now + k - last + 1
                elif ring.phase not in detectors or last is not None:
                    ring.gap += k
                if ring.ped != DONT_WALK:
                    ring.ped_t += k

    def _late_start(self) -> None:
        """A ring that crossed into the group with nothing to serve (no call then; coordinated: nothing fitted,
        the group began early or the ring has no coordinated phase) starts its first called phase of the group
        once there is one (that fits), while another ring still times the group."""
        if not any(r.interval == GREEN for r in self.rings):
            return
        for ring in self.rings:
            if ring.interval != IDLE or ring.next_phase is not None or ring.served:
                continue
            first = next((p for p in ring.order if self.plan.group_of(p) == self.group and self._called(p)
                          and self._fits(p)), None)
            if first is not None:
                self._start_green(ring, first)

    def _follow_master(self, now: int) -> None:
        """Advance the local cycle timer by one tick; a jump of the master timer (clock set, local midnight)
        goes into `lag`, for the transition to work off: the local timer itself never jumps."""
        coord = self.coord
        assert coord is not None
        master = coord.master_timer(now)
        if self._tl is None:    # entering coordination: local cycle zero now, then a transition to the master
            self._tl, self.lag, self.at_zero = 0, master, True
            self.emit(150, self._lag_state())
            for ring in self.rings:     # a side-street green running now ends after its min green
                if ring.interval == GREEN and ring.phase is not None:
                    ring.deadline = self._deadline(ring.phase) if ring.phase in coord.pattern.coord_phases \
                        else self.mono
            return
        expected = (self._tl + 1) % coord.cycle
        self.lag = (master - expected) % coord.cycle
        self._tl = expected
        if expected == 0 and self.forced is None:
            self.at_zero = True
            self._local_zero()
            coord = self.coord
            assert coord is not None
            for ring in self.rings:     # coordinated greens time to the force-off of the new cycle
                if ring.interval == GREEN and ring.phase is not None and ring.phase in coord.pattern.coord_phases:
                    ring.deadline = self._deadline(ring.phase)
                    # A green resting past last cycle's force-off was ready to end; in the new cycle it is not,
                    # or the first call would end it at once and lose this cycle's split.
                    ring.ready = ring.waiting = False

    def _subtract_step(self) -> int:
        """Most the local cycle may be shortened this cycle: 17 % of it, and never a coordinated green below its
        min green."""
        coord = self.coord
        assert coord is not None
        slack = min((coord.force_off[p] - coord.start[p]) % coord.cycle - self._t[p].min_green
                    for p in coord.pattern.coord_phases)
        return max(0, min(ticks(coord.cycle * SUBTRACT_MAX / 10), slack))

    def _lag_state(self) -> int:
        """In step, or how the transition works off the lag: shortway takes the direction that needs fewer
        cycles (subtracting is bounded by the coordinated phases' slack above min green), dwell only adds."""
        coord = self.coord
        assert coord is not None
        if self.lag == 0:
            return IN_STEP
        if self.transition == "dwell":
            return DWELL
        sub = self._subtract_step()
        add = ticks(coord.cycle * ADD_MAX / 10)
        if sub and -(-self.lag // sub) <= -(-(coord.cycle - self.lag) // add):
            return SUBTRACT
        return ADD

    def _local_zero(self) -> None:
        """Local cycle zero: take over a pending pattern, then work off part of the lag by moving the local timer
        (it moves the coordinated phases' force-off: the cycle gets shorter or longer, within bounds)."""
        coord = self.coord
        assert coord is not None and self._tl is not None
        if self._pending_coord is not None:
            coord = self._pending_coord
            self.coord, self._pending_coord = coord, None
            self._tl = 0
            self.lag = coord.master_timer(self._now)
            self.emit(150, self._lag_state())
            return
        if self.lag == 0:
            return
        state = self._lag_state()
        if state == SUBTRACT:
            step = min(self.lag, self._subtract_step())
            self.lag -= step
            self._tl = (self._tl + step) % coord.cycle
        else:
            bound = DWELL_MAX if state == DWELL else ADD_MAX
            step = min(coord.cycle - self.lag, ticks(coord.cycle * bound / 10))
            self.lag = (self.lag + step) % coord.cycle
            self._tl = (self._tl - step) % coord.cycle
        self.emit(150, self._lag_state())

    def _ring_of(self, phase: int) -> Ring:
        return self.rings[self.plan.ring_of(phase)]

    def _called(self, p: int) -> bool:
        if self.stopping:
            return False
        if self.forced is not None:
            return p in self.forced
        if p in self.calls or p in self.ped_calls or p in self.recall or p in self.fail_recall or self.max_recall:
            return True
        return self.coord is not None and p in self.coord.pattern.coord_phases

    def _conflicting_call(self, p: int) -> bool:
        """A call that `p`'s green stands in the way of: on a conflicting phase, or on a phase of this barrier
        group in another ring that already rests at the barrier (it can only reach it by crossing)."""
        if any(self._called(q) for q in self._conf[p]):
            return True
        mine = self.plan.ring_of(p)
        for i, ring in enumerate(self.rings):
            if i != mine and ring.interval == IDLE and ring.next_phase is None and ring.served \
                    and any(self.plan.group_of(q) == self.group and self._called(q) for q in ring.order):
                return True
        return False

    def _ped_wanted(self, p: int) -> bool:
        t = self.plan.phases[p]
        return t.walk_s is not None and (p in self.ped_calls or not t.ped_actuated) and not self.omit_walk

    def _step_ring(self, ring: Ring) -> None:
        ring.t += 1
        if ring.interval == GREEN:
            self._time_green(ring)
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
                self._start_green(ring, nxt)

    def _coordinated(self) -> bool:
        return self.coord is not None and self.forced is None

    def _time_green(self, ring: Ring) -> None:
        assert ring.phase is not None
        p, t = ring.phase, self._t[ring.phase]
        ring.gap += 1
        min_green = t.min_green
        if self.entry is not None and self.forced is not None and p not in self.forced:
            min_green = self._cut_for_entry(ring, t, self.entry)
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
        if ring.max_from is None and self._conflicting_call(p):
            ring.max_from = ring.t
        no_gap = self.max_recall or p in self.fail_recall
        if not ring.ready:
            if ring.t < min_green or ring.ped != DONT_WALK:
                return
            if self.stopping or (self.forced is not None and p not in self.forced):
                ring.ready, ring.reason = True, 6
            elif self._coordinated():
                assert self.coord is not None
                if ring.deadline is not None and self.mono >= ring.deadline:
                    ring.ready, ring.reason = True, 6
                elif p not in self.coord.pattern.coord_phases and not no_gap and ring.gap >= t.passage:
                    ring.ready, ring.reason = True, 4
            elif not no_gap and ring.gap >= t.passage:
                ring.ready, ring.reason = True, 4
            elif ring.max_from is not None and ring.t - ring.max_from >= t.max_green:
                ring.ready, ring.reason = True, 5
            if not ring.ready:
                return
        elif ring.waiting and ring.deadline is not None and self.mono >= ring.deadline:
            ring.reason = 6     # waiting at the barrier, but not past its own force-off
            self._end_green(ring, None)
            return
        # A ring that waits at the barrier is a call on every ring: it cannot cross alone.
        waited_for = any(o is not ring and o.waiting for o in self.rings)
        evicted = self.forced is not None and p not in self.forced
        if not (self.stopping or evicted or waited_for or self._conflicting_call(p)):
            if ring.reason == 4:
                ring.ready = ring.waiting = False   # resting in green: the gap is timed again when a call comes
            return
        nxt = self._next_in_group(ring, p)
        # A phase that gapped out at the barrier keeps its green until the other rings are ready too
        # (simultaneous gap-out); a force-off, max-out or stop ends it at once.
        if nxt is None and ring.reason == 4 and not self._barrier_ready(ring):
            ring.waiting = True
            return      # hold green until the other rings are ready to cross the barrier
        self._end_green(ring, nxt)
        if nxt is None:
            # This ring leaves the group: rings waiting at the barrier leave with it, so all cross together.
            for k, other in enumerate(self.rings):
                if other is not ring and other.interval == GREEN and other.waiting:
                    self._end_green(other, None)
                    if k > self.rings.index(ring):
                        other.t = -1    # it is stepped later in this tick: its yellow starts counting next tick

    def _cut_for_entry(self, ring: Ring, t: PhaseTicks, entry: EntryLimits) -> int:
        """Preemption entry on a green that must end: cut its walk and pedestrian clearance to the entry values
        (the clearance is shortened by starting its timer later, so what remains is at most the entry value);
        returns the min green it must still keep."""
        if ring.ped == WALK and entry.walk is not None and ring.ped_t + 1 >= entry.walk:
            ring.ped_t = t.walk     # the walk ends this tick (the step below switches to clearance)
        if ring.ped == PED_CLEAR and entry.ped_clear is not None and t.ped_clear - ring.ped_t > entry.ped_clear:
            ring.ped_t = t.ped_clear - entry.ped_clear
        return t.min_green if entry.min_green is None else min(t.min_green, entry.min_green)

    def _barrier_ready(self, ring: Ring) -> bool:
        for other in self.rings:
            if other is ring or other.interval == IDLE:
                continue
            if other.interval != GREEN:
                if other.next_phase is not None:
                    return False        # clearing towards its next phase in this group
                continue                # clearing to leave the group: it has crossed already
            if not other.ready:
                return False
            if other.phase is not None and self._next_in_group(other, other.phase) is not None:
                return False
        return True

    def _end_green(self, ring: Ring, nxt: int | None) -> None:
        assert ring.phase is not None
        self.emit(ring.reason or 6, ring.phase)
        self.emit(7, ring.phase)
        self.emit(8, ring.phase)
        ring.interval, ring.t, ring.ready, ring.next_phase, ring.waiting = YELLOW, 0, False, nxt, False
        self._dirty = True

    def _next_in_group(self, ring: Ring, current: int) -> int | None:
        group = self.plan.group_of(current)
        after = ring.order[ring.order.index(current) + 1:]
        for q in after:
            if self.plan.group_of(q) == group and self._called(q) and self._fits(q):
                return q
        return None

    def _fits(self, p: int) -> bool:
        """Coordinated: can `p` start now and end by its force-off? (A pedestrian call that does not fit is
        served anyway: the walk overruns the split, as the plan rules warn.)"""
        if not self._coordinated() or self._tl is None:
            return True
        assert self.coord is not None
        return self.coord.fits(self.plan, p, self._tl)

    def _deadline(self, p: int) -> int | None:
        """Coordinated: the tick (of `mono`) when `p`'s green must end."""
        if not self._coordinated() or self._tl is None:
            return None
        assert self.coord is not None
        green = self.coord.green_ticks(self.plan, p, self._tl)
        t = self.plan.phases[p]
        if self._ped_wanted(p):
            green = max(green, ticks((t.walk_s or 0) + (t.ped_clear_s or 0)))
        return self.mono + green

    def _start_green(self, ring: Ring, p: int) -> None:
        ring.phase, ring.interval, ring.t, ring.gap, ring.ready, ring.reason = p, GREEN, 0, 0, False, 0
        ring.served = True
        self._dirty = True
        ring.waiting = False
        ring.max_from = 0 if self._conflicting_call(p) else None
        if p in self.calls:
            self.calls.discard(p)
            self.emit(44, p)
        self.emit(1, p)
        coord = self.coord
        if self._coordinated() and coord is not None and p == coord.ref_phase and self._tl is not None:
            late = (self._tl - coord.start[p]) % coord.cycle
            self.coord_starts.append(late if late < coord.cycle // 2 else 0)
        ring.deadline = self._deadline(p)
        if self._ped_wanted(p):
            self.ped_calls.discard(p)
            ring.ped, ring.ped_t = WALK, 0
            self.emit(21, p)

    def _cross_barrier(self) -> None:
        groups = len(self.plan.barriers)
        for k in range(1, groups + 1):
            g = (self.group + k) % groups
            starts = []
            for ring in self.rings:
                first = next((p for p in ring.order if self.plan.group_of(p) == g and self._called(p)
                              and self._fits(p)), None)
                if first is not None:
                    starts.append((ring, first))
            if starts:
                self.group = g
                for ring in self.rings:
                    ring.served = False
                for ring, p in starts:
                    self._start_green(ring, p)
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
