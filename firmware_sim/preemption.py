"""Railroad / emergency-vehicle preemption: several inputs with priority, entry, track clearance (gate down),
dwell, linked preempts, exit to a chosen phase (Indiana events 102–111). Pure; driven by the controller.

- Inputs: up to 6 preempts (the cabinet's `preempts`). Priority: a railroad preempt before an emergency one, then
  the lower number (NEMA TS2: preempt 1 highest). A preempt that outranks the one being served takes over at once
  (a new entry); a lower one waits and is served after the exit if its input still holds.
- Entry (105): every green ends, through its yellow and red clearance (never cut); a green that must end keeps at
  most the preempt's entry min green, walk and pedestrian clearance where the cabinet sets them (MUTCD 4D.27 lets
  walk and pedestrian change be shortened or omitted, NTCIP 1202 preemptMinimumGreen/Walk/EnterPedClear; the
  yellow change and red clearance shall not be). Entry ends when every ring is at rest in red.
- Track clearance (106): the track phases green for `track_clear_s`; with a gate-down input wired
  (`gate_down`), until the gates are down too (103), at most `track_clear_max_s`.
- Dwell (107): the dwell phases while the input holds, at least `min_dwell_s` (and the command's hold). An input
  held past `max_presence_s` counts as failed (110) until it drops. A `link`ed preempt (108 on, param its number)
  takes over the dwell once the min dwell is over and holds while this preempt's input is on; 109 when the link
  ends. Exit (111): the exit phases (the command's exit phase, else the serving preempt's), then normal operation;
  or, with `exit_flash` (and no exit phase in the command), to flash (NTCIP flash status 8, preempt) until a
  central release. Normal operation takes the pattern up again by a transition from where the local cycle
  stands (the local cycle timer kept running through the preempt; see `Sequencer`): the coordinated phases'
  force-offs move by at most the transition's bounds per cycle, so the side streets' splits are never cut to
  jump to a pickup point.
- A track clearance phase already green at entry stays green: the other greens end and the track clearance
  interval is timed from the end of entry.
Event parameters are preempt numbers.
"""

from __future__ import annotations

from typing import Protocol

from firmware_sim.coordination import ticks
from firmware_sim.plan import Plan
from firmware_sim.ring_state import GREEN, IDLE, EntryLimits
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import Preemption, SignalCabinet


class Preemptible(Protocol):
    """What a preempt run drives of its controller (`firmware_sim.signal_controller.SignalController`): typed
    here so the dependency goes one way (the controller imports this module, not the reverse)."""

    seq: Sequencer
    plan: Plan
    mode: str
    uptime_ticks: int
    cabinet: SignalCabinet

    def _event(self, code: int, param: int) -> None: ...

ENTRY, TRACK, DWELL, EXIT = "entry", "track", "dwell", "exit"
PREEMPT = 1     # the preempt input the Modbus command drives


def entry_limits(config: Preemption) -> EntryLimits:
    def opt(s: float | None) -> int | None:
        return None if s is None else ticks(s)
    return EntryLimits(opt(config.entry_min_green_s), opt(config.entry_walk_s), opt(config.entry_ped_clear_s))


class PreemptRun:
    """The preempt being served."""

    def __init__(self, config: Preemption, now: int, *, exit_phase: int | None = None,
                 hold_s: float | None = None) -> None:
        self.config = config
        self.number = config.number
        self.since = now
        self.state = ENTRY
        self.started = False                # the current state's phases turned green
        self.green_at = 0
        self.exit_phase = exit_phase
        self.exit_phases = (exit_phase,) if exit_phase else config.exit_phases
        self.hold = ticks(hold_s) if hold_s else 0
        self.linked: Preemption | None = None   # the linked preempt serving the dwell
        self.exit_to_flash = False              # the run ended into flash (`Preemption.exit_flash`)

    @property
    def serving(self) -> Preemption:
        return self.linked or self.config

    def _enter(self, ctrl: Preemptible, state: str, phases: tuple[int, ...]) -> None:
        self.state, self.started = state, False
        ctrl.seq.omit_walk = state == TRACK    # no pedestrian is sent across while the track clears
        ctrl.seq.forced = frozenset(p for p in phases if p in ctrl.plan.phases)

    def step(self, ctrl: Preemptible, calling: bool, gate_down: bool) -> bool:
        """One tick of the preempt sequence (before the sequencer's). `calling`: this preempt's input holds (and
        has not failed); `gate_down`: its gate-down input. Returns False when the run is over."""
        seq, now = ctrl.seq, ctrl.uptime_ticks
        if self.state == ENTRY and not self.started:
            self.started = True
            ctrl._event(105, self.number)
            seq.stopping = False
            # nothing else is called: every other green ends safely; a track clearance phase already green
            # stays green (no detour through all red: its vehicles are clearing the track already)
            seq.forced = frozenset(r.phase for r in seq.rings
                                   if r.interval == GREEN and r.phase in self.config.track_phases)
            seq.entry = entry_limits(self.config)
            seq.omit_walk = True
        if self.state == ENTRY:
            kept = seq.forced or frozenset()
            if ctrl.mode != "preempt" or not all(r.interval == IDLE or (r.interval == GREEN and r.phase in kept)
                                                 for r in seq.rings):
                return True
            if self.config.track_phases:
                self._enter(ctrl, TRACK, self.config.track_phases)
            else:
                self._enter(ctrl, DWELL, self.config.dwell_phases)
            return True
        if not self.started:
            return not (self.state == EXIT and not seq.forced)
        elapsed = now - self.green_at
        cfg = self.config
        if self.state == TRACK:
            cleared = elapsed >= ticks(cfg.track_clear_s) and (gate_down or not cfg.gate_down)
            if cleared or elapsed >= ticks(cfg.track_clear_max_s):
                self._enter(ctrl, DWELL, cfg.dwell_phases)
        elif self.state == DWELL:
            served = elapsed >= max(ticks(self.serving.min_dwell_s), self.hold)
            link = ctrl.cabinet.preempts.get(cfg.link) if cfg.link is not None else None
            if calling and served and self.linked is None and link is not None:
                self.linked = link
                ctrl._event(108, link.number)
                self._enter(ctrl, DWELL, link.dwell_phases)
            elif not calling and served:
                if self.linked is not None:
                    ctrl._event(109, self.linked.number)
                if self.serving.exit_flash and not self.exit_phase:
                    ctrl._event(111, self.serving.number)
                    self.exit_to_flash = True
                    return False        # the controller flashes (its entry to flash ends the dwell greens)
                self._enter(ctrl, EXIT, self.exit_phases if self.exit_phase else self.serving.exit_phases)
                self.observe(ctrl)
        elif self.state == EXIT:
            return False
        return True

    def observe(self, ctrl: Preemptible) -> None:
        """After the sequencer's step: the current state's phases turned green (106/107/111 in that tick)."""
        seq = ctrl.seq
        if self.started or self.state == ENTRY or not seq.forced:
            return
        if any(r.interval == GREEN and r.phase in seq.forced for r in seq.rings):
            self.started, self.green_at = True, ctrl.uptime_ticks
            ctrl._event({TRACK: 106, DWELL: 107, EXIT: 111}[self.state], self.serving.number)


class Preemptor:
    """The controller's preempt inputs (call and gate down) and the run of the preempt served."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}         # preempt number -> uptime tick its input came on
        self.options: dict[int, tuple[int | None, float | None]] = {}     # number -> (exit phase, hold s)
        self.failed: set[int] = set()           # held past max presence: ignored until the input drops
        self.gates: set[int] = set()            # gate-down inputs on
        self.run: PreemptRun | None = None

    def calling(self, number: int) -> bool:
        return number in self.calls and number not in self.failed

    def best(self, ctrl: Preemptible) -> Preemption | None:
        wired = ctrl.cabinet.preempts
        calls = [wired[n] for n in self.calls if n in wired and n not in self.failed]
        top = None
        for c in calls:
            if top is None or c.outranks(top):
                top = c
        return top

    def input(self, ctrl: Preemptible, number: int, on: bool, exit_phase: int | None = None,
              hold_s: float | None = None) -> None:
        if on and number not in self.calls:
            ctrl._event(102, number)
            self.calls[number] = ctrl.uptime_ticks
        if on:
            self.options[number] = (exit_phase, hold_s)
            self._select(ctrl)
        elif number in self.calls:
            ctrl._event(104, number)
            del self.calls[number]
            self.failed.discard(number)

    def gate(self, ctrl: Preemptible, number: int, down: bool) -> None:
        if down and number not in self.gates:
            ctrl._event(103, number)
        (self.gates.add if down else self.gates.discard)(number)

    def _start(self, ctrl: Preemptible, config: Preemption) -> None:
        exit_phase, hold_s = self.options.get(config.number, (None, None))
        self.run = PreemptRun(config, ctrl.uptime_ticks, exit_phase=exit_phase, hold_s=hold_s)

    def _select(self, ctrl: Preemptible) -> None:
        """Serve the highest calling preempt: start one, or let a higher one take over (a new entry)."""
        best, run = self.best(ctrl), self.run
        if best is None:
            return
        if run is None or (best.number != run.number and best.outranks(run.config) \
                and not (run.linked is not None and run.linked.number == best.number)):
            self._start(ctrl, best)

    def step(self, ctrl: Preemptible) -> None:
        """One tick: max presence, priority (start, override), then the run's own step."""
        for number, since in self.calls.items():
            config = ctrl.cabinet.preempts.get(number)
            if config is not None and number not in self.failed \
                    and ctrl.uptime_ticks - since >= ticks(config.max_presence_s):
                ctrl._event(110, number)
                self.failed.add(number)
        if self.run is None:
            self._select(ctrl)
            return
        self._select(ctrl)
        run = self.run
        assert run is not None
        if not run.step(ctrl, self.calling(run.number), run.number in self.gates):
            nxt = self.best(ctrl)
            if nxt is not None:
                self._start(ctrl, nxt)          # a waiting preempt is served next, from its entry
            else:
                self.run = None

    def observe(self, ctrl: Preemptible) -> None:
        if self.run is not None:
            self.run.observe(ctrl)

    @property
    def active(self) -> bool:
        return self.run is not None or bool(self.calls)

    def clear(self) -> None:
        """Power cycle, conflict flash, watchdog: the run is abandoned (inputs are read again)."""
        self.run = None
