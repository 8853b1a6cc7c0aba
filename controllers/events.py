"""Controller hi-res events (Indiana enumerations) in the telemetry store: what one is, how it is identified, and
the query interface of the stores.

Every `event` message carrying `{code, param}` is kept (alarm events, `{alarm, active}`, belong to the alarm
pipeline). Measurement `controller_event`; tags `site`, `device` and `seq` (the publisher's per-device message
counter, 0..255); integer fields `code` and `param`; time to the millisecond. A point's identity is therefore
(device, site, ms timestamp, seq): several events in the same millisecond (a phase and its detector) are distinct
points, and the same event written again (a replay after an outage, a redelivery after a crash) overwrites itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

MEASUREMENT = "controller_event"
TAG_SEQ = "seq"
FIELD_CODE = "code"
FIELD_PARAM = "param"

#: The largest page a store returns in one query.
MAX_PAGE = 10_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def from_ms(ts_ms: int) -> datetime:
    """The aware UTC datetime of a millisecond timestamp, exactly (no float rounding)."""
    return _EPOCH + timedelta(milliseconds=ts_ms)


@dataclass(frozen=True, slots=True)
class ControllerEvent:
    """One hi-res event of one controller; `ts` is aware (UTC), kept to the millisecond."""

    site: str
    device: str
    ts: datetime
    seq: int
    code: int
    param: int


def in_seq_order(events: Sequence[ControllerEvent]) -> list[ControllerEvent]:
    """`events` (as a store returns them: by device, ms timestamp, seq) with each millisecond's events in the order
    the publisher sent them. The stores order a millisecond by seq, which is wrong when the publisher's 0..255
    counter wrapped inside it (254, 255, 0, 1 sorts as 0, 1, 254, 255). A millisecond's seqs spanning more than
    half the counter can only be a wrap (a publisher sends far fewer than 128 events a millisecond): there, low
    seqs come after high ones."""
    out = list(events)
    i = 0
    while i < len(out):
        j = i + 1
        while j < len(out) and out[j].ts == out[i].ts and out[j].device == out[i].device:
            j += 1
        if j - i > 1:
            seqs = [e.seq for e in out[i:j]]
            if max(seqs) - min(seqs) > 128:
                out[i:j] = sorted(out[i:j], key=lambda e: (e.seq + 128) % 256)
        i = j
    return out


@dataclass(frozen=True, slots=True)
class EventCursor:
    """Where a page ended: the (ms timestamp, seq) of its last event; the next page starts after it."""

    ts_ms: int
    seq: int

    @classmethod
    def after(cls, event: ControllerEvent) -> EventCursor:
        delta = event.ts - _EPOCH
        return cls(delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000, event.seq)

    def encode(self) -> str:
        return f"{self.ts_ms}.{self.seq}"

    @classmethod
    def decode(cls, text: str) -> EventCursor:
        """Raises ValueError naming the problem."""
        head, dot, tail = text.partition(".")
        if not dot or not head.isdigit() or not tail.isdigit() or not 0 <= int(tail) <= 255:
            raise ValueError(f"cursor {text!r} is not a cursor of this API (ms.seq)")
        return cls(int(head), int(tail))


@runtime_checkable
class EventStore(Protocol):
    async def write_events(self, events: Sequence[ControllerEvent]) -> None:
        """Write a batch; all or nothing. Raises `StoreError`."""
        ...

    async def query_events(self, *, device: str, start: datetime, end: datetime,
                           codes: Sequence[int] = (), params: Sequence[int] = (), limit: int = 1000,
                           after: EventCursor | None = None) -> list[ControllerEvent]:
        """Events of one device in [start, end), oldest first (ties in a millisecond by seq), filtered by `codes`
        and `params` when given, at most `limit` (<= MAX_PAGE), starting after `after`. Raises `StoreError`."""
        ...
