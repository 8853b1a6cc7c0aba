"""A fast harness for the sequencer (no controller, no I/O) and an independent checker of NEMA sequencing rules.

`Drive` feeds one `Sequencer` synthetic detector and pushbutton patterns and detector faults; `Checker` looks at
every tick's signal outputs (and, where the rule is about a timer, at what the checker itself fed in) and raises
AssertionError naming the rule, the phase and the tick. The checker knows the plan and the cabinet's matrix,
not the sequencer's internals, except where noted (the barrier-wait flag).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from firmware_sim.coordination import Coordination, ticks
from firmware_sim.plan import Plan
from firmware_sim.ring_state import GREEN
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import SignalCabinet

OCCUPY = 4          # ticks a passing vehicle occupies the loop


@dataclass
class Traffic:
    """Per phase: mean ticks between vehicles (0 = none), a stuck-on detector, and pushbutton presses."""

    gap_ticks: dict[int, int]
    stuck_on: set[int] = field(default_factory=set)
    ped_gap_ticks: dict[int, int] = field(default_factory=dict)


@dataclass
class PhaseWatch:
    since: int = 0                      # tick the current interval began
    state: str = "red"                  # green | yellow | red
    demand_at: int | None = None        # first tick of this green with a conflicting call
    walk_from: int | None = None
    clear_from: int | None = None       # pedestrian clearance began
    ped_done: bool = False
    start_tl: int | None = None
    lag_at_start: int = 0
    served_at: int = 0                  # last green start
    free_only: bool = True              # the green has timed in free operation only


class Checker:
    def __init__(self, plan: Plan, seq: Sequencer, cabinet: SignalCabinet) -> None:
        self.plan, self.seq, self.cabinet = plan, seq, cabinet
        self.phases = sorted(plan.phases)
        self.t = {p: plan.phases[p] for p in self.phases}
        self.conf = {p: [q for q in self.phases if q != p and (plan.conflicts(p, q) or not cabinet.compatible(p, q))]
                     for p in self.phases}
        self.watch = {p: PhaseWatch() for p in self.phases}
        self.demand: set[int] = set()       # phases with a call the checker fed (latched until served)
        self.last = (-1, -1, -1, -1)
        self.cycles = 0                     # entries into the first barrier group: cycles of the intersection
        self._group = -1
        self.greens = 0
        self.failed_at: dict[int, int] = {}
        # An actuated walk longer than its split's green overruns the split (the plan rules warn: ped_split_short);
        # the phases after it may then not fit before their force-offs, so fail-safe service is not bounded.
        self.ped_overrun = any(
            t.walk_s is not None and (t.walk_s + (t.ped_clear_s or 0)) > pat.splits_s[p] - t.yellow_s - t.red_clear_s
            for pat in plan.patterns.values() for p, t in self.t.items())
        self.started: list[int] = []
        self.maxed_out: set[int] = set()    # phases the sequencer said maxed out (event 5) since the last check
        self.yellow_end: dict[int, int] = {}
        # A phase on recall is served at least once in this many ticks: every phase at its longest, plus clearances.
        self.serve_bound = sum(ticks(max(t.max_green_s, (t.walk_s or 0) + (t.ped_clear_s or 0)) + t.yellow_s
                                     + t.red_clear_s) + 10 for t in self.t.values())

    def feed(self, occupied: set[int], pressed: set[int], greens: set[int]) -> None:
        """What the harness put on the inputs this tick (before the sequencer's step)."""
        for p in occupied:
            if p not in greens:         # a vehicle on a green phase extends it; elsewhere it calls
                self.demand.add(p)
        for p in pressed:               # a pushbutton calls even during its phase's green (served next cycle)
            if self.t[p].walk_s is not None:
                self.demand.add(p)

    def _standing_calls(self) -> set[int]:
        s = self.seq
        calls = set(s.recall) | set(s.fail_recall)
        if s.max_recall:
            calls |= set(self.phases)
        if s.coord is not None:
            calls |= set(s.coord.pattern.coord_phases)
        return calls

    def check(self, now: int) -> None:
        s = self.seq
        out = s.outputs()
        if (out.green, out.yellow, out.walk, out.ped_clear) != self.last:
            self.last = (out.green, out.yellow, out.walk, out.ped_clear)
            active = out.green | out.yellow | out.walk
            # no two conflicting phases (by the plan or the cabinet's matrix) green, yellow or walk together
            for p in self.phases:
                if active >> (p - 1) & 1:
                    for q in self.conf[p]:
                        assert not active >> (q - 1) & 1, f"tick {now}: conflicting {p} and {q} active together"
            assert out.walk & ~out.green == 0 and out.ped_clear & ~out.green == 0, f"tick {now}: walk without green"
            # both rings cross barriers together: every ring not resting times the same barrier group
            groups = {self.plan.group_of(r.phase) for r in s.rings if r.phase is not None}
            assert len(groups) <= 1, f"tick {now}: rings in different barrier groups {groups}"
            if groups:
                g = groups.pop()
                if g == 0 and self._group != 0:
                    self.cycles += 1
                self._group = g
            standing = self._standing_calls()
            for p in self.phases:
                self._phase(p, now, out.green, out.yellow, out.walk, out.ped_clear, standing)
            for p in self.started:
                # red clearance: a green never starts in a ring before the previous phase's red clearance ended
                for q in self.seq.rings[self.plan.ring_of(p)].order:
                    end = self.yellow_end.get(q)
                    if q != p and end is not None:
                        assert now - end >= ticks(self.t[q].red_clear_s), \
                            f"tick {now}: {p} green {now - end} ticks after {q}'s yellow: red clearance cut"
            self.started.clear()
        else:
            standing = self._standing_calls()
            for p in self.phases:
                w = self.watch[p]
                if w.state == "green":
                    self._max_green(p, w, now, standing)
        for r in s.rings:       # red clearance never runs longer than programmed
            if r.interval == "red" and r.phase is not None:
                assert r.t <= ticks(self.t[r.phase].red_clear_s), f"tick {now}: red clearance of {r.phase} overran"
        # a ring holding a gapped-out green at the barrier does so only while another ring still times the group
        # (green, or clearing towards its next phase in the group)
        for r in s.rings:
            if r.waiting:
                assert any(o is not r and (o.interval == GREEN or o.next_phase is not None) for o in s.rings), \
                    f"tick {now}: ring {r.order} holds green at the barrier while the others clear"
        # fail-safe recall: a phase whose detector failed is served at least once in every longest cycle
        for p in s.fail_recall if s.coord is None or not self.ped_overrun else ():
            since = max(self.failed_at.setdefault(p, now), self.watch[p].served_at)
            green = self.watch[p].state == "green"
            bound = self.serve_bound if s.coord is None else 3 * s.coord.cycle + self.serve_bound
            assert green or now - since <= bound, f"tick {now}: failed-detector phase {p} not served for {now - since}"

    def _phase(self, p: int, now: int, green_m: int, yellow_m: int, walk_m: int, clear_m: int,
               standing: set[int]) -> None:
        bit = 1 << (p - 1)
        w, t = self.watch[p], self.t[p]
        state = "green" if green_m & bit else "yellow" if yellow_m & bit else "red"
        if state == "green":
            if w.state != "green":
                assert w.state == "red", f"tick {now}: {p} green straight after yellow"
                self._start(p, w, now, standing)
            if walk_m & bit and w.walk_from is None:
                assert now == w.since, f"tick {now}: walk of {p} does not start with its green"
                w.walk_from = now
            if clear_m & bit and w.clear_from is None:
                assert w.walk_from is not None and now - w.walk_from == ticks(t.walk_s or 0), \
                    f"tick {now}: walk of {p} lasted {now - (w.walk_from or now)}"
                w.clear_from = now
            if w.clear_from is not None and not clear_m & bit and not w.ped_done:
                assert now - w.clear_from == ticks(t.ped_clear_s or 0), \
                    f"tick {now}: pedestrian clearance of {p} lasted {now - w.clear_from}"
                w.ped_done = True
            self._max_green(p, w, now, standing)
        elif w.state == "green":
            assert state == "yellow", f"tick {now}: green of {p} ended without yellow"
            if w.clear_from is not None and not w.ped_done:     # clearance and green ended together
                assert now - w.clear_from == ticks(t.ped_clear_s or 0), \
                    f"tick {now}: pedestrian clearance of {p} lasted {now - w.clear_from}"
                w.ped_done = True
            assert w.walk_from is None or w.ped_done, f"tick {now}: green of {p} ended during the walk or FDW"
            self._end_green(p, w, now)
        elif w.state == "yellow" and state != "yellow":
            assert now - w.since == ticks(t.yellow_s), f"tick {now}: yellow of {p} lasted {now - w.since}"
            self.yellow_end[p] = now
        if state != w.state:
            w.state, w.since = state, now if state != "green" else w.since

    def _start(self, p: int, w: PhaseWatch, now: int, standing: set[int]) -> None:
        w.since = w.served_at = now
        w.walk_from = w.clear_from = None
        w.ped_done = False
        w.free_only = True
        w.demand_at = now if self._conflicting_demand(p, standing) else None
        self.demand.discard(p)
        w.start_tl = self.seq.cycle_timer() if self.seq.coord is not None else None
        w.lag_at_start = self.seq.lag
        self.greens += 1
        self.started.append(p)

    def _conflicting_demand(self, p: int, standing: set[int]) -> bool:
        """A call that `p`'s green stands in the way of: on a conflicting phase, or on a phase of `p`'s barrier
        group in another ring that has served the group and rests at the barrier (it can only reach that phase by
        crossing the barrier; the ring's rest is read from the sequencer, as the barrier-wait flag is)."""
        if any(q in self.demand or q in standing for q in self.conf[p]):
            return True
        group, mine = self.plan.group_of(p), self.plan.ring_of(p)
        for i, ring in enumerate(self.seq.rings):
            if i != mine and ring.interval == "idle" and ring.next_phase is None and ring.served \
                    and any(self.plan.group_of(q) == group and (q in self.demand or q in standing)
                            for q in ring.order):
                return True
        return False

    def _max_green(self, p: int, w: PhaseWatch, now: int, standing: set[int]) -> None:
        """Free, actuated: a green ends by max green counted from the first conflicting call (a walk and its
        clearance may hold it longer)."""
        if w.demand_at is None and self._conflicting_demand(p, standing):
            w.demand_at = now
        if self.seq.coord is not None or self.seq.forced is not None:
            w.free_only = False
            return
        waiting = self.seq.rings[self.plan.ring_of(p)].waiting   # gapped out: resting at the barrier
        if w.demand_at is not None and w.walk_from is None and not waiting and w.free_only:
            assert now - w.demand_at < ticks(self.t[p].max_green_s) or \
                now - w.since < ticks(self.t[p].min_green_s), \
                f"tick {now}: {p} green {now - w.demand_at} ticks after the conflicting call (max green)"

    def event(self, code: int, param: int) -> None:
        if code == 5:
            self.maxed_out.add(param)

    def _end_green(self, p: int, w: PhaseWatch, now: int) -> None:
        t = self.t[p]
        green = now - w.since
        if p in self.maxed_out:
            self.maxed_out.discard(p)
            # A walk and its clearance may hold the green past max green; so may coordination before a change to free.
            exact = w.walk_from is None and w.free_only
            assert w.demand_at is not None and (now - w.demand_at == ticks(t.max_green_s)
                                                or (not exact and now - w.demand_at > ticks(t.max_green_s))), \
                f"tick {now}: {p} maxed out {now - (w.demand_at or now)} ticks after the conflicting call"
        assert green >= ticks(t.min_green_s), f"tick {now}: green of {p} lasted {green} < min green"
        coord = self.seq.coord
        if coord is not None and w.start_tl is not None and p not in coord.pattern.coord_phases \
                and w.walk_from is None and self.seq.lag == w.lag_at_start and self.seq.forced is None:
            allowed = (coord.force_off[p] - w.start_tl) % coord.cycle
            assert green <= max(allowed, ticks(t.min_green_s)), \
                f"tick {now}: {p} green {green} ticks, force-off {allowed} ticks after its start"


def fail_detector(seq: Sequencer, p: int) -> None:
    """A detector fault, as the controller handles it: fail-safe max recall, the input ignored."""
    seq.fail_recall.add(p)


def simulate(plan: Plan, coord_pattern: int | None, traffic: Traffic, seconds: int, seed: int,
             faults: dict[int, int], *, pattern_changes: list[tuple[int, int | None]] | None = None,
             cabinet: SignalCabinet | None = None, start: int = 0, quiet_skip: bool = False,
             trace: list[tuple[int, str, int, int]] | None = None) -> Checker:
    """Run the sequencer on `plan` for `seconds` and check every tick. `faults`: detector phase -> tick it fails.
    `pattern_changes`: (tick, pattern or None) to switch to. Returns the checker (cycles, greens counted).

    `quiet_skip`: after a steady step (nothing but timers changed, no event), jump over the following ticks in
    which neither the inputs nor the sequencer can change anything (`Sequencer.quiet_ticks`, bounded by the next
    input change this harness knows of), and check the last of them: every per-tick check of the checker either
    looks at outputs (unchanged over the jump) or compares a timer with a bound monotonically, so checking the
    last skipped tick is checking them all. `trace` collects (tick, "event" | "out", a, b) for comparing runs."""
    rng = random.Random(seed)
    now = start
    fired = [0]

    def emit(code: int, param: int) -> None:
        fired[0] += 1
        checker.event(code, param)
        if trace is not None:
            trace.append((now, "event", code, param))
    seq = Sequencer(plan, emit)
    if coord_pattern is not None:
        seq.set_pattern(plan.patterns[coord_pattern])
    seq.restart()
    checker = Checker(plan, seq, cabinet or SignalCabinet())
    next_car = {p: start + (1 + int(rng.expovariate(1 / g)) if g else 1 << 60)
                for p, g in traffic.gap_ticks.items() if p in plan.phases}
    next_ped = {p: start + (1 + int(rng.expovariate(1 / g)) if g else 1 << 60)
                for p, g in traffic.ped_gap_ticks.items() if p in plan.phases}
    busy_until = dict.fromkeys(next_car, 0)
    changes = sorted(pattern_changes or [], key=lambda c: c[0])     # stable: same-tick changes keep their order
    fault_at = sorted((t, p) for p, t in faults.items() if p in plan.phases)
    end = start + seconds * 10
    last_out: tuple[int, ...] = ()
    before: tuple[object, ...] | None = None
    while now < end:
        while fault_at and fault_at[0][0] <= now:
            fail_detector(seq, fault_at.pop(0)[1])
        while changes and changes[0][0] <= now:
            number = changes.pop(0)[1]
            seq.set_pattern(plan.patterns[number] if number is not None else None)
        occupied = set(traffic.stuck_on & set(plan.phases))
        for p, at in next_car.items():
            if at <= now:
                busy_until[p] = now + OCCUPY
                next_car[p] = now + 1 + int(rng.expovariate(1 / traffic.gap_ticks[p]))
            if busy_until[p] > now:
                occupied.add(p)
        pressed = set()
        for p, at in next_ped.items():
            if at <= now:
                pressed.add(p)
                next_ped[p] = now + 1 + int(rng.expovariate(1 / traffic.ped_gap_ticks[p]))
        if seq.fail_recall:
            occupied -= seq.fail_recall
        greens = {r.phase for r in seq.rings if r.interval == GREEN and r.phase is not None}
        checker.feed(occupied, pressed, greens)
        fired[0] = 0
        seq.step(now, occupied, pressed)
        checker.check(now)
        if trace is not None:
            o = seq.outputs()
            out = (o.green, o.yellow, o.red, o.walk, o.ped_clear)
            if out != last_out:
                trace.append((now, "out", out[0] | out[1] << 16, out[3] | out[4] << 16))
                last_out = out
        after = seq.fingerprint() if quiet_skip else None
        steady, before = after == before, after     # this step changed nothing but the timers
        if quiet_skip and steady and not pressed and not fired[0]:
            # the next tick whose inputs differ from this one's
            horizon = min([end, *next_car.values(), *next_ped.values(),
                           *(b for b in busy_until.values() if b > now),
                           *(t for t, _ in fault_at[:1]), *(t for t, _ in changes[:1])])
            k = min(horizon - now - 1, seq.quiet_ticks(now, occupied))
            if k > 0:
                seq.skip(k, now, occupied)
                now += k
                checker.check(now)
        now += 1
    return checker


def coordination_of(plan: Plan, pattern: int) -> Coordination:
    return Coordination.of(plan, plan.patterns[pattern])
