"""The live event hub behind `/api/v1/stream`: state changes and alarms fanned out to SSE clients.

Each event gets an id `"{epoch}.{n}"`: `epoch` is random per process, `n` counts up. The last `buffer` events are kept
so a client that reconnects with `Last-Event-ID` gets what it missed; when its id is from another process or older
than the buffer, it is told to reload the full picture (`resumed` False) instead.

Overflow policy: each client has a bounded queue. A client too slow to keep up is disconnected (its queue is closed
with a marker) rather than silently losing events; it reconnects with Last-Event-ID and resumes from the buffer.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: str
    n: int
    type: str
    site: str
    device: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamFilter:
    sites: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()

    def matches(self, event: StreamEvent) -> bool:
        return (not self.sites or event.site in self.sites) and (not self.devices or event.device in self.devices)


#: Put in a client's queue when it fell behind: the stream ends and the client resumes with Last-Event-ID.
OVERFLOW: None = None


@dataclass(eq=False)
class Subscriber:
    filter: StreamFilter
    queue: asyncio.Queue[StreamEvent | None]
    resumed: bool
    backlog: list[StreamEvent] = field(default_factory=list)
    overflowed: bool = False


class EventHub:
    """In-process fan-out; publish never blocks (see the overflow policy in the module docstring)."""

    def __init__(self, *, buffer: int = 5000, client_queue: int = 1000) -> None:
        self.epoch = secrets.token_hex(4)
        self._n = 0
        self._buffer: deque[StreamEvent] = deque(maxlen=buffer)
        self._client_queue = client_queue
        self._subscribers: set[Subscriber] = set()
        self.overflows = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def last_id(self) -> str:
        return f"{self.epoch}.{self._n}"

    def publish(self, type_: str, site: str, device: str, data: dict[str, Any]) -> StreamEvent:
        self._n += 1
        event = StreamEvent(f"{self.epoch}.{self._n}", self._n, type_, site, device, data)
        self._buffer.append(event)
        for sub in list(self._subscribers):
            if sub.overflowed or not sub.filter.matches(event):
                continue
            if sub.queue.qsize() >= self._client_queue:
                sub.overflowed = True
                self.overflows += 1
                sub.queue.put_nowait(OVERFLOW)  # the queue has one spare slot for this marker
            else:
                sub.queue.put_nowait(event)
        return event

    def _backlog_after(self, last_event_id: str | None, flt: StreamFilter) -> tuple[bool, list[StreamEvent]]:
        if not last_event_id:
            return False, []
        epoch, _, n_text = last_event_id.partition(".")
        if epoch != self.epoch or not n_text.isdigit():
            return False, []
        n = int(n_text)
        if n > self._n:
            return False, []
        oldest = self._buffer[0].n if self._buffer else self._n + 1
        if n + 1 < oldest:
            return False, []
        return True, [e for e in self._buffer if e.n > n and flt.matches(e)]

    @asynccontextmanager
    async def subscribe(self, flt: StreamFilter, last_event_id: str | None = None) -> AsyncIterator[Subscriber]:
        """A subscription; `resumed` tells whether `backlog` holds everything missed since `last_event_id`."""
        resumed, backlog = self._backlog_after(last_event_id, flt)
        sub = Subscriber(flt, asyncio.Queue(maxsize=self._client_queue + 1), resumed, backlog)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)
