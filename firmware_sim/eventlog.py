"""The controller's high-resolution event log, readable through the Modbus event FIFO (area `event_fifo`).

Entries are (seq, code, param, epoch_s, ms); seq runs 1..65535 and wraps, never 0. The FIFO holds `capacity`
entries, oldest first. Overflow policy (from the register map): when full, the oldest entry is overwritten and
an entry with code 0 marks the loss, so a reader always knows it missed events. The master acknowledges with
`event_ack` = the seq of the last entry it read; entries up to it are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


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
    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self.entries: deque[Entry] = deque()
        self._seq = 0
        self.overflows = 0
        self.changed = True

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1
        return self._seq

    def add(self, code: int, param: int, epoch_ms: int) -> Entry:
        """Log an event at `epoch_ms` (Unix milliseconds). Never blocks; overwrites the oldest when full."""
        if len(self.entries) >= self.capacity:
            # Drop the oldest entries (and a previous marker) to make room for a marker and the new entry;
            # the marker takes the seq and time of the newest lost entry so seqs stay in FIFO order.
            lost = 0
            if self.entries[0].code == 0:
                lost += self.entries.popleft().param
            last = self.entries.popleft()
            lost += 1
            while len(self.entries) + 2 > self.capacity:
                last = self.entries.popleft()
                lost += 1
            self.overflows += lost
            self.entries.appendleft(Entry(last.seq, 0, min(lost, 0xFFFF), last.epoch_s, last.ms))
        entry = Entry(self._next_seq(), code, param, epoch_ms // 1000, epoch_ms % 1000)
        self.entries.append(entry)
        self.changed = True
        return entry

    def ack(self, seq: int) -> None:
        """Drop entries up to and including `seq` (in FIFO order); an unknown seq drops nothing."""
        seqs = [e.seq for e in self.entries]
        if seq in seqs:
            for _ in range(seqs.index(seq) + 1):
                self.entries.popleft()
            self.changed = True

    def registers(self, entry_registers: int = 6) -> list[int]:
        words: list[int] = []
        for entry in self.entries:
            words += entry.registers()
        return words + [0] * (self.capacity * entry_registers - len(words))
