"""The Modbus event FIFO: order, acknowledgement, and the overflow marker."""

from __future__ import annotations

from firmware_sim.eventlog import EventFifo
from tests.firmware_sim.helpers import controller_with_regs, run


def test_overflow_drops_the_oldest_and_counts_the_loss_without_a_marker_entry() -> None:
    fifo = EventFifo(4)
    for i in range(4):
        fifo.add(1, i, 1_000_000 + i)
    fifo.add(8, 9, 2_000_000)
    seqs = [e.seq for e in fifo.entries]
    assert [(e.code, e.param) for e in fifo.entries] == [(1, 1), (1, 2), (1, 3), (8, 9)]
    assert fifo.overflows == 1 and seqs == sorted(seqs)
    fifo.add(8, 10, 2_000_001)
    assert [e.code for e in fifo.entries] == [1, 1, 8, 8] and fifo.overflows == 2
    assert all(e.code != 0 for e in fifo.entries), "code 0 is never an overflow marker"
    fifo.ack(fifo.entries[1].seq)
    assert [e.param for e in fifo.entries] == [9, 10]
    fifo.ack(60000)                                                  # unknown seq: nothing dropped
    assert len(fifo.entries) == 2


def test_controller_log_holds_a_thousand_events_and_counts_losses_in_a_register() -> None:
    ctrl, regs = controller_with_regs()
    assert ctrl.events.capacity >= 1000
    run(ctrl, 900)                          # 15 minutes unacknowledged: phase events every few seconds
    regs.refresh()
    assert len(ctrl.events.entries) == ctrl.events.capacity
    assert int(regs.image.get("events_waiting")) == ctrl.events.capacity
    assert int(regs.image.get("event_count")) == 16, "the valid entries of the Modbus window"
    assert int(regs.image.get("events_lost")) == ctrl.events.overflows > 0


def test_seq_wraps_and_never_is_zero() -> None:
    fifo = EventFifo(2)
    seen = set()
    for _ in range(70000):
        seen.add(fifo.add(1, 1, 0).seq)
        fifo.ack(fifo.entries[-1].seq)
    assert 0 not in seen and max(seen) == 65535


def test_entry_layout_in_registers() -> None:
    fifo = EventFifo(2)
    fifo.add(21, 4, 1_795_000_123_456)
    words = fifo.registers(2)
    epoch = 1_795_000_123
    assert words[:6] == [1, 21, 4, epoch >> 16, epoch & 0xFFFF, 456]
    assert words[6:] == [0] * 6


def test_clock_set_over_modbus() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 5)
    target = 1_800_000_000
    assert regs.write(220, [target >> 16, target & 0xFFFF]) is None
    run(ctrl, 10)
    regs.refresh()
    assert regs.image.get("controller_time_s") == target + 10


def test_a_full_log_keeps_its_modbus_window_on_the_current_oldest_entries() -> None:
    # Regression: an overflow moves the window (the oldest entry leaves); a register image left on the departed
    # entries showed seqs no longer in the log, whose ack dropped nothing: a reader saw the same stale window for ever.
    ctrl, regs = controller_with_regs()
    run(ctrl, 900)
    regs.refresh()
    run(ctrl, 60)                           # overflowing, nobody acknowledging
    regs.refresh()
    window = regs.image.tables["input"][100:196]
    assert [window[i * 6] for i in range(16)] == [e.seq for e in list(ctrl.events.entries)[:16]]
    assert regs.write(210, [window[15 * 6]]) is None
    assert len(ctrl.events.entries) == ctrl.events.capacity - 16, "the ack of the window's last seq drops it"
