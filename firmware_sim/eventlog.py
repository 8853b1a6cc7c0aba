"""The controller's high-resolution event log, readable through the Modbus event FIFO (area `event_fifo`).

Entries are (seq, code, param, epoch_s, ms); seq runs 1..65535 and wraps, never 0. The log holds `capacity`
entries (1,024 on a controller, as real ones keep at least 1,000), oldest first; the Modbus FIFO area is a window
on its oldest entries and `event_count` says how many wait in all. Overflow policy: when full, the oldest entry is
dropped and counted in `overflows` (register `events_lost`, monotonic), so a reader knows it missed events
without any entry's code being reused for it. The master acknowledges with `event_ack` = the seq of the last entry
it read; entries up to it are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

ENTRY_REGISTERS = 6


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    code: int
    param: int
    epoch_s: int
    ms: int

    def registers(self) -> list[int]:
        return [self.seq, self.code, self.param & 0xFFFF, (self.epoch_s >> 16) & 0xFFFF, self.epoch_s & 0xFFFF,
                self.ms]


class EventFifo:
    def __init__(self, capacity: int = 1024) -> None:
        self.capacity = capacity
        self.entries: deque[Entry] = deque()
        self._seq = 0
        self.overflows = 0
        self.changed = True

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1
        return self._seq

    def add(self, code: int, param: int, epoch_ms: int) -> Entry:
        """Log an event at `epoch_ms` (Unix milliseconds). Never blocks; drops (and counts) the oldest when full."""
        if len(self.entries) >= self.capacity:
            self.entries.popleft()
            self.overflows += 1
            self.changed = True         # the oldest entry left: the window moved (else a reader sees stale seqs)
        entry = Entry(self._next_seq(), code, param, epoch_ms // 1000, epoch_ms % 1000)
        self.entries.append(entry)
        if len(self.entries) <= 64:     # only the window's contents matter to the register image
            self.changed = True
        return entry

    def ack(self, seq: int) -> None:
        """Drop entries up to and including `seq` (in FIFO order); an unknown seq drops nothing."""
        for i, entry in enumerate(self.entries):
            if entry.seq == seq:
                for _ in range(i + 1):
                    self.entries.popleft()
                self.changed = True
                return

    def registers(self, window: int = 16) -> list[int]:
        """The oldest `window` entries as registers, zero-filled."""
        words: list[int] = []
        for i, entry in enumerate(self.entries):
            if i >= window:
                break
            words += entry.registers()
        return words + [0] * (window * ENTRY_REGISTERS - len(words))
