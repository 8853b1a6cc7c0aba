"""The signal controller's safety and NEMA fidelity, one finding at a time (sequencing, the MMU, plan refusal,
detector faults, flash, coordination reference and transitions, preemption, event codes, conflict reset)."""

from __future__ import annotations

import copy
import itertools
import json
import random
import zlib
from datetime import timedelta
from typing import Any

import pytest

from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.controller_mqtt import ControllerMqttFace
from firmware_sim.coordination import DAY_TICKS, Coordination
from firmware_sim.plan import PlanError, default_plan_doc, parse_plan
from firmware_sim.plan_transfer import canonical_bytes
from firmware_sim.ring_state import GREEN
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import Preemption, SignalCabinet
from firmware_sim.signal_controller import SignalController
from tests.command_signing import sim_keys
from tests.firmware_sim.controller_commands import COMMIT, cmd, stage
from tests.firmware_sim.helpers import MORNING, bits, controller, controller_with_regs, run

CMD = 200


def codes(ctrl: SignalController, *wanted: int) -> list[tuple[int, int]]:
    return [(e.code, e.param) for e in ctrl.events.entries if e.code in wanted]


def nan_payload(doc: dict[str, Any]) -> bytes:
    """The transfer encoding of a plan with NaN/Infinity in it (JSON extensions Python writes and reads)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


# ----- §1 non-finite numbers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["yellow", "max_green", "split", "cycle", "ring"])
def test_a_plan_with_nan_or_infinity_is_refused_over_modbus_and_the_controller_keeps_running(where: str) -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 30)
    doc = default_plan_doc("tn-sig-001")
    if where == "yellow":
        doc["phases"][0]["yellow_s"] = float("nan")
    elif where == "max_green":
        doc["phases"][3]["max_green_s"] = float("inf")
    elif where == "split":
        doc["patterns"][0]["splits_s"]["2"] = float("nan")
    elif where == "cycle":
        doc["patterns"][0]["cycle_s"] = float("-inf")
    else:
        doc["rings"][0][1] = float("inf")
    payload = nan_payload(doc)
    stage(regs, payload, zlib.crc32(payload))
    before = regs.image.get("plan_crc32")
    assert regs.write(COMMIT, [1]) is None
    regs.refresh()
    assert (regs.image.get("plan_status"), regs.image.get("plan_error")) == (4, 4), "error, invalid_plan"
    assert ctrl.pending_plan is None
    run(ctrl, 300)                                               # the activation that used to crash
    regs.refresh()
    assert regs.image.get("plan_crc32") == before and ctrl.mode == "coordinated"


def test_mqtt_deploy_plan_and_commands_refuse_non_finite_numbers() -> None:
    """No signer can sign NaN (the canonical form refuses it), so such a payload is a forgery or corruption on the
    wire: it is refused before anything runs, and the controller keeps running."""
    clock = ManualClock(MORNING)
    face = ControllerMqttFace(controller(), "tn", clock, sim_keys())
    doc = default_plan_doc("tn-sig-001")
    doc["phases"][1]["yellow_s"] = float("nan")
    crc = zlib.crc32(canonical_bytes(doc))
    deploy = json.dumps({"id": "deploy-nan-1", "name": "deploy_plan", "args": {"plan": doc, "crc32": crc},
                         "issued_by": "ops", "expires_at": rfc3339(clock.now() + timedelta(seconds=60))}).encode()
    assert b"NaN" in deploy
    answers = face.commands(deploy)
    assert all(a["ok"] is False for a in answers)
    assert face.ctrl.pending_plan is None
    bad = cmd(clock, "hold_pattern", {"pattern": 1}, "hold-inf-1").replace(b'"pattern": 1', b'"pattern": Infinity')
    answers = face.commands(bad)
    assert all(a["ok"] is False for a in answers) and face.ctrl.central is None
    for _ in range(600):
        face.ctrl.step()
    assert face.ctrl.mode == "coordinated"


# ----- §2 the MMU is programmed from the cabinet, not from the plan ---------------------------------------------
def side_left_with_main_plan() -> dict[str, Any]:
    """A programming error: the barrier puts side-street left 3 in the main street's group, so 3 times with 5/6."""
    doc = default_plan_doc("tn-sig-001")
    doc["barriers"] = [[1, 2, 3, 5, 6], [4, 7, 8]]
    for pat in doc["patterns"]:
        s = pat["splits_s"]
        s["6"] = s["1"] + s["2"] + s["3"] - s["5"]
        s["8"] = s["4"] - s["7"]
    return doc


def test_a_plan_the_cabinet_matrix_forbids_is_refused_at_commit() -> None:
    doc = side_left_with_main_plan()
    plan = parse_plan(doc)                                       # the plan itself is consistent
    with pytest.raises(PlanError, match=r"3\+5, 3\+6"):
        SignalCabinet().check_plan(plan)
    ctrl, regs = controller_with_regs()
    run(ctrl, 30)
    payload = canonical_bytes(doc)
    stage(regs, payload, zlib.crc32(payload))
    assert regs.write(COMMIT, [1]) is None
    regs.refresh()
    assert (regs.image.get("plan_status"), regs.image.get("plan_error")) == (4, 4)
    # A cabinet whose matrix permits it (programmed for this intersection) runs it without a conflict.
    permissive = SignalCabinet(permissive=SignalCabinet().permissive | {frozenset((3, 5)), frozenset((3, 6))})
    own = SignalController("tn-sig-001", MORNING, random.Random(1), plan=plan, cabinet=permissive)
    run(own, 600)
    assert not own.conflict_latched


def test_the_mmu_trips_on_what_the_cabinet_forbids_even_when_the_running_plan_allows_it() -> None:
    ctrl = controller()
    run(ctrl, 30)
    bad = parse_plan(side_left_with_main_plan())
    ctrl.plan = bad                                              # as if the plan check had been bypassed
    ctrl.seq = Sequencer(bad, ctrl._event, max_recall=True)
    ctrl.seq.set_pattern(bad.patterns[1])                        # 6 rests in green while ring 1 times 1, 2, 3
    ctrl.seq.restart()
    together = 0
    for _ in range(3000):
        ctrl.step()
        green = bits(ctrl.display.green)
        together += {3, 6} <= green or {3, 5} <= green
        if ctrl.conflict_latched:
            break
    assert ctrl.conflict_latched and ctrl.mode == "flash" and ctrl.flash_cause == "conflict"
    assert 2 <= together <= 4, "the conflict is on the street for the persistence time only (200..500 ms)"
    assert (173, 6) in codes(ctrl, 173), "flash status 6: MMU"


# ----- §3 both rings cross the barrier together -------------------------------------------------------------
def test_a_ring_waiting_at_the_barrier_leaves_with_the_other_rings_max_out() -> None:
    plan = parse_plan(default_plan_doc("x"))
    events: list[tuple[int, int]] = []
    seq = Sequencer(plan, lambda c, p: events.append((c, p)))
    seq.restart()
    seq.group = 0                                                # start with the side street (group 1)
    seq.step(0, {4, 8}, set())
    ends: dict[int, int] = {}
    for now in range(1, 1200):
        before = {r.phase for r in seq.rings if r.interval == GREEN}
        # 8 is extended by a continuous stream of vehicles, 4 has none; the main street waits.
        seq.step(now, {8, 2}, set())
        after = {r.phase for r in seq.rings if r.interval == GREEN}
        for p in before - after:
            ends.setdefault(p, now)
    assert (5, 8) in events, "8 maxed out"
    assert ends[4] == ends[8], "4 gapped out, waited at the barrier, and ends with 8: no overrun by Y+R"


# ----- §4 actuated timing -----------------------------------------------------------------------------------
def test_max_green_is_timed_from_the_first_conflicting_call_and_a_rested_gap_out_is_forgotten() -> None:
    plan = parse_plan(default_plan_doc("x"))
    events: list[tuple[int, int]] = []
    seq = Sequencer(plan, lambda c, p: events.append((c, p)))
    seq.restart()
    seq.step(0, {2}, set())
    assert 2 in {r.phase for r in seq.rings}
    for now in range(1, 300):                    # 30 s alone, no vehicle: 2 gaps out but rests in green
        seq.step(now, set(), set())
    for now in range(300, 600):                  # vehicles again on 2's detector, still nobody else
        seq.step(now, {2}, set())
    call_at, end_at = 600, None
    for now in range(600, 1500):                 # a side-street call arrives while 2 is occupied
        seq.step(now, {2, 4}, set())
        if not any(r.phase == 2 and r.interval == GREEN for r in seq.rings):
            end_at = now
            break
    assert end_at is not None
    assert (4, 2) not in events, "no gap-out logged while its detector is occupied"
    assert (5, 2) in events and end_at - call_at == 500, "max-out 50 s after the conflicting call"


# ----- §5 detector faults -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "code"), [("open", 86), ("shorted", 87), ("chatter", 88), ("other", 84)])
def test_a_failed_detector_puts_its_phase_on_fail_safe_recall(kind: str, code: int) -> None:
    ctrl = controller()
    run(ctrl, 30)
    assert ctrl.command(3, 0, 0) == "ok"                         # free: actuated
    ctrl.detectors.volume_factor = 0.0                           # no traffic at all: only recalls call phases
    ctrl.fail_detector(3, kind)
    assert (code, 3) in codes(ctrl, code) and "detector_fault" in ctrl.alarms
    greens, prev, longest, on = 0, 0, 0, 0
    for _ in range(6000):
        ctrl.step()
        g = ctrl.display.green >> 2 & 1
        greens += g and not prev
        on = on + 1 if g else 0
        longest = max(longest, on)
        prev = g
    assert greens >= 5, "the phase is served every cycle (max recall)"
    assert longest == 150, "it runs to max green (15 s), neither gaps out nor holds for ever"
    ctrl.fail_detector(3, None)
    assert (83, 3) in codes(ctrl, 83) and "detector_fault" not in ctrl.alarms


# ----- §6 flash colours -------------------------------------------------------------------------------------
def test_flash_is_red_except_the_main_street_throughs_the_cabinet_flashes_yellow() -> None:
    doc = default_plan_doc("tn-sig-001")
    doc["patterns"] = []
    doc["day_plans"] = [{"day_plan": 1, "events": [{"at": "00:00", "action": "flash"}]}]
    ctrl = SignalController("tn-sig-001", MORNING, random.Random(1), plan=parse_plan(doc))
    run(ctrl, 20)
    assert ctrl.mode == "flash"
    assert bits(ctrl.display.yellow) == {2, 6} and bits(ctrl.display.red) == {1, 3, 4, 5, 7, 8}
    other = SignalController("tn-sig-001", MORNING, random.Random(1), plan=parse_plan(doc),
                             cabinet=SignalCabinet(flash_yellow=frozenset()))
    run(other, 20)
    assert other.display.yellow == 0 and bits(other.display.red) == set(range(1, 9)), "all-red flash"


# ----- §7 offset reference ----------------------------------------------------------------------------------
def test_cycle_zero_is_the_first_coordinated_green_whatever_the_order_of_coord_phases() -> None:
    doc = default_plan_doc("x")
    doc["rings"] = [[1, 2, 3, 4], [6, 5, 7, 8]]                  # 6 leads, 2 lags behind left 1
    plan = parse_plan(doc)
    a = Coordination.of(plan, plan.patterns[1])
    doc["patterns"][0]["coord_phases"] = [6, 2]
    b = Coordination.of(parse_plan(doc), parse_plan(doc).patterns[1])
    assert a.ref_phase == b.ref_phase == 6
    assert a.force_off == b.force_off and a.start[6] == 0 and a.start[2] == 150


def test_the_master_cycle_is_referenced_to_local_midnight() -> None:
    doc = default_plan_doc("x")
    doc["patterns"][0].update(cycle_s=110, offset_s=30)
    for p in ("2", "6"):
        doc["patterns"][0]["splits_s"][p] += 10
    coord = Coordination.of(parse_plan(doc), parse_plan(doc).patterns[1])
    for day in (20_000, 20_001, 20_417):                        # any day: zero at midnight + offset
        midnight = day * DAY_TICKS
        assert coord.master_timer(midnight + 300) == 0
        assert coord.master_timer(midnight + 300 + 1100 * 7) == 0


# ----- §8 pattern transitions -------------------------------------------------------------------------------
def test_a_pattern_change_runs_a_bounded_transition_with_events() -> None:
    ctrl = controller()
    run(ctrl, 400)
    assert ctrl.seq.lag == 0 and ctrl.seq.coord is not None and ctrl.seq.coord.pattern.pattern == 1
    seen: list[tuple[int, int]] = []
    ctrl.event_sink = lambda code, param, _ms: seen.append((code, param))
    assert ctrl.command(1, 2, 0) == "ok"                         # hold pattern 2: 80 s
    starts, prev = [], ctrl.seq.cycle_timer()
    for _ in range(8000):                                       # local cycle zeros: the cycle the street sees
        ctrl.step()
        if ctrl.seq.cycle_timer() < prev:
            starts.append(ctrl.sim_ticks)
        prev = ctrl.seq.cycle_timer()
    cycles = [b - a for a, b in itertools.pairwise(starts)]
    assert all(800 * 0.83 - 1 <= c <= 1000 * 1.2 + 1 for c in cycles), cycles
    assert cycles[-3:] == [800, 800, 800], "in step on the new cycle"
    assert (131, 2) in seen and (132, 80) in seen
    states = [p for c, p in seen if c == 150]
    assert {2, 3} & set(states) and states[-1] == 1, "transition (add or subtract), then in step"


def test_dwell_transition_only_lengthens_the_coordinated_green() -> None:
    ctrl = controller()
    ctrl.seq.transition = "dwell"
    run(ctrl, 600)
    assert ctrl.seq.lag == 0
    assert 4 in {p for _, p in codes(ctrl, 150)} and 3 not in {p for _, p in codes(ctrl, 150)}


# ----- §9 preemption ----------------------------------------------------------------------------------------
def test_railroad_preemption_clears_the_track_dwells_and_exits() -> None:
    cabinet = SignalCabinet(preemption=Preemption(track_phases=(4,), track_clear_s=15, dwell_phases=(2, 6),
                                                  min_dwell_s=10, exit_phases=(2, 6)))
    ctrl = SignalController("tn-sig-001", MORNING, random.Random(1), cabinet=cabinet)
    from firmware_sim.controller_regs import ControllerRegisters
    regs = ControllerRegisters(ctrl)
    run(ctrl, 130)
    assert regs.write(CMD, [6, 0, 0, 0, 21]) is None             # preempt input on (a rig's command)
    regs.refresh()
    assert regs.image.get("cmd_result_code") == 1
    track_green = dwell_green = 0
    for _ in range(900):
        ctrl.step()
        g = bits(ctrl.display.green)
        track_green += g == {4}
        dwell_green += g == {2, 6}
        if ctrl.mode == "preempt":
            regs.refresh()
            assert regs.image.get("mode") == 5
    assert track_green >= 150 and dwell_green > 300, (track_green, dwell_green)
    assert regs.write(CMD, [7, 0, 0, 0, 22]) is None             # input off
    run(ctrl, 60)
    assert ctrl.mode == "coordinated" and ctrl.preempt is None
    seen = [c for c, _ in codes(ctrl, *range(102, 112))]
    assert seen == [102, 105, 106, 107, 104, 111], seen
    assert not ctrl.conflict_latched


# ----- §10 event codes --------------------------------------------------------------------------------------
def test_event_codes_carry_ntcip_and_indiana_values() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 60)
    flash = codes(ctrl, 173)
    assert flash[:2] == [(173, 7), (173, 2)], "startup flash, then not flashing"
    assert ctrl.command(3, 0, 0) == "ok"
    run(ctrl, 30)
    assert ctrl.command(2, 0, 0) == "ok"
    run(ctrl, 60)
    assert codes(ctrl, 131)[-2:] == [(131, 254), (131, 255)], "free, then flash"
    assert codes(ctrl, 173)[-1] == (173, 3), "automatic flash"
    assert codes(ctrl, 43) and codes(ctrl, 44), "phase calls registered and dropped"
    assert codes(ctrl, 90) and codes(ctrl, 89), "pedestrian detector on/off"
    assert regs.write(220, [0x6A00, 0]) is None                  # clock set
    assert codes(ctrl, 181) == [(181, 0)]
    assert all(e.code != 0 for e in ctrl.events.entries)


# ----- §11 remote reset of a conflict flash -----------------------------------------------------------------
def test_the_cabinet_can_forbid_a_remote_reset_of_a_conflict_flash() -> None:
    ctrl = SignalController("tn-sig-001", MORNING, random.Random(1),
                            cabinet=SignalCabinet(remote_conflict_reset=False))
    run(ctrl, 30)
    ctrl.force_conflict = True
    run(ctrl, 1)
    ctrl.force_conflict = False
    assert ctrl.conflict_latched and ctrl.command(5, 0, 0) == "refused"
    assert ctrl.conflict_latched


def test_cabinet_config_is_checked() -> None:
    assert SignalCabinet.from_doc({"permissive": [[1, 5]], "flash_yellow": [4, 8]}).compatible(5, 1)
    for bad in ({"permissive": [[1, 1]]}, {"flash_yellow": [0]}, {"remote_conflict_reset": "no"},
                {"preemption": {"track_clear_s": float("nan")}}):
        with pytest.raises(ValueError):
            SignalCabinet.from_doc(copy.deepcopy(bad))


def test_a_firmware_fault_flashes_its_intersection_and_the_fleet_keeps_running() -> None:
    from firmware_sim.clock import ManualClock as Clock
    from firmware_sim.engine import Engine

    clock = Clock(MORNING)
    good, bad = controller(1), controller(2)
    engine = Engine(clock, [good, bad])

    def broken() -> None:
        raise ValueError("cannot convert float NaN to integer")
    bad.seq.step = lambda *_: broken()  # type: ignore[method-assign]
    clock.advance(60)
    engine.advance()
    assert bad.watchdog_tripped and bad.mode == "flash" and (173, 5) in codes(bad, 173)
    assert bits(bad.display.yellow) == {2, 6} and bad.command(5, 0, 0) == "refused"
    assert good.mode == "coordinated" and good.uptime_ticks == 600


def test_the_fleet_takes_each_cabinet_from_its_config(tmp_path: Any) -> None:
    from firmware_sim.__main__ import parse_args
    from firmware_sim.fleet import build_fleet

    path = tmp_path / "cabinets.json"
    path.write_text(json.dumps({"*": {"flash_yellow": []},
                                "tn-sig-002": {"remote_conflict_reset": False, "preemption": {"track_phases": [4]}}}))
    config = parse_args(["--intersections", "2", "--cabinets", "0", "--modbus-cabinets", "0",
                         "--signal-cabinets", str(path)])
    fleet = build_fleet(config, ManualClock(MORNING))
    one, two = fleet.controllers["tn-sig-001"].cabinet, fleet.controllers["tn-sig-002"].cabinet
    assert one.flash_yellow == frozenset() and one.remote_conflict_reset
    assert two.flash_yellow == frozenset({2, 6}) and not two.remote_conflict_reset
    assert two.preemption.track_phases == (4,)
    path.write_text(json.dumps({"*": {"permissive": [[1, 9, 3]]}}))
    with pytest.raises(SystemExit):
        parse_args(["--signal-cabinets", str(path)])


def test_preempt_over_mqtt_for_rigs() -> None:
    clock = ManualClock(MORNING)
    face = ControllerMqttFace(controller(), "tn", clock, sim_keys())
    for _ in range(300):
        face.ctrl.step()
    [res] = face.commands(cmd(clock, "preempt", {"input": True, "exit_phase": 6}, "preempt-on-1"))
    assert res["ok"] and face.ctrl.preempt is not None and face.ctrl.preempt.exit_phases == (6,)
    [bad] = face.commands(cmd(clock, "preempt", {"input": "yes"}, "preempt-bad-1"))
    assert bad["error"] == "malformed"
    for _ in range(600):
        face.ctrl.step()
    assert face.ctrl.mode == "preempt"
    [res] = face.commands(cmd(clock, "preempt", {"input": False}, "preempt-off-1"))
    for _ in range(900):
        face.ctrl.step()
    assert face.ctrl.preempt is None and face.ctrl.mode == "coordinated"


def test_a_downloaded_plan_activates_at_local_zero_even_while_a_transition_moves_the_timer() -> None:
    ctrl = controller()
    run(ctrl, 400)
    assert ctrl.command(1, 2, 0) == "ok"                         # a transition to pattern 2 begins
    run(ctrl, 100)
    assert ctrl.seq.lag != 0, "the transition is under way"
    doc = default_plan_doc("tn-sig-001")
    doc["patterns"][1]["offset_s"] = 40
    ctrl.accept_plan(parse_plan(doc))
    waited = 0
    while ctrl.pending_plan is not None and waited < 2000:
        ctrl.step()
        waited += 1
    assert waited <= 810, "at the next local cycle zero (one 80 s cycle at most), not once the transition is over"
    assert ctrl.plan.patterns[2].offset_s == 40


def test_a_coordinated_green_resting_past_its_force_off_keeps_the_next_cycles_split() -> None:
    """The coordinated throughs rest in green through an empty cycle (past their force-off); in the next cycle a
    call on left 1 must wait for the force-off, not end 2 at once (found by the SUMO twin's round trip)."""
    plan = parse_plan(default_plan_doc("x"))
    pattern = plan.patterns[1]
    force_off = Coordination.of(plan, pattern).force_off[2]
    seq = Sequencer(plan, lambda c, p: None)
    seq.restart()
    seq.set_pattern(pattern)
    now = 0
    for now in range(6000):                     # six empty cycles: 2 and 6 rest in green past their force-off
        seq.step(now, set(), set())
    while seq.cycle_timer(now) != 150:          # 15 s into a new cycle
        now += 1
        seq.step(now, set(), set())
    ended_at, called_at = None, now + 1
    for now in range(called_at, called_at + 1000):  # a call on left 1, which comes before 2 in its ring
        seq.step(now, {1}, set())
        if not any(r.phase == 2 and r.interval == GREEN for r in seq.rings):
            ended_at = seq.cycle_timer(now)
            break
    assert ended_at == force_off, f"2 ended at {ended_at / 10} s of the cycle, its force-off is {force_off / 10} s"
