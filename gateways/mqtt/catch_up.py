"""A `BusPort` on a clean session whose chosen filters are also followed on a persistent session, which catches up
on what the clean one missed while it was disconnected.

Why: the API's main bus is a clean session (its subscriptions are the live picture, re-sent as retained messages on
every connection, and on NATS a clean session subscribing at QoS 0 fails over fastest). A command's result is not
retained: one published while that connection is down (a broker failover, an API restart) was lost, and the command
wrongly expired. So the API also follows `cmd/res` on a persistent session of its own (QoS 1, a client id stable
across its reconnects and restarts), where the broker keeps what arrives meanwhile. Both copies of a result are
received; each consumer gets the first and not the other (the same topic and payload within the last `REMEMBERED`
messages). The clean session stays the fast path: on NATS a persistent session's queue (a JetStream consumer) may
stall while the node holding it is down, and the results then keep coming the clean way.

The caught-up filters are subscribed on the persistent bus once, by `CatchUpBus.open`, before that bus first
connects: what the broker kept for the session arrives right after the CONNACK, often before the process's consumers
subscribe (the API's tasks start after its migrations), and must not be dropped for want of one. So what that bus
receives in its first `backlog_s` is also kept (bounded) and handed to each consumer that subscribes within that
time. Publishing goes through the clean bus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from typing import Any

from controllers.bus import BusMessage, BusPort
from controllers.clock import Clock
from gateways.mqtt.bus import Bus, Subscription, filter_matches

#: messages of the persistent session kept for the consumers that subscribe late (what a broker kept for an API
#: that was away for a while)
BACKLOG = 10_000
#: per consumer, the caught-up messages remembered to drop their second copy
REMEMBERED = 10_000


class _Consumer(Subscription):
    """A subscription that takes each caught-up message (topic and payload) once, from whichever bus brings it."""

    def __init__(self, filters: tuple[str, ...], caught_up: list[list[str]], queue_size: int) -> None:
        super().__init__(filters, queue_size)
        self._caught_up = caught_up
        self._seen: OrderedDict[tuple[str, bytes], None] = OrderedDict()

    def offer_once(self, message: BusMessage) -> None:
        levels = message.topic.split("/")
        if any(filter_matches(f, levels) for f in self._caught_up):
            key = (message.topic, message.payload)
            if key in self._seen:
                return
            self._seen[key] = None
            if len(self._seen) > REMEMBERED:
                self._seen.popitem(last=False)
        self.offer(message)


class CatchUpBus:
    """`BusPort`: publishes and subscribes on `main`; the filters in `caught_up` (exact filter strings) are also
    followed on a persistent session (see `open`)."""

    def __init__(self, main: BusPort, caught_up: tuple[str, ...], clock: Clock, backlog_s: float) -> None:
        self.main = main
        self.caught_up = frozenset(caught_up)
        self._levels = [f.split("/") for f in caught_up]
        self._clock = clock
        self._until = clock.monotonic() + backlog_s
        #: what the persistent session brought in the first `backlog_s` (up to BACKLOG messages)
        self.backlog: deque[BusMessage] = deque(maxlen=BACKLOG)
        self._consumers: list[_Consumer] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, main: BusPort, persistent: Bus, caught_up: tuple[str, ...], clock: Clock,
                   backlog_s: float = 60.0) -> AsyncIterator[CatchUpBus]:
        """Subscribe `caught_up` on `persistent` now (enter this right after entering `persistent`, before anything
        awaits, so the subscription is listed when it first connects), for the life of the context."""
        bus = cls(main, caught_up, clock, backlog_s)
        async with persistent.subscribe(*caught_up) as kept, asyncio.TaskGroup() as tg:
            fanout = tg.create_task(bus._fan_out(kept), name="catch-up-fanout")
            try:
                yield bus
            finally:
                fanout.cancel()

    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        await self.main.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, *filters: str, queue_size: int = 10_000) -> contextlib.AbstractAsyncContextManager[
            AsyncIterator[BusMessage]]:
        return self._subscription(filters, queue_size)

    @contextlib.asynccontextmanager
    async def _subscription(self, filters: tuple[str, ...], queue_size: int) -> AsyncIterator[
            AsyncIterator[BusMessage]]:
        if not filters:
            raise ValueError("subscribe needs at least one topic filter")
        caught_up = [f.split("/") for f in filters if f in self.caught_up]
        if not caught_up:
            async with self.main.subscribe(*filters, queue_size=queue_size) as messages:
                yield messages
            return
        mine = _Consumer(filters, caught_up, queue_size)
        if self._clock.monotonic() < self._until:
            for message in self.backlog:
                mine.offer_once(message)
        self._consumers.append(mine)
        try:
            async with self.main.subscribe(*filters, queue_size=queue_size) as live, asyncio.TaskGroup() as tg:
                pump = tg.create_task(_pump(live, mine))
                try:
                    yield mine
                finally:
                    pump.cancel()
        finally:
            self._consumers.remove(mine)

    async def _fan_out(self, kept: Subscription) -> None:
        async for message in kept:
            if self._clock.monotonic() < self._until:
                self.backlog.append(message)
            elif self.backlog:
                self.backlog.clear()
            for consumer in self._consumers:
                consumer.offer_once(message)


async def _pump(source: AsyncIterator[BusMessage], into: _Consumer) -> None:
    async for message in source:
        into.offer_once(message)
