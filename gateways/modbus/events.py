"""The controller's event FIFO (area `event_fifo`), read and republished on `event` with Indiana codes.

Each entry is 6 registers: seq (1..65535, never 0), code, param, epoch_s (u32, high word first), ms. The gateway
reads the `event_count` valid entries (oldest first) in one request, publishes each one not yet published as
`{ts, seq, code, param}`, then writes `event_ack` = the seq of the last entry read, which makes the device drop them.
Every entry is an event, code 0 included (Indiana 0 is "phase on"): events the device's log had to drop when full
are counted in its own `events_lost` register (polled with the slow telemetry), never as a marker entry.
The FIFO is acknowledged once its entries are published or, while the broker is unreachable, queued in the
device's outbox (`gateways.publisher`): so a gateway crash during a broker outage loses the queued events (the
device has dropped them). A failed read or ack leaves the FIFO as it is; the entries are read again next poll and
the last published device seq prevents publishing them twice.
Keeping up: a controller logs a few events a second (a fast simulated clock, many times that), more than one
window per poll. While a window comes back full and brings new entries, the reader reads the next one in the same
poll (at most `MAX_ROUNDS`, a whole 1,024-entry log), so the device's log does not overflow between polls.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from controllers.clock import to_rfc3339
from gateways.modbus.reader import DeviceReader

log = logging.getLogger(__name__)

#: Windows read in one poll at most: a whole device log of 1,024 entries in windows of 16.
MAX_ROUNDS = 64


class EventSink(Protocol):
    """Where read events go: the device's publisher (`gateways.publisher.DevicePublisher`) in the gateway."""

    async def publish_event(self, body: dict[str, Any], *, ts: str | None = None) -> None: ...


class EventReader:
    def __init__(self, reader: DeviceReader, publisher: EventSink) -> None:
        self.reader = reader
        self.publisher = publisher
        area = reader.profile.areas["event_fifo"]
        self.address = area.address
        self.table = area.table
        self.entries = area.entries or 16
        self.width = area.entry_registers or 6
        self.ack_point = reader.profile.point("event_ack")
        self.last_seq: int | None = None
        self.published = 0
        self.rounds_capped = 0      # polls that stopped at MAX_ROUNDS with entries still waiting

    def _new(self, seq: int) -> bool:
        """Whether device seq `seq` comes after the last one published (16-bit wrap, never 0)."""
        if self.last_seq is None:
            return True
        return 0 < (seq - self.last_seq) % 0xFFFF < 0x8000

    async def drain(self, count: int) -> None:
        """Read `count` entries, publish the new ones, acknowledge; while a full window brought new entries, the
        next window (zero-filled past the valid entries) likewise. Raises ModbusError."""
        count = min(count, self.entries)
        for _ in range(MAX_ROUNDS):
            before = self.published
            valid = await self._drain_once(count)
            if valid < self.entries or self.published == before:
                return
            count = self.entries
        self.rounds_capped += 1
        log.info("event_drain_capped device=%s rounds=%d", self.reader.entry.id, MAX_ROUNDS)

    async def _drain_once(self, count: int) -> int:
        """One window: returns how many valid entries it held."""
        regs = await self.reader.link.read(self.table, self.address, count * self.width,
                                           unit_id=self.reader.unit_id, device=self.reader.entry.id)
        last = None
        valid = 0
        for i in range(count):
            seq, code, param, hi, lo, ms = regs[i * self.width:i * self.width + 6]
            if seq == 0:
                continue
            valid += 1
            last = seq
            if not self._new(seq):
                continue
            ts = datetime.fromtimestamp(((hi << 16) | lo) + min(ms, 999) / 1000, tz=UTC)
            await self.publisher.publish_event({"code": min(code, 255), "param": param}, ts=to_rfc3339(ts))
            self.last_seq = seq
            self.published += 1
        if last is not None:
            await self.reader.link.write_registers(self.ack_point.address, [last], unit_id=self.reader.unit_id,
                                                   device=self.reader.entry.id)
        return valid
