"""The fast harness of the sequencing property test: one `Sequencer` (no controller, no I/O) fed synthetic traffic
(`traffic_arrivals`), pushbuttons, detector faults and pattern changes, checked by `sequencing_checker.Checker`;
it jumps over ticks in which nothing can change (`simulate(quiet_skip=True)`)."""

from __future__ import annotations

from firmware_sim.plan import Plan
from firmware_sim.ring_state import GREEN
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import SignalCabinet
from tests.firmware_sim.sequencing_checker import Checker
from tests.firmware_sim.traffic_arrivals import Arrivals, Traffic

__all__ = ["Traffic", "simulate"]


def fail_detector(seq: Sequencer, p: int) -> None:
    """A detector fault, as the controller handles it: fail-safe max recall, the input ignored."""
    seq.fail_recall.add(p)


def simulate(plan: Plan, coord_pattern: int | None, traffic: Traffic, seconds: int, seed: int,
             faults: dict[int, int], *, pattern_changes: list[tuple[int, int | None]] | None = None,
             cabinet: SignalCabinet | None = None, start: int = 0, quiet_skip: bool = False,
             trace: list[tuple[int, str, int, int]] | None = None,
             states: dict[int, tuple[object, ...]] | None = None) -> Checker:
    """Run the sequencer on `plan` for `seconds` and check every tick. `faults`: detector phase -> tick it fails.
    `pattern_changes`: (tick, pattern or None) to switch to. Returns the checker (cycles, greens counted).

    `quiet_skip`: after a steady step (nothing but timers changed), jump over the following ticks in which
    neither the inputs nor the sequencer can change anything (`Sequencer.quiet_ticks`, bounded by the next input
    that can matter, `_next_input`), and check the last of them: every per-tick check of the checker either
    looks at outputs (unchanged over the jump) or compares a timer with a bound monotonically, so checking the
    last skipped tick is checking them all. `trace` collects (tick, "event" | "out", a, b) for comparing runs;
    `states` the sequencer's whole state, timers included, after every tick stepped or jumped to."""
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
    arrivals = Arrivals(traffic, set(plan.phases), seed, start)
    changes = sorted(pattern_changes or [], key=lambda c: c[0])     # stable: same-tick changes keep their order
    fault_at = sorted((t, p) for p, t in faults.items() if p in plan.phases)
    end = start + seconds * 10
    last_out: tuple[int, ...] = ()
    before: tuple[object, ...] | None = None
    rings = seq.rings
    while now < end:
        while fault_at and fault_at[0][0] <= now:
            fail_detector(seq, fault_at.pop(0)[1])
        while changes and changes[0][0] <= now:
            number = changes.pop(0)[1]
            seq.set_pattern(plan.patterns[number] if number is not None else None)
        pressed = arrivals.advance(now)
        occupied = arrivals.occupied(now)
        if seq.fail_recall:
            occupied -= seq.fail_recall
        greens = {r.phase for r in rings if r.interval == GREEN and r.phase is not None}
        new_call = checker.feed(occupied, pressed, greens)
        fired[0] = 0
        seq.step(now, occupied, pressed)
        if trace is not None:
            o = seq.outputs()
            out = (o.green, o.yellow, o.red, o.walk, o.ped_clear)
            if out != last_out:
                trace.append((now, "out", out[0] | out[1] << 16, out[3] | out[4] << 16))
                last_out = out
        k = 0
        if quiet_skip:
            after = seq.fingerprint()
            if after == before and not pressed:     # this step changed nothing but the timers
                k = _jump(seq, checker, arrivals, now, end, fault_at, changes, occupied)
            before = after
        if k > 0:
            # The check of the last skipped tick covers this one too (nothing changed but timers, and every
            # timer check is monotone), unless this tick brought the checker a new call: it times from it.
            if new_call:
                checker.check(now)
            arrivals.advance(now + k)      # what changed meanwhile changes nothing (see `_next_input`) ...
            busy = arrivals.busy_until
            last_on = {r.phase: min(busy[r.phase] - 1, now + k) for r in rings
                       if r.interval == GREEN and r.phase in busy and r.phase not in arrivals.stuck
                       and r.phase not in seq.fail_recall}
            if states is not None:
                states[now] = seq.snapshot()
            seq.skip(k, now, occupied, last_on)     # ... but a green's gap timer, which may not count now
            now += k
        checker.check(now)
        if states is not None:
            states[now] = seq.snapshot()
        now += 1
    return checker


def _jump(seq: Sequencer, checker: Checker, arrivals: Arrivals, now: int, end: int,
          fault_at: list[tuple[int, int]], changes: list[tuple[int, int | None]], occupied: set[int]) -> int:
    """How many ticks after a steady step at `now` can be jumped over: up to the first tick a timer reaches a
    threshold (`Sequencer.quiet_ticks`) or an input may matter (`_next_input`). The passage of a green that can
    gap out is timed here from its vehicles: the arrivals are taken one at a time as long as each comes before
    the gap would reach the passage time (each keeps the green from gapping out)."""
    own = {p for r in seq.rings if r.interval == GREEN and (p := r.phase) in arrivals.next_car
           and p not in arrivals.stuck and seq.gap_counts(p)}
    limit = now + seq.quiet_ticks(now, occupied | own) + 1
    while True:
        hard, soft = _next_input(seq, checker, arrivals, now, end, fault_at, changes)
        limit = min(limit, hard)
        if soft >= limit:
            return limit - now - 1
        arrivals.advance(soft)      # only vehicles on greens that cannot gap out before them, and inputs that
        #                             change nothing (see `_next_input`): nothing to step


def _next_input(seq: Sequencer, checker: Checker, arrivals: Arrivals, now: int, end: int,
                fault_at: list[tuple[int, int]], changes: list[tuple[int, int | None]]) -> tuple[int, int]:
    """(hard, soft). Hard: the next tick whose inputs may change what the sequencer or the checker does: a fault,
    a pattern change, a vehicle arriving or leaving on a phase with no call yet, a press of a pushbutton not
    already called, and on a green that can gap out the tick its gap timer would reach the passage time (or the
    arrival that ends a gap-out). Soft: the next vehicle on such a green that comes before that tick: it keeps
    the green, but what follows it is known only once it is drawn. A detector of a failed phase is ignored; a red
    phase already called, and already counted as demand by the checker, is not changed by more vehicles (until
    its green, which is a change of state: no jump spans one); a green that cannot gap out (`gap_counts`) only
    needs its gap timer kept, which `Sequencer.skip` does."""
    horizon = soft = end
    if fault_at:
        horizon = min(horizon, fault_at[0][0])
    if changes:
        horizon = min(horizon, changes[0][0])
    greens = {r.phase: r for r in seq.rings if r.interval == GREEN}
    calls, demand, failed = seq.calls, checker.demand, seq.fail_recall
    busy_until = arrivals.busy_until
    for p, at in arrivals.next_car.items():
        if p in failed or (p not in greens and p in calls and p in demand):
            continue
        ring = greens.get(p)
        if ring is not None:
            passage = seq.passage_ticks(p)
            if not seq.gap_counts(p) or p in arrivals.stuck or passage <= 1:
                continue            # its gap timer never decides anything (or always: gap >= 1 >= passage)
            busy = busy_until[p]
            if busy > now or ring.gap < passage:    # not gapped out: when would it be?
                flip = busy - 2 + passage if busy - 1 >= now else now + passage - ring.gap
                if flip < at:
                    horizon = min(horizon, flip)
                else:
                    soft = min(soft, at)
            else:
                horizon = min(horizon, at)          # gapped out: a vehicle undoes it
            continue
        horizon = min(horizon, at)
        if busy_until[p] > now:
            horizon = min(horizon, busy_until[p])
    for p, at in arrivals.next_ped.items():
        if not (p in seq.ped_calls and p in demand):
            horizon = min(horizon, at)
    return horizon, soft
