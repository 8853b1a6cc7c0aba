"""A fast harness for the sequencer (no controller, no I/O) and an independent checker of NEMA sequencing rules.

`sequencing_harness.simulate` feeds one `Sequencer` synthetic detector and pushbutton patterns and detector
faults; `Checker` looks at
every tick's signal outputs (and, where the rule is about a timer, at what the checker itself fed in) and raises
AssertionError naming the rule, the phase and the tick. The checker knows the plan and the cabinet's matrix,
not the sequencer's internals, except where noted (the barrier-wait flag).
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.coordination import Coordination, ticks
from firmware_sim.plan import Plan
from firmware_sim.ring_state import GREEN
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import SignalCabinet


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
    pattern_at_start: int | None = None
    served_at: int = 0                  # last green start, then its end (a green may rest long before it ends)
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
        self._free, self._mode_at = True, 0     # free or coordinated since this tick (fail-safe service bound)
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
        self.red_ticks = {p: ticks(t.red_clear_s) for p, t in self.t.items()}
        self.max_ticks = {p: ticks(t.max_green_s) for p, t in self.t.items()}
        self.min_ticks = {p: ticks(t.min_green_s) for p, t in self.t.items()}
        self._green_watch: list[tuple[int, PhaseWatch]] = []     # the phases green at the last output change
        # A phase on recall is served at least once in this many ticks: every phase at its longest, plus clearances.
        self.serve_bound = sum(ticks(max(t.max_green_s, (t.walk_s or 0) + (t.ped_clear_s or 0)) + t.yellow_s
                                     + t.red_clear_s) + 10 for t in self.t.values())

    def feed(self, occupied: set[int], pressed: set[int], greens: set[int]) -> bool:
        """What the harness put on the inputs this tick (before the sequencer's step); True if a call is new."""
        demand = self.demand
        before = len(demand)
        for p in occupied:
            if p not in greens:         # a vehicle on a green phase extends it; elsewhere it calls
                demand.add(p)
        for p in pressed:               # a pushbutton calls even during its phase's green (served next cycle)
            if self.t[p].walk_s is not None:
                demand.add(p)
        return len(demand) != before

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
                        assert now - end >= self.red_ticks[q], \
                            f"tick {now}: {p} green {now - end} ticks after {q}'s yellow: red clearance cut"
            self.started.clear()
            self._green_watch = [(p, self.watch[p]) for p in self.phases if self.watch[p].state == "green"]
        else:
            standing = None
            for p, w in self._green_watch:
                if w.demand_at is None and standing is None:
                    standing = self._standing_calls()
                self._max_green(p, w, now, standing or set())
        waiting = False
        for r in s.rings:       # red clearance never runs longer than programmed
            if r.interval == "red" and r.phase is not None:
                assert r.t <= self.red_ticks[r.phase], f"tick {now}: red clearance of {r.phase} overran"
            waiting = waiting or r.waiting
        # a ring holding a gapped-out green at the barrier does so only while another ring still times the group
        # (green, or clearing towards its next phase in the group)
        for r in s.rings if waiting else ():
            if r.waiting:
                assert any(o is not r and (o.interval == GREEN or o.next_phase is not None) for o in s.rings), \
                    f"tick {now}: ring {r.order} holds green at the barrier while the others clear"
        # fail-safe recall: a phase whose detector failed is served at least once in every longest cycle
        if (s.coord is None) != self._free:     # the bound depends on the mode: it counts from the mode's start
            self._free, self._mode_at = s.coord is None, now
        for p in s.fail_recall if s.coord is None or not self.ped_overrun else ():
            since = max(self.failed_at.setdefault(p, now), self.watch[p].served_at, self._mode_at)
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
        w.pattern_at_start = self.seq.coord.pattern.pattern if self.seq.coord is not None else None
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
            assert now - w.demand_at < self.max_ticks[p] or now - w.since < self.min_ticks[p], \
                f"tick {now}: {p} green {now - w.demand_at} ticks after the conflicting call (max green)"

    def event(self, code: int, param: int) -> None:
        if code == 5:
            self.maxed_out.add(param)

    def _end_green(self, p: int, w: PhaseWatch, now: int) -> None:
        t = self.t[p]
        w.served_at = now
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
                and w.walk_from is None and self.seq.lag == w.lag_at_start and self.seq.forced is None \
                and w.pattern_at_start == coord.pattern.pattern:
            # A green that began under another pattern (a coordinated phase resting there, say) has no force-off
            # of this pattern to keep: the change ends it through the transition.
            allowed = (coord.force_off[p] - w.start_tl) % coord.cycle
            assert green <= max(allowed, ticks(t.min_green_s)), \
                f"tick {now}: {p} green {green} ticks, force-off {allowed} ticks after its start"


def coordination_of(plan: Plan, pattern: int) -> Coordination:
    return Coordination.of(plan, plan.patterns[pattern])
