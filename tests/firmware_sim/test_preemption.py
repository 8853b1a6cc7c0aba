"""Preemption (issue 11 §9): shortened entry (min green, walk and pedestrian clearance cut as MUTCD 4D.27 and NTCIP
allow; yellow and red clearance never), several inputs with priority, linked preempts (108/109), the gate-down
input (103), track clearance, dwell, exit to a chosen phase; driven through the controller's inputs, the fault
interface and MQTT, as a rig does."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from firmware_sim.clock import ManualClock
from firmware_sim.controller_mqtt import ControllerMqttFace
from firmware_sim.faults import FaultError, _controller_fault
from firmware_sim.ring_state import PED_CLEAR, WALK
from firmware_sim.signal_cabinet import Preemption, SignalCabinet
from firmware_sim.signal_controller import SignalController
from tests.command_signing import sim_keys
from tests.firmware_sim.controller_commands import cmd
from tests.firmware_sim.helpers import MORNING, bits, run

PREEMPT_EVENTS = range(102, 112)


def preempt_events(ctrl: SignalController, since: int = 0) -> list[tuple[int, int]]:
    return [(e.code, e.param) for e in list(ctrl.events.entries)[since:] if e.code in PREEMPT_EVENTS]


def make(*preempts: Preemption) -> SignalController:
    cabinet = SignalCabinet(preemption=preempts[0], more_preempts=preempts[1:])
    return SignalController("tn-sig-001", MORNING, random.Random(1), cabinet=cabinet)


@dataclass
class Trace:
    """Ticks each phase spent in each interval after a point, and the order of what happened."""

    green: dict[int, int] = field(default_factory=dict)
    walk: dict[int, int] = field(default_factory=dict)
    fdw: dict[int, int] = field(default_factory=dict)
    yellow: dict[int, int] = field(default_factory=dict)
    red_gap: int | None = None      # ticks from the end of phase 2's yellow to the next green of any phase

    def step(self, ctrl: SignalController) -> None:
        ctrl.step()
        out = ctrl.display
        for name, mask in (("green", out.green), ("walk", out.walk), ("fdw", out.ped_clear),
                           ("yellow", out.yellow)):
            counts = getattr(self, name)
            for p in bits(mask):
                counts[p] = counts.get(p, 0) + 1


def until(ctrl: SignalController, probe: object, limit_s: float = 400) -> None:
    for _ in range(round(limit_s * 10)):
        if probe():     # type: ignore[operator]
            return
        ctrl.step()
    raise AssertionError("never happened")


def clear_times(ctrl: SignalController, preempt_s: float) -> Trace:
    """Preempt while phase 2 is in its walk (first tick of its green), then trace phase 2 to the end of its red
    clearance."""
    ring = ctrl.seq.rings[0]
    until(ctrl, lambda: ring.phase == 2 and ring.ped == WALK and ring.t == 1)
    ctrl.preempt_input(True)
    trace = Trace()
    was_yellow, gap = False, 0
    for _ in range(round(preempt_s * 10)):
        trace.step(ctrl)
        yellow = bool(ctrl.display.yellow & 0b10)
        if was_yellow and not yellow:
            gap = 0
            trace.red_gap = -1
        if trace.red_gap == -1:
            gap += 1
            if ctrl.display.green:
                trace.red_gap = gap - 1
        was_yellow = yellow
    return trace


def test_entry_cuts_walk_pedestrian_clearance_and_min_green_but_never_yellow_or_red() -> None:
    plain = clear_times(make(Preemption(track_phases=(4,), track_clear_s=100)), 60)
    cut = clear_times(make(Preemption(track_phases=(4,), track_clear_s=100, entry_min_green_s=3, entry_walk_s=0,
                                      entry_ped_clear_s=4)), 60)
    # Without entry limits phase 2 keeps its walk (7 s) and clearance (15 s): 22 s of green.
    # (2 ticks of green and walk were shown before the call: 22 s of green in all)
    assert plain.walk[2] == 68 and plain.fdw[2] == 150 and plain.green[2] == 218, plain
    # With them: the walk ends at once, the clearance lasts exactly 4 s, the green ends with it (min green 3 s,
    # plan 15 s, is already served) ...
    assert 2 not in cut.walk and cut.fdw[2] == 40 and cut.green[2] == 40, cut
    # ... and the yellow change (4 s) and red clearance (2 s) are the plan's, whatever the preempt.
    assert plain.yellow[2] == cut.yellow[2] == 40
    assert plain.red_gap is not None and plain.red_gap >= 20
    assert cut.red_gap is not None and cut.red_gap >= 20


def test_entry_cuts_min_green_of_a_phase_without_pedestrians() -> None:
    ctrl = make(Preemption(track_phases=(4,), entry_min_green_s=2))
    ring = ctrl.seq.rings[0]
    until(ctrl, lambda: ring.phase == 1 and ring.interval == "green" and ring.t == 1)
    ctrl.preempt_input(True)
    trace = Trace()
    for _ in range(300):
        trace.step(ctrl)
    # 2 ticks of green before the call, 18 after: 2 s in all (the plan's min green is 5 s), not a tick less
    assert trace.green[1] == 18, trace.green
    assert trace.yellow[1] == 35                  # the plan's 3.5 s yellow
    assert not ctrl.conflict_latched


def test_a_railroad_preempt_overrides_an_emergency_one_which_is_served_after_it() -> None:
    railroad = Preemption(track_phases=(4,), track_clear_s=10, dwell_phases=(2, 6), min_dwell_s=5,
                          exit_phases=(2, 6))
    emergency = Preemption(number=2, railroad=False, track_phases=(), dwell_phases=(4, 8), min_dwell_s=5,
                           exit_phases=(2, 6))
    ctrl = make(railroad, emergency)
    run(ctrl, 130)
    mark = len(ctrl.events.entries)
    ctrl.preempt_input(True, number=2)
    until(ctrl, lambda: bits(ctrl.display.green) == {4, 8})
    ctrl.preempt_input(True, number=1)          # the train comes while the fire truck is served
    until(ctrl, lambda: bits(ctrl.display.green) == {4} and ctrl.preempt is not None
          and ctrl.preempt.number == 1 and ctrl.preempt.state == "track")
    until(ctrl, lambda: bits(ctrl.display.green) == {2, 6})
    run(ctrl, 30)
    assert bits(ctrl.display.green) == {2, 6}, "the emergency call waits while the railroad preempt dwells"
    ctrl.preempt_input(False, number=1)
    until(ctrl, lambda: bits(ctrl.display.green) == {4, 8})     # the emergency preempt is served again
    ctrl.preempt_input(False, number=2)
    until(ctrl, lambda: ctrl.preempt is None and ctrl.mode == "coordinated")
    assert preempt_events(ctrl, mark) == [
        (102, 2), (105, 2), (107, 2),
        (102, 1), (105, 1), (106, 1), (107, 1), (104, 1), (111, 1),
        (105, 2), (107, 2), (104, 2), (111, 2)]
    assert not ctrl.conflict_latched


def test_a_lower_preempt_does_not_take_over() -> None:
    ctrl = make(Preemption(track_phases=(), dwell_phases=(2, 6), min_dwell_s=5),
                Preemption(number=3, railroad=False, dwell_phases=(4, 8)))
    run(ctrl, 130)
    ctrl.preempt_input(True, number=1)
    until(ctrl, lambda: bits(ctrl.display.green) == {2, 6} and ctrl.mode == "preempt"
          and ctrl.preempt is not None and ctrl.preempt.state == "dwell")
    ctrl.preempt_input(True, number=3)
    run(ctrl, 60)
    assert ctrl.preempt is not None and ctrl.preempt.number == 1 and bits(ctrl.display.green) == {2, 6}


def test_a_linked_preempt_takes_over_the_dwell_while_the_first_input_holds() -> None:
    ctrl = make(Preemption(track_phases=(4,), track_clear_s=10, dwell_phases=(2, 6), min_dwell_s=5, link=2),
                Preemption(number=2, railroad=False, track_phases=(), dwell_phases=(2,), min_dwell_s=8,
                           exit_phases=(2, 6)))
    run(ctrl, 130)
    mark = len(ctrl.events.entries)
    ctrl.preempt_input(True)
    until(ctrl, lambda: bits(ctrl.display.green) == {2, 6})
    until(ctrl, lambda: bits(ctrl.display.green) == {2}, 60)    # the link: 6 ends (after its walk), 2 holds
    run(ctrl, 60)
    assert bits(ctrl.display.green) == {2} and ctrl.mode == "preempt"
    ctrl.preempt_input(False)
    until(ctrl, lambda: ctrl.preempt is None and ctrl.mode == "coordinated")
    assert preempt_events(ctrl, mark) == [(102, 1), (105, 1), (106, 1), (107, 1), (108, 2), (107, 2), (104, 1),
                                          (109, 2), (111, 2)]


def track_seconds(gate_after_s: float | None) -> float:
    ctrl = make(Preemption(track_phases=(4,), track_clear_s=10, gate_down=True, track_clear_max_s=40,
                           dwell_phases=(2, 6)))
    run(ctrl, 130)
    ctrl.preempt_input(True)
    until(ctrl, lambda: bits(ctrl.display.green) == {4})
    ticks = 0
    while 4 in bits(ctrl.display.green):
        if gate_after_s is not None and ticks == round(gate_after_s * 10) - 1:   # seen in the next tick
            ctrl.gate_down_input(True)
        ctrl.step()
        ticks += 1
    assert (103, 1) in preempt_events(ctrl) or gate_after_s is None or gate_after_s > 40
    return ticks / 10


def test_track_clearance_holds_until_the_gates_are_down_within_its_maximum() -> None:
    assert track_seconds(None) == 40.0              # gates never seen down: the maximum ends it
    assert track_seconds(20) == 20.0                # gates down at 20 s: the dwell begins
    assert track_seconds(3) == 10.0                 # gates down early: the track clearance time still runs


def test_exit_goes_to_the_chosen_phase() -> None:
    ctrl = make(Preemption(track_phases=(), dwell_phases=(4, 8), min_dwell_s=5, exit_phases=(2, 6)))
    run(ctrl, 130)
    ctrl.preempt_input(True, exit_phase=8)
    until(ctrl, lambda: bits(ctrl.display.green) == {4, 8})
    ctrl.preempt_input(False)
    until(ctrl, lambda: ctrl.preempt is None)
    assert 8 in bits(ctrl.display.green) and (111, 1) in preempt_events(ctrl)


def test_rigs_drive_several_inputs_and_the_gate_over_faults_and_mqtt() -> None:
    ctrl = make(Preemption(track_phases=(4,), gate_down=True), Preemption(number=2, railroad=False))
    run(ctrl, 130)
    _controller_fault(ctrl, "preempt", True, {"number": 2})
    _controller_fault(ctrl, "preempt_gate", True, {"number": 1})
    assert 2 in ctrl.preempts.calls and 1 in ctrl.preempts.gates
    with pytest.raises(FaultError, match="preempt 5 is not wired"):
        _controller_fault(ctrl, "preempt", True, {"number": 5})
    clock = ManualClock(MORNING)
    face = ControllerMqttFace(ctrl, "tn", clock, sim_keys())
    [res] = face.commands(cmd(clock, "preempt", {"input": True, "number": 1, "gate_down": False}, "preempt-a-1"))
    assert res["ok"] and 1 in ctrl.preempts.calls and 1 not in ctrl.preempts.gates
    assert ctrl.preempt is not None and ctrl.preempt.number == 1          # railroad outranks the emergency call
    [bad] = face.commands(cmd(clock, "preempt", {"input": True, "number": 4}, "preempt-a-2"))
    assert not bad["ok"] and bad["error"] == "invalid_args" and "not wired" in bad["message"]
    [bad] = face.commands(cmd(clock, "preempt", {"input": True, "number": 7}, "preempt-a-3"))
    assert not bad["ok"] and bad["error"] == "malformed"


@pytest.mark.parametrize(("doc", "names"), [
    ({"preempts": [{"number": 1}]}, "number"),
    ({"preempts": [{"dwell_phases": [4]}]}, "preempts[0].number"),
    ({"preempts": [{"number": 2}, {"number": 2}]}, "each preempt number once"),
    ({"preemption": {"link": 2}}, "links to 2"),
    ({"preemption": {"link": 3}, "preempts": [{"number": 3, "link": 2}, {"number": 2}]}, "links to 2"),
    ({"preemption": {"entry_ped_clear_s": float("inf")}}, "entry_ped_clear_s"),
    ({"preemption": {"gate_down": 1}}, "gate_down"),
    ({"preemption": {"track_clear_s": 20, "track_clear_max_s": 10}}, "track_clear_max_s"),
    ({"preemption": {"entry_min_green": 2}}, "unknown field"),
])
def test_preempt_configuration_is_checked(doc: dict[str, object], names: str) -> None:
    with pytest.raises(ValueError, match=names.replace("[", r"\[").replace("]", r"\]")):
        SignalCabinet.from_doc(doc)


def test_preempt_configuration_reads_every_field() -> None:
    cab = SignalCabinet.from_doc({"preemption": {"entry_min_green_s": 2, "entry_walk_s": 0, "entry_ped_clear_s": 4,
                                                 "gate_down": True, "link": 2},
                                  "preempts": [{"number": 2, "railroad": False, "dwell_phases": [2]}]})
    one, two = cab.preempts[1], cab.preempts[2]
    assert (one.entry_min_green_s, one.entry_walk_s, one.entry_ped_clear_s, one.gate_down, one.link) == \
        (2.0, 0.0, 4.0, True, 2)
    assert one.railroad and not two.railroad and two.dwell_phases == (2,) and one.outranks(two)


def test_fdw_is_never_shown_longer_than_the_plan_or_as_walk_after_entry() -> None:
    ctrl = make(Preemption(track_phases=(4,), entry_ped_clear_s=30))      # longer than the plan's 15 s
    ring = ctrl.seq.rings[0]
    until(ctrl, lambda: ring.phase == 2 and ring.ped == PED_CLEAR and ring.ped_t == 1)
    ctrl.preempt_input(True)
    trace = Trace()
    for _ in range(300):
        trace.step(ctrl)
    # 2 ticks of clearance before the call, the rest of the plan's 15 s after: an entry value never lengthens it
    assert trace.fdw[2] == 148
