"""The MQTT bus: one connection of our own kept up forever, implementing `controllers.bus.BusPort`.

The connection is `gateways.mqtt.connection` (QoS 1 publishes with a future per packet id, bounded in flight, writes
of one event-loop iteration gathered into one send, TCP_NODELAY, TLS, will, credentials); reconnection and endpoint
failover are `gateways.mqtt.reconnect` (backoff with full jitter, forever). After every connection the Bus subscribes
every live filter, then runs the `on_connect` hooks (a gateway announces itself `online` and republishes its devices
there, so its presence means the same on whichever broker it lands after a failover).

Subscriptions (`Bus.subscribe`) each own a bounded queue. Overflow policy: the oldest message is dropped and counted
in `Subscription.dropped` (a consumer that slow has lost the live picture anyway; the recorder relies on its persistent
session, not on this queue, to keep telemetry across its restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Any, Self

from controllers.bus import BusError, BusMessage
from gateways.mqtt.codec import suback_final, suback_text
from gateways.mqtt.config import BusConfig, BusWill
from gateways.mqtt.connection import BrokerRefusedError, Connection, InboundMessage, PublishRefusedError
from gateways.mqtt.reconnect import ConnectionKeeper

__all__ = ["Bus", "BusConfig", "BusWill", "Subscription", "encode_payload", "filter_matches"]

log = logging.getLogger(__name__)

OnConnect = Callable[[], Awaitable[None]]


class Subscription:
    """One consumer's view of the bus: a bounded queue of messages matching its filters."""

    def __init__(self, filters: tuple[str, ...], queue_size: int) -> None:
        self.filters = filters
        self.queue: asyncio.Queue[BusMessage] = asyncio.Queue(maxsize=queue_size)
        self.dropped = 0
        # `$share/{group}/` is how the broker spreads messages; the topics delivered match the rest of the filter.
        self._levels = [f.split("/")[2:] if f.startswith("$share/") else f.split("/") for f in filters]

    def matches(self, topic_levels: list[str]) -> bool:
        return any(filter_matches(f, topic_levels) for f in self._levels)

    def offer(self, message: BusMessage) -> None:
        """Enqueue without blocking; when full, drop the oldest message and count it."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("bus_queue_overflow filters=%s dropped=%d", ",".join(self.filters), self.dropped)
        self.queue.put_nowait(message)

    def __aiter__(self) -> AsyncIterator[BusMessage]:
        return self

    async def __anext__(self) -> BusMessage:
        return await self.queue.get()


def filter_matches(filter_levels: list[str], topic_levels: list[str]) -> bool:
    """MQTT wildcard matching of a topic against a filter, both split on "/"."""
    for i, f in enumerate(filter_levels):
        if f == "#":
            return True
        if i >= len(topic_levels) or (f != "+" and f != topic_levels[i]):
            return False
    return len(filter_levels) == len(topic_levels)


def encode_payload(payload: bytes | dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a dict; bytes unchanged."""
    if isinstance(payload, bytes):
        return payload
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


class Bus:
    """An async context manager holding one MQTT connection, reconnected forever. Reusable, not re-entrant.

    Raises ValueError on entry for an unreadable TLS file. A broker refusing us for good (bad credentials, not
    authorized) ends the bus: the body is cancelled and `BrokerRefusedError` comes out of the `async with`
    (in an ExceptionGroup, as from any TaskGroup), and `publish`/`wait_connected` raise it meanwhile."""

    def __init__(self, config: BusConfig) -> None:
        self.config = config
        self.inbox: list[InboundMessage] = []  # the connection's sink: drained on every `received`
        self.topics: dict[bytes, str] = {}
        self._subs: list[Subscription] = []
        self._hooks: list[OnConnect] = []
        self._keeper: ConnectionKeeper | None = None
        self._stack: AsyncExitStack | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._error: BrokerRefusedError | None = None
        # manual_ack: delivered messages not acknowledged yet, by identity -> (connection number, mid).
        self._unacked: dict[int, tuple[int, int]] = {}

    @property
    def connected(self) -> bool:
        return self._keeper is not None and self._keeper.connected.is_set()

    @property
    def connects(self) -> int:
        return self._keeper.connects if self._keeper is not None else 0

    @property
    def connection(self) -> Connection | None:
        """The live connection (None between connections)."""
        return self._keeper.conn if self._keeper is not None else None

    def add_on_connect(self, hook: OnConnect) -> None:
        """Run `hook` after every (re)connection, once subscriptions are restored (e.g. republish births)."""
        self._hooks.append(hook)

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("Bus is not re-entrant")
        self._keeper = ConnectionKeeper(self.config, self, name="bus")
        self._error = None
        self._stack = AsyncExitStack()
        self._tg = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._runner = self._tg.create_task(self._run(), name=f"bus-{self.config.client_id}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._stack is not None
        self._runner.cancel()
        try:
            # The body's own exception propagates unchanged (not wrapped in the task group's ExceptionGroup).
            await self._stack.aclose()
        finally:
            self._stack = None
            self._tg = None

    async def _run(self) -> None:
        assert self._keeper is not None
        try:
            await self._keeper.run(self._on_up, self._on_down)
        except BrokerRefusedError as exc:
            self._error = exc
            raise

    def _not_connected(self, timeout_s: float) -> BusError:
        last = self._keeper.last_error if self._keeper is not None else None
        return BusError(f"not connected to {self.config.brokers} within {timeout_s:g} s" + (f": {last}" if last
                                                                                             else ""))

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected; raises BusError after `timeout_s` naming the last connection error."""
        if self._error is not None:
            raise self._error
        if self._keeper is None:
            raise BusError("the bus is not running (use `async with Bus(...)`)")
        try:
            await asyncio.wait_for(self._keeper.connected.wait(), timeout_s)
        except TimeoutError:
            raise (self._error or self._not_connected(timeout_s)) from None

    async def _on_up(self, conn: Connection, session_present: bool) -> None:
        filters = self._all_filters()
        if filters:
            async with asyncio.timeout(self.config.connect_timeout_s):
                codes, _ = await conn.subscribe(filters, qos=self.config.subscribe_qos)
            if self._check_codes(filters, codes):
                # Not running deaf: a subscription the broker cannot serve now is asked for again on a new
                # connection (after the reconnect backoff), where it may be served.
                raise ConnectionError("the broker refused a subscription for now")
        assert self._tg is not None
        for hook in self._hooks:
            # Run once `connected` is set (right after this returns): hooks publish.
            self._tg.create_task(self._run_hook(hook))

    def _on_down(self) -> None:
        if self._unacked:
            generation = self._keeper.generation if self._keeper is not None else 0
            self._unacked = {k: v for k, v in self._unacked.items() if v[0] != generation}

    def _check_codes(self, filters: list[str], codes: list[int]) -> bool:
        """Log refused subscriptions; True when one of them may be served on another try. A refusal for good (MQTT
        5: not authorized, invalid filter) is not fatal: the other subscriptions still work, and an ACL that refuses
        this one is a setup error. MQTT 3.1.1's one failure code (0x80) is also what a broker answers while it
        cannot serve a subscription for now (NATS while JetStream elects a leader): that one is retried."""
        retry = len(codes) != len(filters)
        for f, code in zip(filters, codes, strict=False):
            if code >= 0x80:
                final = suback_final(code, self.config.mqtt_v5)
                retry = retry or not final
                log.error("bus_subscription_refused client_id=%s filter=%s code=%s retry=%s", self.config.client_id,
                          f, suback_text(code, self.config.mqtt_v5), not final)
        return retry

    async def _run_hook(self, hook: OnConnect) -> None:
        try:
            await hook()
        except BusError as exc:
            log.warning("bus_on_connect_failed client_id=%s error=%s", self.config.client_id, exc)

    def _all_filters(self) -> list[str]:
        return sorted({f for s in self._subs for f in s.filters})

    # --- the sink of the connection -------------------------------------------------------------------------------
    def received(self, conn: Connection, n: int) -> None:
        messages, self.inbox = self.inbox, []
        manual = self.config.manual_ack
        subs = self._subs
        for m in messages:
            bus_message = BusMessage(m.topic, m.payload, m.retain, m.qos)
            if manual and m.qos:
                self._unacked[id(bus_message)] = (m.generation, m.mid)
            levels = m.topic.split("/")
            for sub in subs:
                if sub.matches(levels):
                    sub.offer(bus_message)

    def ack(self, message: BusMessage) -> None:
        """With `manual_ack`: acknowledge a delivered message once it is safe (written or spooled). A message from
        a connection that has since dropped is not acked: the broker redelivers it on the new connection (the
        store overwrites the duplicate). Does nothing for QoS 0 or without manual_ack."""
        entry = self._unacked.pop(id(message), None)
        conn = self.connection
        if entry is None or conn is None or entry[0] != conn.generation:
            return
        conn.ack([entry[1]])

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    # --- publishing -----------------------------------------------------------------------------------------------
    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        """Publish and wait for the broker's acknowledgement (QoS 1). Raises BusError after the publish timeout
        (`PublishRefusedError` when an MQTT 5 broker refuses it, `BrokerRefusedError` when the bus ended), ValueError
        for QoS 2. A publish whose connection drops before the acknowledgement is sent again on the next connection
        within the same deadline (at least once, as QoS 1 promises)."""
        data = encode_payload(payload)
        timeout = self.config.publish_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            conn = self.connection
            if conn is None or not self.connected:
                try:
                    await self.wait_connected(max(0.0, deadline - loop.time()))
                except BusError as exc:
                    if isinstance(exc, BrokerRefusedError):
                        raise
                    raise BusError(f"publish to {topic} failed: {exc}") from None
                continue
            try:
                if qos == 0:
                    await conn.publish(topic, data, qos=0, retain=retain)
                    return
                async with asyncio.timeout_at(deadline):
                    await conn.publish(topic, data, qos=qos, retain=retain)
                return
            except TimeoutError:
                raise BusError(f"publish to {topic} failed: not acknowledged within {timeout:g} s") from None
            except PublishRefusedError as exc:
                raise PublishRefusedError(f"publish to {topic} failed: {exc}") from None
            except ConnectionError:
                # The connection dropped under us: wait for the next one within the same deadline.
                if loop.time() >= deadline:
                    raise BusError(f"publish to {topic} failed: connection lost") from None
                await asyncio.sleep(0)

    # --- subscribing ----------------------------------------------------------------------------------------------
    def subscribe(self, *filters: str, queue_size: int = 10_000) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to `filters` (QoS 1) for the life of the context; survives reconnects.

        With a persistent session (clean_session=False) the broker keeps the subscription after the context ends,
        so messages published meanwhile wait for the next run."""
        return self._subscription(filters, queue_size)

    @contextlib.asynccontextmanager
    async def _subscription(self, filters: tuple[str, ...], queue_size: int) -> AsyncIterator[Subscription]:
        if not filters:
            raise ValueError("subscribe needs at least one topic filter")
        sub = Subscription(filters, queue_size)
        self._subs.append(sub)
        try:
            # On the live connection even before `connected`: its resubscription may have listed the filters
            # already without this one.
            conn = self.connection
            if conn is not None and conn.is_open:
                try:
                    async with asyncio.timeout(self.config.connect_timeout_s):
                        codes, _ = await conn.subscribe(list(filters), qos=self.config.subscribe_qos)
                    if self._check_codes(list(filters), codes):
                        # A new connection resubscribes every live filter, this one included.
                        conn.fail("the broker refused a subscription for now", "subscription_retry")
                except (ConnectionError, TimeoutError) as exc:
                    # The reconnect loop resubscribes every live filter, so this one is restored then.
                    log.warning("bus_subscribe_deferred filters=%s error=%s", ",".join(filters),
                                str(exc) or "timeout")
            yield sub
        finally:
            self._subs.remove(sub)
            still = set(self._all_filters())
            gone = [f for f in filters if f not in still]
            conn = self.connection
            # A persistent session is meant to outlive this process: its subscriptions stay on the broker, which
            # keeps queueing QoS 1 messages for the next run. A clean session unsubscribes what nobody wants now.
            if gone and conn is not None and self.connected and self.config.clean_session:
                with contextlib.suppress(ConnectionError, TimeoutError):
                    async with asyncio.timeout(self.config.connect_timeout_s):
                        await conn.unsubscribe(gone)
