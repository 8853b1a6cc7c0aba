"""Preemption entry and exit details: a track clearance phase already green stays green through the entry (no
detour through all red), and a preempt configured to exit to flash does so (NTCIP flash status 8) until a central
release; events 102–111 stay as before."""

from __future__ import annotations

from firmware_sim.signal_cabinet import Preemption, SignalCabinet
from tests.firmware_sim.helpers import bits, run
from tests.firmware_sim.test_preemption import make, preempt_events, until


def test_a_track_phase_already_green_stays_green_through_the_entry() -> None:
    ctrl = make(Preemption(track_phases=(4,), track_clear_s=10, dwell_phases=(2, 6), min_dwell_s=5))
    until(ctrl, lambda: bits(ctrl.display.green) == {4, 8} and ctrl.mode == "coordinated")
    since = len(ctrl.events.entries)
    ctrl.preempt_input(True)
    for _ in range(900):                    # entry: 8 ends after its pedestrian clearance; 10 s track clearance
        ctrl.step()
        if ctrl.preempt is not None and ctrl.preempt.state == "dwell":
            break
        assert 4 in bits(ctrl.display.green), "the track phase never leaves green"
    track = [e.code for e in list(ctrl.events.entries)[since:] if e.code in (106, 11) or (e.code == 8 and e.param == 8)]
    assert track == [8, 11, 106], "track clearance timed once 8 has cleared"
    until(ctrl, lambda: bits(ctrl.display.green) == {2, 6})
    assert [c for c, _ in preempt_events(ctrl, since)] == [102, 105, 106, 107]
    ctrl.preempt_input(False)
    run(ctrl, 60)
    assert [c for c, _ in preempt_events(ctrl, since)] == [102, 105, 106, 107, 104, 111]
    assert ctrl.mode == "coordinated"


def test_a_track_phase_not_green_still_waits_for_all_red() -> None:
    ctrl = make(Preemption(track_phases=(4,), track_clear_s=10, dwell_phases=(2, 6), min_dwell_s=5))
    until(ctrl, lambda: bits(ctrl.display.green) == {2, 6} and ctrl.mode == "coordinated")
    ctrl.preempt_input(True)
    saw_all_red = False
    for _ in range(300):
        ctrl.step()
        saw_all_red |= not ctrl.display.green and not ctrl.display.yellow
        if bits(ctrl.display.green) == {4}:
            break
    assert saw_all_red and bits(ctrl.display.green) == {4}


def test_a_preempt_can_exit_to_flash_until_released() -> None:
    ctrl = make(Preemption(track_phases=(4,), track_clear_s=10, dwell_phases=(2, 6), min_dwell_s=5,
                           exit_flash=True))
    run(ctrl, 60)
    since = len(ctrl.events.entries)
    ctrl.preempt_input(True)
    run(ctrl, 40)
    ctrl.preempt_input(False)
    run(ctrl, 60)
    assert ctrl.mode == "flash" and ctrl.preempt is None
    events = [(e.code, e.param) for e in list(ctrl.events.entries)[since:]]
    assert [c for c, _ in preempt_events(ctrl, since)] == [102, 105, 106, 107, 104, 111]
    assert (173, 8) in events and (131, 255) in events, "flash status preempt, pattern flash"
    assert events.index((173, 8)) > events.index((111, 1))
    run(ctrl, 120)
    assert ctrl.mode == "flash", "held until released"
    assert ctrl.command(4, 0, 0) == "ok"
    run(ctrl, 30)
    assert ctrl.mode == "coordinated"


def test_exit_to_flash_is_a_cabinet_option() -> None:
    cabinet = SignalCabinet.from_doc({"preemption": {"track_phases": [4], "exit_flash": True}})
    assert cabinet.preemption.exit_flash is True
    assert SignalCabinet.from_doc({"preemption": {}}).preemption.exit_flash is False
