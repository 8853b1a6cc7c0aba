"""One MQTT connection on `asyncio.Protocol`: the project's own client, shared by the `Bus` and the `MqttIntake`.

Why our own: paho reads a packet with ~4 syscalls and aiomqtt runs an event-loop iteration (and, on publish, a task
and a scan of every pending call) per packet, which capped the recorder at a few thousand messages a second and cost
the gateway a third of its CPU; reaching into both libraries' private attributes to avoid that broke silently. Here
one `data_received` chunk is cut into all the frames it holds (frames split across chunks are joined), PUBLISH and
PUBACK are decoded inline, and the writes of one event-loop iteration leave in one `send` (gathered, flushed with
`call_soon`; TCP_NODELAY is on, so nothing waits longer than that).

What one connection does:
- CONNECT (client id, username/password, keepalive, clean session, will; MQTT 3.1.1, or 5 with Clean Start,
  SessionExpiryInterval and ReceiveMaximum) and CONNACK: a refusal that retrying cannot cure (bad credentials, not
  authorized, identifier rejected, protocol version...) is `BrokerRefusedError`; others (server unavailable, busy)
  are a `ConnectionError`, retried like a lost connection.
- SUBSCRIBE/UNSUBSCRIBE (QoS 1) answered by SUBACK/UNSUBACK, matched by packet id.
- PUBLISH QoS 0, and QoS 1 with a future per packet id resolved by its PUBACK; at most `max_inflight` (or the
  broker's MQTT 5 Receive Maximum, when smaller) unacknowledged at once, further publishes wait for a slot. An MQTT 5
  PUBACK with a failure reason fails the publish with `PublishRefusedError`.
- Received PUBLISH (QoS 0 and 1; QoS 2 is a protocol error since we subscribe with maximum QoS 1; MQTT 5 properties
  skipped, topic aliases refused) appended to the sink's inbox as `InboundMessage`s, then `sink.received` once per
  chunk. Acks: on receipt (one write per chunk) or, with `manual_ack`, by the owner calling `ack`.
- Keepalive: PINGREQ when nothing was sent for half the keepalive (the broker's Server Keep Alive wins in MQTT 5); a
  connection that received nothing for 1.5 keepalives (time paused by flow control not counted) is dropped.
- A malformed frame drops the connection with a `<name>_protocol_error` log, never a crash. Everything waiting on a
  lost connection (CONNACK, acks) gets a `ConnectionError`.
Reconnection and endpoint failover are not here: see `gateways.mqtt.reconnect`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from typing import Any, NamedTuple, Protocol

from controllers.bus import BusError
from gateways.mqtt.codec import (
    CONNACK,
    DISCONNECT,
    DISCONNECT_FRAME,
    PINGREQ_FRAME,
    PINGRESP,
    PROP_REASON_STRING,
    PROP_RECEIVE_MAXIMUM,
    PUBACK,
    SUBACK,
    UNSUBACK,
    ProtocolError,
    connack_retryable,
    connect_frame,
    decode_utf8,
    decode_varint,
    parse_properties,
    puback_frames,
    publish_frame,
    reason_text,
    subscribe_frame,
    unsubscribe_frame,
    utf8,
)
from gateways.mqtt.config import BusConfig, Endpoint

log = logging.getLogger(__name__)


class BrokerRefusedError(BusError):
    """The broker refused what the client needs (connection or subscription) for a reason retrying cannot cure."""


class PublishRefusedError(BusError):
    """The broker refused a publish (MQTT 5 PUBACK reason code >= 0x80, e.g. 0x87 not authorized)."""


class InboundMessage(NamedTuple):
    """A received PUBLISH. `topic`, `payload`, `retain`, `qos` as in `controllers.bus.BusMessage`; `mid` (packet id,
    0 for QoS 0) and `generation` (the connection that delivered it) are what a manual ack needs."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    mid: int
    generation: int


class Sink(Protocol):
    """Where a connection puts what it receives."""

    #: received messages are appended here, in order
    inbox: list[InboundMessage]
    #: topic bytes -> str, shared across connections so consumers reuse one str (and its hash) per topic
    topics: dict[bytes, str]

    def received(self, conn: Connection, n: int) -> None:
        """`n` messages were appended to `inbox` (called once per chunk read)."""


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection to a broker. Made by `open_connection`."""

    def __init__(self, config: BusConfig, sink: Sink, generation: int, *, name: str = "mqtt") -> None:
        self.config = config
        self.sink = sink
        self.generation = generation
        self.name = name
        self.v5 = config.mqtt_v5
        self.auto_ack = not config.manual_ack
        self.transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[tuple[bool, dict[int, Any]]] = self._loop.create_future()
        self.closed: asyncio.Future[None] = self._loop.create_future()
        self.error: str | None = None  # why we closed it
        self._buf = bytearray()  # the start of a frame not complete yet
        self._need = 0  # bytes `_buf` must hold before parsing is worth trying again
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.paused = False  # reading paused by the owner (flow control)
        self.connack_seen = False
        self._wbuf = bytearray()
        self._flush_handle: asyncio.Handle | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._next_id = 0
        self._pubacks: dict[int, asyncio.Future[None]] = {}
        self._subacks: dict[int, asyncio.Future[tuple[list[int], dict[int, Any]]]] = {}
        self._slots = asyncio.Semaphore(config.max_inflight)
        self._topic_bytes: dict[str, bytes] = {}
        self.sends = 0  # transport writes (each a gathered batch of frames)

    # --- transport callbacks --------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # asyncio sets it too; said here because a QoS 1 round trip costs ~88 ms without it.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.error or (f"connection lost: {exc}" if exc else "connection closed by the broker")
        self.error = reason
        futures: list[asyncio.Future[Any]] = [self.connack, self.closed, *self._pubacks.values(),
                                              *self._subacks.values()]
        for fut in futures:
            if not fut.done():
                fut.set_exception(ConnectionError(reason))
                fut.exception()  # retrieved: nobody may be waiting on it any more
        self._writable.set()  # waiting writers find the connection closed
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # --- writing --------------------------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and not self.closed.done()

    def write(self, data: bytes) -> None:
        """Queue `data`; everything queued in this event-loop iteration leaves in one write."""
        if not self.is_open:
            return
        self._wbuf += data
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        if self._wbuf and self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes(self._wbuf))
            self.sends += 1
            self.last_sent = time.monotonic()
        self._wbuf.clear()

    def flush(self) -> None:
        """Write what is queued now."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._flush()

    def close(self) -> None:
        """Clean close: queued frames, then DISCONNECT (so no will is published; a persistent session stays)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            self.flush()
            transport.write(DISCONNECT_FRAME)
            transport.close()

    def fail(self, reason: str, event: str = "protocol_error") -> None:
        """Drop the connection (a protocol error, a dead link), logged; the owner reconnects."""
        if self.error is None:
            self.error = reason
            log.warning("%s_%s client_id=%s error=%s", self.name, event, self.config.client_id, reason)
        if self.transport is not None:
            self.transport.abort()

    def pause_reading(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.last_received = time.monotonic()  # the time paused does not count against keepalive
            self.transport.resume_reading()

    # --- requests -------------------------------------------------------------------------------------------------
    def _packet_id(self) -> int:
        for _ in range(65535):
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._pubacks and self._next_id not in self._subacks:
                return self._next_id
        raise BusError("no free MQTT packet identifier")  # unreachable: max_inflight <= 65535

    def _encoded_topic(self, topic: str) -> bytes:
        encoded = self._topic_bytes.get(topic)
        if encoded is None:
            encoded = utf8(topic)
            if len(self._topic_bytes) >= 100_000:
                self._topic_bytes.clear()
            self._topic_bytes[topic] = encoded
        return encoded

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        """Send a PUBLISH; for QoS 1 wait for its PUBACK (no timeout here: the caller bounds it). Raises
        ConnectionError when the connection is (or gets) lost first, PublishRefusedError (MQTT 5), ValueError for
        QoS 2 or a topic longer than 65535 bytes."""
        if qos not in (0, 1):
            raise ValueError(f"QoS {qos} is not supported (0 or 1)")
        if not self._writable.is_set():
            await self._writable.wait()
        if not self.is_open:
            raise ConnectionError(self.error or "connection closed")
        encoded = self._encoded_topic(topic)
        if not qos:
            self.write(publish_frame(encoded, payload, qos=0, retain=retain, packet_id=0, v5=self.v5))
            return
        async with self._slots:
            if not self.is_open:
                raise ConnectionError(self.error or "connection closed")
            mid = self._packet_id()
            future: asyncio.Future[None] = self._loop.create_future()
            self._pubacks[mid] = future
            self.write(publish_frame(encoded, payload, qos=1, retain=retain, packet_id=mid, v5=self.v5))
            try:
                await future
            finally:
                if self._pubacks.get(mid) is future:
                    del self._pubacks[mid]

    async def _request(self, frame_of: Any, filters: list[str]) -> tuple[list[int], dict[int, Any]]:
        if not self.is_open:
            raise ConnectionError(self.error or "connection closed")
        mid = self._packet_id()
        future: asyncio.Future[tuple[list[int], dict[int, Any]]] = self._loop.create_future()
        self._subacks[mid] = future
        self.write(frame_of(mid, filters, v5=self.v5))
        try:
            return await future
        finally:
            self._subacks.pop(mid, None)

    async def subscribe(self, filters: list[str], qos: int = 1) -> tuple[list[int], dict[int, Any]]:
        """SUBSCRIBE `filters` at `qos` (0 or 1): (return codes in filter order, MQTT 5 properties). Raises
        ConnectionError."""
        return await self._request(lambda mid, fs, v5: subscribe_frame(mid, fs, v5=v5, qos=qos), filters)

    async def unsubscribe(self, filters: list[str]) -> None:
        """UNSUBSCRIBE `filters` and wait for the UNSUBACK. Raises ConnectionError."""
        await self._request(unsubscribe_frame, filters)

    def ack(self, mids: list[int]) -> None:
        """PUBACK packet ids `mids` (messages of this connection), in one write."""
        if mids:
            self.write(puback_frames(mids))

    async def keep_alive(self, keepalive: int) -> None:
        """PINGREQ when idle; drop a connection that stopped talking. Returns never; raises ConnectionError when
        the connection is lost (the reason in its message)."""
        interval = keepalive / 2 if keepalive else 30.0
        while True:
            done, _ = await asyncio.wait({self.closed}, timeout=interval / 2)
            if done:
                self.closed.result()
                raise ConnectionError(self.error or "connection closed")
            now = time.monotonic()
            if keepalive and now - self.last_sent >= interval:
                self.write(PINGREQ_FRAME)
            if keepalive and not self.paused and now - self.last_received > 1.5 * keepalive:
                self.fail(f"nothing received for {now - self.last_received:.1f} s (keepalive {keepalive} s)",
                          "dead_connection")

    # --- reading --------------------------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return
            data = bytes(self._buf)
            self._buf.clear()
        inbox = self.sink.inbox
        count = len(inbox)
        try:
            pos = self._parse(data)
        except ProtocolError as exc:
            self.fail(str(exc))
            pos = len(data)
        except (IndexError, ValueError) as exc:  # a length field that points outside its frame
            self.fail(f"malformed packet: {exc!r}")
            pos = len(data)
        if pos < len(data):
            self._buf += data[pos:]
        received = len(inbox) - count
        if received:  # what came before a bad frame is delivered too (its acks will not reach the broker)
            if self.auto_ack and self.error is None:
                self.ack([m.mid for m in inbox[count:] if m.qos])
            self.sink.received(self, received)

    def _parse(self, data: bytes) -> int:
        """Handle every complete frame of `data`; returns where the incomplete rest starts (and sets `_need`).

        The hot loop of every client, so PUBLISH and PUBACK are decoded inline: every bytecode counts at 50 000
        frames a second.
        """
        append = self.sink.inbox.append
        generation = self.generation
        v5 = self.v5
        topics = self.sink.topics
        pubacks = self._pubacks
        new = tuple.__new__
        message = InboundMessage
        connack_seen = self.connack_seen
        size = len(data)
        need = 0
        pos = 0
        while pos + 1 < size:
            first = data[pos]
            length = data[pos + 1]
            start = pos + 2
            if length > 0x7F:  # a remaining length of 2 bytes or more
                if start >= size:
                    need = 3
                    break
                byte = data[start]
                start += 1
                length = (length & 0x7F) | ((byte & 0x7F) << 7)
                if byte > 0x7F:
                    decoded = decode_varint(data, pos + 1)
                    if decoded is None:
                        need = size - pos + 1
                        break
                    length, start = decoded
            end = start + length
            if end > size:
                need = end - pos
                break
            if first & 0xF0 == 0x30 and connack_seen:  # PUBLISH
                p = start + 2
                topic_len = (data[start] << 8) | data[start + 1]
                if not 0 < topic_len <= length - 2:
                    raise ProtocolError("PUBLISH topic longer than the packet" if topic_len else
                                        "PUBLISH without a topic name (topic aliases are not allowed)")
                raw = data[p:p + topic_len]
                p += topic_len
                topic = topics.get(raw) or self._topic(raw)
                if first & 0x06:
                    if first & 0x06 != 0x02:
                        raise ProtocolError(f"PUBLISH with QoS {(first >> 1) & 3} but the subscription is QoS 1")
                    mid = (data[p] << 8) | data[p + 1]
                    p += 2
                    qos = 1
                else:
                    mid = qos = 0
                if v5:
                    p = self._skip_properties(data, p, end)
                if p > end:
                    raise ProtocolError("PUBLISH header longer than the packet")
                append(new(message, (topic, data[p:end], (first & 1) == 1, qos, mid, generation)))
            elif first == 0x40 and length == 2 and connack_seen:  # PUBACK, success (the short form)
                future = pubacks.pop((data[start] << 8) | data[start + 1], None)
                if future is not None and not future.done():  # none: a publish given up on (timeout)
                    future.set_result(None)
            else:
                self._control(first, data[start:end])
                connack_seen = self.connack_seen
            pos = end
        else:
            if pos < size:
                need = 2
        self._need = need
        return pos

    @staticmethod
    def _skip_properties(data: bytes, p: int, end: int) -> int:
        """Position after the MQTT 5 properties of a PUBLISH starting at `p`."""
        if p >= end:
            raise ProtocolError("PUBLISH without properties")
        got = decode_varint(data, p)
        if got is None:
            raise ProtocolError("truncated PUBLISH properties")
        return got[1] + got[0]

    def _topic(self, raw: bytes) -> str:
        """A topic name, decoded once (bounded cache shared through the sink)."""
        topic = decode_utf8(raw, "topic name")
        topics = self.sink.topics
        if len(topics) >= 100_000:
            topics.clear()
        topics[raw] = topic
        return topic

    def _reason(self, code: int, props: dict[int, Any]) -> str:
        reason = reason_text(code, self.v5)
        if PROP_REASON_STRING in props:
            reason += f": {props[PROP_REASON_STRING]}"
        return reason

    def _control(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if not self.connack_seen and kind != CONNACK:
            raise ProtocolError(f"packet type {kind} before CONNACK")
        if kind == CONNACK:
            self._on_connack(body)
        elif kind == PUBACK:
            if len(body) < 2:
                raise ProtocolError("PUBACK too short")
            future = self._pubacks.pop(body[0] << 8 | body[1], None)
            code = body[2] if len(body) > 2 else 0
            if future is None or future.done():
                return
            if code >= 0x80:
                props = parse_properties(body, 3)[0] if len(body) > 3 else {}
                future.set_exception(PublishRefusedError(f"broker refused the publish: {self._reason(code, props)}"))
            else:
                future.set_result(None)
        elif kind in (SUBACK, UNSUBACK):
            if len(body) < 2 + (kind == SUBACK):
                raise ProtocolError(f"{'SUBACK' if kind == SUBACK else 'UNSUBACK'} too short")
            pending = self._subacks.pop(body[0] << 8 | body[1], None)
            if pending is None:
                raise ProtocolError(f"{'SUBACK' if kind == SUBACK else 'UNSUBACK'} for a request we did not send")
            props, pos = parse_properties(body, 2) if self.v5 and len(body) > 2 else ({}, 2)
            if not pending.done():
                pending.set_result((list(body[pos:]), props))
        elif kind == PINGRESP:
            pass
        elif kind == DISCONNECT and self.v5:
            code = body[0] if body else 0
            props = parse_properties(body, 1)[0] if len(body) > 1 else {}
            reason = self._reason(code, props)
            self.error = f"broker disconnected: {reason}"
            log.warning("%s_broker_disconnect client_id=%s reason=%s", self.name, self.config.client_id, reason)
            if self.transport is not None:
                self.transport.close()
        else:
            raise ProtocolError(f"unexpected packet type {kind} (first byte 0x{first:02x})")

    def _on_connack(self, body: bytes) -> None:
        if self.connack_seen:
            raise ProtocolError("second CONNACK")
        self.connack_seen = True
        if self.connack.done():  # given up at the connect timeout: a late answer must not revive the session here
            raise ProtocolError("CONNACK after the connection was given up")
        if len(body) < 2:
            raise ProtocolError("CONNACK too short")
        props = parse_properties(body, 2)[0] if self.v5 and len(body) > 2 else {}
        code = body[1]
        if code:
            reason = self._reason(code, props)
            if self.v5 and code == 0x01:
                reason += " (the broker speaks MQTT 3.1.1 only: set mqtt_v5 off)"
            retryable = connack_retryable(code, self.v5)
            self.connack.set_exception(ConnectionError(f"connection refused: {reason}") if retryable
                                       else BrokerRefusedError(f"broker refused the connection: {reason}"))
            self.connack.exception()
            return
        receive_maximum = props.get(PROP_RECEIVE_MAXIMUM)
        if receive_maximum is not None and receive_maximum < self.config.max_inflight:
            self._slots = asyncio.Semaphore(receive_maximum)  # the broker's bound on our unacknowledged publishes
        self.connack.set_result((bool(body[0] & 0x01), props))


async def open_connection(config: BusConfig, endpoint: Endpoint, tls: ssl.SSLContext | None, sink: Sink,
                          generation: int, *, name: str = "mqtt") -> tuple[Connection, bool, dict[int, Any]]:
    """Connect to `endpoint` (TLS with `tls` for an mqtts one), send CONNECT, wait for CONNACK, all within
    `config.connect_timeout_s`. Returns (connection, session present, CONNACK properties). Raises OSError (ssl
    errors included), TimeoutError, ConnectionError, BrokerRefusedError."""
    loop = asyncio.get_running_loop()
    conn: Connection | None = None
    if endpoint.tls and tls is None:
        raise ValueError(f"{endpoint.url} needs a TLS context")
    try:
        async with asyncio.timeout(config.connect_timeout_s):
            _, conn = await loop.create_connection(
                lambda: Connection(config, sink, generation, name=name), endpoint.host, endpoint.port,
                ssl=tls if endpoint.tls else None, server_hostname=endpoint.host if endpoint.tls else None)
            conn.write(connect_frame(config))
            conn.flush()
            session_present, props = await conn.connack
    except BaseException:
        if conn is not None and conn.transport is not None:
            conn.transport.abort()
        raise
    return conn, session_present, props
