"""The MQTT bus over aiomqtt: one client kept connected forever, implementing `controllers.bus.BusPort`.

Reconnection lives outside the client (aiomqtt's recommended shape): a loop that enters `aiomqtt.Client`, resubscribes
every live filter, runs the `on_connect` hooks, then dispatches messages until the connection drops, and waits an
exponential backoff with full jitter before the next attempt. TCP_NODELAY is set on the socket (a QoS 1 round trip
costs ~88 ms without it).

Subscriptions (`Bus.subscribe`) each own a bounded queue. Overflow policy: the oldest message is dropped and counted
in `Subscription.dropped` (a consumer that slow has lost the live picture anyway; the recorder relies on its persistent
session, not on this queue, to keep telemetry across its restarts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from types import TracebackType
from typing import Any, Self

import aiomqtt
from paho.mqtt.client import error_string as paho_error_string
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import BaseModel, ConfigDict, Field

from controllers.bus import BusError, BusMessage
from gateways import mqtt_socket

log = logging.getLogger(__name__)

OnConnect = Callable[[], Awaitable[None]]


class BusWill(BaseModel):
    """Last Will: published by the broker when this client vanishes without a clean disconnect."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: str
    payload: bytes
    retain: bool = True
    qos: int = Field(default=1, ge=0, le=2)


class BusConfig(BaseModel):
    """Where and how to connect. Times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str
    port: int = Field(ge=1, le=65535)
    client_id: str = Field(min_length=1, max_length=64)
    username: str | None = None
    password: str | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    clean_session: bool = True
    mqtt_v5: bool = False
    will: BusWill | None = None
    connect_timeout_s: float = Field(default=10.0, gt=0)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    session_expiry_s: int = Field(default=7 * 86400, ge=0, description="MQTT 5: how long the broker keeps a "
                                  "persistent session (clean_session=False) of a disconnected client")
    manual_ack: bool = Field(default=False, description="QoS 1 messages are acknowledged by the consumer calling "
                             "`Bus.ack` (after it has made them durable), not on receipt; every delivered message "
                             "must then be acked")
    receive_maximum: int = Field(default=10_000, ge=1, le=65535, description="MQTT 5: unacknowledged QoS 1 "
                                 "messages the broker may send us at once (with manual_ack, our memory bound)")
    max_inflight: int = Field(default=1000, ge=1, description="unacknowledged QoS 1 publishes in flight")


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
    """An async context manager holding one MQTT connection, reconnected forever. Reusable, not re-entrant."""

    def __init__(self, config: BusConfig) -> None:
        self.config = config
        self._subs: list[Subscription] = []
        self._hooks: list[OnConnect] = []
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._stack: AsyncExitStack | None = None
        self._tg: asyncio.TaskGroup | None = None
        self.connects = 0
        # manual_ack: delivered messages not acknowledged yet, by identity -> (connection number, mid, qos).
        self._unacked: dict[int, tuple[int, int, int]] = {}
        self._generation = 0  # one per connection attempt: acks only go to the connection that delivered
        # QoS 1/2 publishes waiting for the broker's acknowledgement, by paho message id (this connection's).
        self._awaiting: dict[int, asyncio.Future[None]] = {}

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def add_on_connect(self, hook: OnConnect) -> None:
        """Run `hook` after every (re)connection, once subscriptions are restored (e.g. republish births)."""
        self._hooks.append(hook)

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("Bus is not re-entrant")
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

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected; raises BusError after `timeout_s`."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        except TimeoutError:
            raise BusError(f"not connected to {self.config.host}:{self.config.port} within {timeout_s} s") from None

    def _new_client(self) -> aiomqtt.Client:
        c = self.config
        will = aiomqtt.Will(c.will.topic, c.will.payload, c.will.qos, c.will.retain) if c.will else None
        extra: dict[str, Any] = {}
        if c.mqtt_v5:
            # MQTT 5 spells a persistent session as clean_start=False plus a session expiry interval.
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0 if c.clean_session else c.session_expiry_s
            props.ReceiveMaximum = c.receive_maximum
            extra = {"clean_start": c.clean_session, "properties": props}
        return aiomqtt.Client(
            c.host, c.port, identifier=c.client_id, username=c.username, password=c.password,
            keepalive=c.keepalive_s, will=will, timeout=c.connect_timeout_s,
            protocol=aiomqtt.ProtocolVersion.V5 if c.mqtt_v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if c.mqtt_v5 else c.clean_session,
            max_inflight_messages=c.max_inflight,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            **extra,
        )

    async def _run(self) -> None:
        delay = self.config.backoff_initial_s
        while True:
            client = self._new_client()
            self._generation += 1
            # Messages go straight from paho's callback to the subscriptions' queues: aiomqtt's `client.messages`
            # costs a task and an asyncio.wait per message, which capped intake at a few thousand messages a
            # second. Set before connecting: a persistent session's queued messages arrive right after CONNACK.
            # Both private attributes are pinned by uv.lock (aiomqtt 2.5).
            client._client.on_message = lambda _c, _u, m: self._dispatch(m.topic, m.payload, m.retain, m.qos, m.mid)
            # Publishes go straight to paho too (see `publish`): their acknowledgements resolve our futures.
            client._client.on_publish = self._on_publish
            mqtt_socket.install(client._client, asyncio.get_running_loop())
            if self.config.manual_ack:
                client._client.manual_ack_set(True)
            try:
                async with client:
                    self._client = client
                    await self._subscribe_filters(client, self._all_filters())
                    self._connected.set()
                    self.connects += 1
                    delay = self.config.backoff_initial_s
                    log.info("bus_connected client_id=%s broker=%s:%d connects=%d", self.config.client_id,
                             self.config.host, self.config.port, self.connects)
                    assert self._tg is not None
                    for hook in self._hooks:
                        self._tg.create_task(self._run_hook(hook))
                    # shield: cancelling this wait must not cancel the client's own future, or aiomqtt's
                    # __aexit__ would take the connection for closed and skip the DISCONNECT.
                    await asyncio.shield(client._disconnected)
            except aiomqtt.MqttError as exc:
                log.warning("bus_disconnected client_id=%s error=%s retry_in_s=%.2f", self.config.client_id,
                            exc, delay)
            finally:
                self._connected.clear()
                self._client = None
                awaiting, self._awaiting = self._awaiting, {}
                for future in awaiting.values():
                    if not future.done():
                        future.set_exception(BusError("connection lost before the broker acknowledged"))
                self._unacked = {k: v for k, v in self._unacked.items() if v[0] != self._generation}
            # Full jitter: spreads a fleet of clients reconnecting after a broker restart.
            await asyncio.sleep(random.uniform(0, delay))
            delay = min(delay * 2, self.config.backoff_max_s)

    async def _run_hook(self, hook: OnConnect) -> None:
        try:
            await hook()
        except BusError as exc:
            log.warning("bus_on_connect_failed client_id=%s error=%s", self.config.client_id, exc)

    def _all_filters(self) -> list[str]:
        return sorted({f for s in self._subs for f in s.filters})

    async def _subscribe_filters(self, client: aiomqtt.Client, filters: list[str]) -> None:
        if filters:
            await client.subscribe([(f, 1) for f in filters], timeout=self.config.connect_timeout_s)

    def _dispatch(self, topic: str, payload: bytes | bytearray, retain: bool, qos: int, mid: int = 0) -> None:
        bus_message = BusMessage(topic, bytes(payload), bool(retain), int(qos))
        if self.config.manual_ack and qos > 0:
            self._unacked[id(bus_message)] = (self._generation, mid, qos)
        levels = topic.split("/")
        for sub in self._subs:
            if sub.matches(levels):
                sub.offer(bus_message)

    def ack(self, message: BusMessage) -> None:
        """With `manual_ack`: acknowledge a delivered message once it is safe (written or spooled). A message from
        a connection that has since dropped is not acked: the broker redelivers it on the new connection (the
        store overwrites the duplicate). Does nothing for QoS 0 or without manual_ack."""
        entry = self._unacked.pop(id(message), None)
        client = self._client
        if entry is None or client is None or entry[0] != self._generation:
            return
        client._client.ack(entry[1], entry[2])

    @property
    def unacked(self) -> int:
        return len(self._unacked)

    def _on_publish(self, _client: Any, _userdata: Any, mid: int, _reason: Any, _properties: Any) -> None:
        future = self._awaiting.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        """Publish and wait for the broker's acknowledgement (QoS 1/2). Raises BusError after the publish timeout.

        Straight through paho rather than `aiomqtt.Client.publish`, which costs a task (`wait_for`), an Event and a
        scan of every pending call per publish (and logs a warning per publish beyond ten in flight): at a gateway's
        thousands of publishes a second that was a third of its CPU. A publish whose connection drops before the
        acknowledgement is sent again on the next connection within the same deadline (at least once, as QoS 1
        promises)."""
        data = encode_payload(payload)
        timeout = self.config.publish_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if not self._connected.is_set():
                try:
                    await self.wait_connected(max(0.0, deadline - loop.time()))
                except BusError as exc:
                    raise BusError(f"publish to {topic} failed: {exc}") from None
            client = self._client
            if client is None:
                await asyncio.sleep(0.01)
                continue
            info = client._client.publish(topic, data, qos, retain)
            if info.rc != 0:
                if loop.time() >= deadline:
                    raise BusError(f"publish to {topic} failed: {paho_error_string(info.rc)}")
                await asyncio.sleep(0.05)
                continue
            if qos == 0 or info.is_published():
                return
            future: asyncio.Future[None] = loop.create_future()
            self._awaiting[info.mid] = future
            try:
                async with asyncio.timeout_at(deadline):
                    await future
                return
            except TimeoutError:
                raise BusError(f"publish to {topic} failed: not acknowledged within {timeout:g} s") from None
            except BusError:
                # The connection dropped under us: wait for the next one within the same deadline.
                if loop.time() >= deadline:
                    raise BusError(f"publish to {topic} failed: connection lost") from None
            finally:
                if self._awaiting.get(info.mid) is future:
                    del self._awaiting[info.mid]

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
            client = self._client
            if client is not None and self._connected.is_set():
                try:
                    await self._subscribe_filters(client, list(filters))
                except aiomqtt.MqttError as exc:
                    # The reconnect loop resubscribes every live filter, so this one is restored then.
                    log.warning("bus_subscribe_deferred filters=%s error=%s", ",".join(filters), exc)
            yield sub
        finally:
            self._subs.remove(sub)
            still = set(self._all_filters())
            gone = [f for f in filters if f not in still]
            client = self._client
            # A persistent session is meant to outlive this process: its subscriptions stay on the broker, which
            # keeps queueing QoS 1 messages for the next run. A clean session unsubscribes what nobody wants now.
            if gone and client is not None and self._connected.is_set() and self.config.clean_session:
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.unsubscribe(gone, timeout=self.config.connect_timeout_s)
