"""Signal controller firmware on synthetic time: sequencing safety, coordination, central commands, the MMU."""

from __future__ import annotations

import itertools

from firmware_sim.signal_controller import SignalController
from tests.firmware_sim.helpers import bits, controller, controller_with_regs, run

CMD = 200


def watch(ctrl: SignalController, seconds: float) -> list[tuple[int, int, int, str]]:
    """Step and record (green, yellow, walk, mode) each tick, asserting the safety rules as it goes."""
    seen = []
    prev_green = 0
    for _ in range(round(seconds * 10)):
        ctrl.step()
        out = ctrl.display
        active = out.green | out.yellow | out.walk
        for p in bits(active):
            for q in bits(active):
                assert not ctrl.plan.conflicts(p, q) or ctrl.conflict_latched, f"conflict {p}/{q}"
        ended = prev_green & ~out.green
        if ctrl.mode != "flash" or not ctrl.conflict_latched:
            assert ended & ~out.yellow == 0, f"green of {bits(ended & ~out.yellow)} ended without yellow"
        prev_green = out.green
        seen.append((out.green, out.yellow, out.walk, ctrl.mode))
    return seen


def test_controller_starts_in_flash_then_cycles_all_phases_safely() -> None:
    ctrl = controller()
    seen = watch(ctrl, 600)
    assert seen[0][3] == "flash"
    served = set().union(*(bits(g) for g, _, _, _ in seen))
    assert served == set(range(1, 9))
    assert any(walk for _, _, walk, _ in seen)
    assert seen[-1][3] == "coordinated"


def test_coordinated_fixed_time_cycle_and_offset() -> None:
    ctrl = controller(offset_s=37)
    ctrl.seq.max_recall = True
    run(ctrl, 400)      # settle into step
    pattern = ctrl.seq.pattern
    assert pattern is not None and pattern.cycle_s == 100
    starts = []
    prev = ctrl.display.green
    for _ in range(3000):
        ctrl.step()
        green = ctrl.display.green
        if green & 0b10 and not prev & 0b10:
            starts.append(ctrl.local_ticks())
        prev = green
    assert len(starts) == 3
    assert {b - a for a, b in itertools.pairwise(starts)} == {1000}
    assert pattern.offset_s == 37
    assert all((s - 370) % 1000 == 0 for s in starts), starts      # cycle zero is local midnight


def test_flash_command_with_backup_timer_returns_to_schedule() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 60)
    assert regs.write(CMD, [2, 0, 0, 120, 77]) is None         # flash, backup timer 120 s, token 77
    regs.refresh()
    assert regs.image.get("cmd_result_token") == 77
    assert regs.image.get("cmd_result_code") == 1
    assert regs.image.get("control_source") == 1
    run(ctrl, 40)                                              # clearance to flash through yellow and red
    regs.refresh()
    assert regs.image.get("mode") == 1 and regs.image.get("flash_cause") == 3
    assert 70 <= int(regs.image.get("backup_remaining_s")) <= 80
    assert bits(int(regs.image.get("phase_yellow"))) == {2, 6}
    run(ctrl, 95)                                              # not renewed: back to the schedule by itself
    regs.refresh()
    assert regs.image.get("control_source") == 0
    assert regs.image.get("mode") in (2, 3)                    # startup all red (free), then coordinated
    run(ctrl, 5)
    regs.refresh()
    assert regs.image.get("mode") == 3 and regs.image.get("pattern") == 1


def test_hold_pattern_and_release() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 30)
    assert regs.write(CMD, [1, 2, 0, 0, 5]) is None            # hold pattern 2, no backup timer
    run(ctrl, 1)
    regs.refresh()
    assert regs.image.get("mode") == 4 and regs.image.get("pattern") == 2 and regs.image.get("cycle_s") == 80
    assert regs.write(CMD, [4, 0, 0, 0, 6]) is None
    run(ctrl, 1)
    regs.refresh()
    assert regs.image.get("mode") == 3 and regs.image.get("pattern") == 1


def test_bad_commands_are_refused_and_change_nothing() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 30)
    assert regs.write(CMD, [1, 99, 0, 60, 9]) is None           # unknown pattern
    regs.refresh()
    assert regs.image.get("cmd_result_code") == 2 and ctrl.central is None
    assert regs.write(CMD, [42, 0, 0, 0, 10]) is None           # unknown command code
    regs.refresh()
    assert regs.image.get("cmd_result_code") == 6
    before = list(regs.image.tables["holding"][200:206])
    assert regs.write(CMD, [2, 0, 0, 60, 0]) == 3                # token 0: illegal data value
    assert regs.image.tables["holding"][200:206] == before and ctrl.central is None


def test_forced_conflict_latches_flash_until_reset() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 30)
    ctrl.force_conflict = True
    run(ctrl, 0.2)
    regs.refresh()
    assert regs.image.get("mode") != 1, "an MMU does not trip on a conflict shorter than 200 ms"
    run(ctrl, 0.3)
    regs.refresh()
    assert regs.image.get("mode") == 1 and regs.image.get("flash_cause") == 1, "it trips within 500 ms"
    assert [(e.code, e.param) for e in ctrl.events.entries if e.code in (131, 173)][-2:] == [(173, 6), (131, 255)]
    assert int(regs.image.get("alarm_flags")) & 1
    ctrl.force_conflict = False
    run(ctrl, 30)
    regs.refresh()
    assert regs.image.get("mode") == 1, "the latch holds after the cause is gone"
    ctrl.force_conflict = True
    assert regs.write(CMD, [5, 0, 0, 0, 11]) is None
    regs.refresh()
    assert regs.image.get("cmd_result_code") == 3, "reset refused while the conflict is still there"
    ctrl.force_conflict = False
    assert regs.write(CMD, [5, 0, 0, 0, 12]) is None
    regs.refresh()
    assert regs.image.get("cmd_result_code") == 1 and not int(regs.image.get("alarm_flags")) & 1
    run(ctrl, 10)
    assert ctrl.mode in ("coordinated", "free")


def test_event_fifo_reads_and_acknowledges() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 20)
    regs.refresh()
    waiting = int(regs.image.get("events_waiting"))
    assert waiting > 16                                          # the log holds more than the Modbus window
    count = int(regs.image.get("event_count"))
    assert count == 16
    fifo = regs.image.tables["input"][100:196]
    codes = {fifo[i * 6 + 1] for i in range(count)}
    assert codes & {1, 8, 9, 10, 11, 21, 82}
    last_seq = fifo[(count - 1) * 6]
    assert regs.write(210, [last_seq]) is None
    regs.refresh()
    assert regs.image.get("events_waiting") == waiting - 16


def test_writes_outside_the_map_are_illegal_addresses() -> None:
    _, regs = controller_with_regs()
    before = list(regs.image.tables["holding"])
    assert regs.write(206, [1]) == 2                       # between cmd_token and event_ack: no point there
    assert regs.write(2447, [1, 2]) == 2                   # runs past the staging area
    assert regs.image.tables["holding"] == before
    assert regs.write(2447, [1]) is None                   # the last staging register is fine
