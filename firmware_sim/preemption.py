"""Railroad / emergency-vehicle preemption: entry, track clearance, dwell, exit (Indiana events 102–111).

On the preempt input the controller ends every green (after its min green and pedestrian clearance: this
simulator does not shorten them as a railroad preempt may) and rests in red, then times the track clearance
phases green for `track_clear_s`, then holds the dwell phases while the input is on (at least `min_dwell_s`; the
input held longer than `max_presence_s` counts as failed, event 110), then serves the exit phase and returns to
normal operation. Events: 102/104 input on/off (param: preempt number), 105 entry started, 106 track clearance
begins, 107 dwell begins, 110 max presence exceeded, 111 exit interval begins. Pure; driven by the controller.
"""

from __future__ import annotations

from typing import Protocol

from firmware_sim.coordination import ticks
from firmware_sim.plan import Plan
from firmware_sim.ring_state import GREEN
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import Preemption


class Preemptible(Protocol):
    """What a preempt run drives of its controller (`firmware_sim.signal_controller.SignalController`)."""

    seq: Sequencer
    plan: Plan
    mode: str
    uptime_ticks: int

    def _event(self, code: int, param: int) -> None: ...

    def end_preempt(self) -> None: ...


ENTRY, TRACK, DWELL, EXIT = "entry", "track", "dwell", "exit"
PREEMPT = 1     # the preempt input's number (the simulator wires one)


class PreemptRun:
    def __init__(self, config: Preemption, now: int, *, exit_phase: int | None = None,
                 hold_s: float | None = None) -> None:
        self.config = config
        self.input = True
        self.since = now                    # uptime tick the input came on
        self.state = ENTRY
        self.started = False                # the current state's phases turned green
        self.green_at = 0
        self.exit_phases = (exit_phase,) if exit_phase else config.exit_phases
        self.hold = ticks(hold_s) if hold_s else 0

    def _greens(self, ctrl: Preemptible) -> set[int]:
        return {r.phase for r in ctrl.seq.rings if r.interval == GREEN and r.phase is not None}

    def _enter(self, ctrl: Preemptible, state: str, phases: tuple[int, ...]) -> None:
        self.state, self.started = state, False
        ctrl.seq.forced = frozenset(p for p in phases if p in ctrl.plan.phases)

    def step(self, ctrl: Preemptible) -> None:
        """One tick of the preempt sequence (before the sequencer's)."""
        seq, now = ctrl.seq, ctrl.uptime_ticks
        if self.state == ENTRY and not self.started:
            self.started = True
            ctrl._event(105, PREEMPT)
            seq.stopping = False
            seq.forced = frozenset()     # nothing is called: every green ends safely
        if self.state == ENTRY:
            if ctrl.mode != "preempt" or not seq.idle:
                return
            if self.config.track_phases:
                self._enter(ctrl, TRACK, self.config.track_phases)
            else:
                self._enter(ctrl, DWELL, self.config.dwell_phases)
            return
        greens = self._greens(ctrl)
        if not self.started and greens & (seq.forced or frozenset()):
            self.started, self.green_at = True, now
            ctrl._event({TRACK: 106, DWELL: 107, EXIT: 111}[self.state], PREEMPT)
        if not self.started:
            if self.state == EXIT and not seq.forced:
                ctrl.end_preempt()
            return
        elapsed = now - self.green_at
        if self.state == TRACK and elapsed >= ticks(self.config.track_clear_s):
            self._enter(ctrl, DWELL, self.config.dwell_phases)
        elif self.state == DWELL:
            if self.input and now - self.since >= ticks(self.config.max_presence_s):
                ctrl._event(110, PREEMPT)
                self.input = False
            if not self.input and elapsed >= max(ticks(self.config.min_dwell_s), self.hold):
                self._enter(ctrl, EXIT, self.exit_phases)
                if self.exit_phases and greens & set(self.exit_phases):
                    self.started, self.green_at = True, now
                    ctrl._event(111, PREEMPT)
        elif self.state == EXIT:
            ctrl.end_preempt()
