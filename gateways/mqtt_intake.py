"""A lean MQTT *receive* client for high-rate consumers (the recorder), written on `asyncio.Protocol`.

Why not the `Bus` (aiomqtt over paho): paho reads a packet with ~4 syscalls (recv(1) for the header byte, recv(1)
per remaining-length byte, recv(rest)) and aiomqtt runs one event-loop iteration per packet, which caps a consumer
at a few thousand messages a second. Here one `data_received` chunk (up to 256 KiB) is cut into all the frames it
holds, frames split across chunks are joined, and the messages go to the consumer in batches.

What it does (configured from the same `BusConfig` as the `Bus`):
- CONNECT with client id, username/password, keepalive, clean session and the optional will; MQTT 3.1.1, or MQTT 5
  with Clean Start, SessionExpiryInterval (0 for a clean session, else `session_expiry_s`) and ReceiveMaximum.
  CONNACK is checked: a refusal that retrying cannot cure (bad credentials, not authorized, identifier rejected,
  protocol version...) ends the intake with `IntakeError` naming the reason; others (server unavailable, busy)
  are retried like a lost connection.
- SUBSCRIBE of all filters at QoS 1 after every CONNACK (so a broker restart that lost the session is survived);
  SUBACK is checked: a refused filter (0x80 or an MQTT 5 reason code) ends the intake with `IntakeError`.
- PUBLISH QoS 0 and 1. QoS 2 is refused: we subscribe with maximum QoS 1, so a broker must not send it; a QoS 2
  PUBLISH is a protocol error (connection dropped, logged, reconnected). MQTT 5 properties are skipped by their
  length (we never allow topic aliases, so every PUBLISH names its topic).
- Acknowledgement: with `manual_ack` (what the recorder uses) the consumer calls `ack(messages)` once it has made
  them durable; the PUBACK frames go out in one write. An ack reaches only the connection that delivered the
  message (its `generation`): a message from a connection that has since dropped is not acked, the broker
  redelivers it on the new connection. Without `manual_ack`, QoS 1 messages are acked as they are parsed.
- Keepalive: PINGREQ when nothing was sent for half the keepalive (the broker's Server Keep Alive wins in MQTT 5);
  a connection that received nothing for 1.5 keepalives (not counting time paused by flow control) is dead and
  dropped. Reconnects forever with exponential backoff and full jitter; TCP_NODELAY; a clean DISCONNECT on exit.
- A malformed frame drops the connection with an `mqtt_intake_protocol_error` log, never a crash.

Delivery and flow control: `async for batch in intake` yields lists of `IntakeMessage` (at most `max_batch` each),
in the order received. Nothing is dropped: when the messages received but not yet handed back by the consumer
reach `max_pending`, the intake stops reading the socket (`transport.pause_reading()`); TCP backpressure then
holds the broker, which keeps the rest in its queue (QoS 1: the session's queue). Reading resumes when the consumer
comes back for more with the backlog under half the bound. So memory is bounded by `max_pending` plus one read.

Publishing is not supported: the recorder only receives (births come retained on its subscription).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NamedTuple, Self

from gateways.bus import BusConfig

log = logging.getLogger(__name__)

# Packet types (high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

PINGREQ_FRAME = b"\xc0\x00"
DISCONNECT_FRAME = b"\xe0\x00"
_PUBACK = struct.Struct("!BBH")
_SUBSCRIBE_ID = 1

CONNACK_V3 = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
              4: "bad user name or password", 5: "not authorized"}
#: MQTT 5 reason codes (CONNACK, SUBACK, DISCONNECT) we may meet.
REASONS_V5 = {
    0x04: "disconnect with will message", 0x80: "unspecified error", 0x81: "malformed packet",
    0x82: "protocol error", 0x83: "implementation specific error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
    0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8B: "server shutting down",
    0x8C: "bad authentication method", 0x8D: "keep alive timeout", 0x8E: "session taken over",
    0x8F: "topic filter invalid", 0x90: "topic name invalid", 0x93: "receive maximum exceeded",
    0x95: "packet too large", 0x97: "quota exceeded", 0x99: "payload format invalid", 0x9A: "retain not supported",
    0x9B: "qos not supported", 0x9C: "use another server", 0x9D: "server moved",
    0x9E: "shared subscriptions not supported", 0x9F: "connection rate exceeded", 0xA1: "subscription identifiers "
    "not supported", 0xA2: "wildcard subscriptions not supported",
}
#: CONNACK refusals worth retrying (the broker is starting, overloaded or rate limiting); the rest end the intake.
RETRYABLE_CONNACK_V3 = frozenset({3})
RETRYABLE_CONNACK_V5 = frozenset({0x80, 0x83, 0x88, 0x89, 0x97, 0x9F})

# MQTT 5 property identifiers and their wire types.
_BYTE, _U16, _U32, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
PROPERTY_TYPES = {
    0x01: _BYTE, 0x02: _U32, 0x03: _UTF8, 0x08: _UTF8, 0x09: _BINARY, 0x0B: _VARINT, 0x11: _U32, 0x12: _UTF8,
    0x13: _U16, 0x15: _UTF8, 0x16: _BINARY, 0x17: _BYTE, 0x18: _U32, 0x19: _BYTE, 0x1A: _UTF8, 0x1C: _UTF8,
    0x1F: _UTF8, 0x21: _U16, 0x22: _U16, 0x23: _U16, 0x24: _BYTE, 0x25: _BYTE, 0x26: _PAIR, 0x27: _U32,
    0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}
PROP_SESSION_EXPIRY, PROP_ASSIGNED_CLIENT_ID, PROP_SERVER_KEEP_ALIVE = 0x11, 0x12, 0x13
PROP_REASON_STRING, PROP_RECEIVE_MAXIMUM = 0x1F, 0x21


class IntakeError(Exception):
    """The broker refused what the intake needs (connection or subscription) for a reason retrying cannot cure."""


class ProtocolError(Exception):
    """A frame the MQTT specification does not allow; the connection is dropped and re-established."""


class IntakeMessage(NamedTuple):
    """A received PUBLISH. `topic`, `payload`, `retain`, `qos` as in `BusMessage`; `mid` (packet id, 0 for QoS 0)
    and `generation` (the connection that delivered it) are what `MqttIntake.ack` needs."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    mid: int
    generation: int


# --- encoding ------------------------------------------------------------------------------------------------------
def encode_varint(n: int) -> bytes:
    """MQTT variable byte integer (remaining length, property length): 1 to 4 bytes, up to 268 435 455."""
    if not 0 <= n <= 268_435_455:
        raise ValueError(f"cannot encode {n} as an MQTT variable byte integer")
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _utf8(text: str) -> bytes:
    data = text.encode()
    if len(data) > 65535:
        raise ValueError("MQTT string longer than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def _binary(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def frame(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_varint(len(body)) + body


def connect_frame(config: BusConfig) -> bytes:
    """CONNECT for `config` (MQTT 3.1.1, or 5 with SessionExpiryInterval and ReceiveMaximum)."""
    v5 = config.mqtt_v5
    flags = 0x02 if config.clean_session else 0  # Clean Session (3.1.1) / Clean Start (5)
    payload = _utf8(config.client_id)
    if config.will is not None:
        will = config.will
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += (b"\x00" if v5 else b"") + _utf8(will.topic) + _binary(will.payload)
    if config.username is not None:
        flags |= 0x80
        payload += _utf8(config.username)
    if config.password is not None:
        flags |= 0x40
        payload += _binary(config.password.encode())
    header = _utf8("MQTT") + bytes([5 if v5 else 4, flags]) + config.keepalive_s.to_bytes(2, "big")
    if v5:
        expiry = 0 if config.clean_session else config.session_expiry_s
        props = (bytes([PROP_SESSION_EXPIRY]) + expiry.to_bytes(4, "big")
                 + bytes([PROP_RECEIVE_MAXIMUM]) + config.receive_maximum.to_bytes(2, "big"))
        header += encode_varint(len(props)) + props
    return frame(CONNECT << 4, header + payload)


def subscribe_frame(packet_id: int, filters: Sequence[str], *, v5: bool) -> bytes:
    """SUBSCRIBE of `filters` at QoS 1 (MQTT 5: no properties, default options)."""
    body = packet_id.to_bytes(2, "big") + (b"\x00" if v5 else b"")
    for f in filters:
        body += _utf8(f) + b"\x01"
    return frame((SUBSCRIBE << 4) | 0x02, body)


def puback_frames(mids: Sequence[int]) -> bytes:
    """PUBACK frames for packet ids `mids`, back to back (MQTT 5 allows the short form: reason 0, no properties)."""
    pack = _PUBACK.pack
    return b"".join([pack(0x40, 2, mid) for mid in mids])


# --- decoding ------------------------------------------------------------------------------------------------------
def decode_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    """(value, position after it) of the variable byte integer at `pos`; None when `data` ends inside it.
    Raises ProtocolError for more than 4 bytes."""
    value = 0
    for i in range(4):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise ProtocolError("variable byte integer longer than 4 bytes")


def parse_properties(data: bytes, pos: int) -> tuple[dict[int, Any], int]:
    """MQTT 5 properties at `pos` (length first): ({identifier: value}, position after them). User properties are
    collected in a list. Raises ProtocolError for a truncated or unknown property."""
    decoded = decode_varint(data, pos)
    if decoded is None:
        raise ProtocolError("truncated property length")
    length, pos = decoded
    end = pos + length
    if end > len(data):
        raise ProtocolError("properties longer than the packet")
    props: dict[int, Any] = {}
    while pos < end:
        ident = data[pos]
        kind = PROPERTY_TYPES.get(ident)
        pos += 1
        value: Any
        if kind is None:
            raise ProtocolError(f"unknown property 0x{ident:02x}")
        if kind == _BYTE:
            value, pos = data[pos], pos + 1
        elif kind == _U16:
            value, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif kind == _U32:
            value, pos = int.from_bytes(data[pos:pos + 4], "big"), pos + 4
        elif kind == _VARINT:
            got = decode_varint(data, pos)
            if got is None:
                raise ProtocolError("truncated property")
            value, pos = got
        else:
            strings = []
            for _ in range(2 if kind == _PAIR else 1):
                n = int.from_bytes(data[pos:pos + 2], "big")
                raw = data[pos + 2:pos + 2 + n]
                pos += 2 + n
                strings.append(bytes(raw) if kind == _BINARY else _decode(raw, "property"))
            value = tuple(strings) if kind == _PAIR else strings[0]
        if pos > end:
            raise ProtocolError(f"property 0x{ident:02x} runs past the properties")
        if kind == _PAIR:
            props.setdefault(ident, []).append(value)
        else:
            props[ident] = value
    return props, end


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not valid UTF-8") from None


def reason_text(code: int, v5: bool) -> str:
    name = REASONS_V5.get(code, "unknown") if v5 else CONNACK_V3.get(code, "unknown")
    return f"0x{code:02x} ({name})"


# --- one connection ------------------------------------------------------------------------------------------------
class _Connection(asyncio.Protocol):
    """One TCP connection to the broker: cuts the byte stream into frames, hands PUBLISHes to the intake."""

    def __init__(self, intake: MqttIntake, generation: int) -> None:
        self.intake = intake
        self.generation = generation
        self.v5 = intake.config.mqtt_v5
        self.auto_ack = not intake.config.manual_ack
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[tuple[bool, dict[int, Any]]] = loop.create_future()
        self.suback: asyncio.Future[tuple[list[int], dict[int, Any]]] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.error: str | None = None  # why we closed it
        self._buf = bytearray()  # the start of a frame not complete yet
        self._need = 0  # bytes `_buf` must hold before parsing is worth trying again
        self.last_received = time.monotonic()
        self.last_sent = time.monotonic()
        self.paused = False
        self.connack_seen = False

    # transport callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.error or (f"connection lost: {exc}" if exc else "connection closed by the broker")
        error = ConnectionError(reason)
        for fut in (self.connack, self.suback):
            if not fut.done():
                fut.set_exception(error)
                fut.exception()  # retrieved: nobody may be waiting on it any more
        if not self.closed.done():
            self.closed.set_exception(error)
            self.closed.exception()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
            self.last_sent = time.monotonic()

    def fail(self, reason: str, event: str = "mqtt_intake_protocol_error") -> None:
        """Drop the connection (a protocol error, a dead link), logged; the intake reconnects."""
        if self.error is None:
            self.error = reason
            log.warning("%s client_id=%s error=%s", event, self.intake.config.client_id, reason)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_received = time.monotonic()
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return
            data = bytes(self._buf)
            self._buf.clear()
        pending = self.intake._pending
        count = len(pending)
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
        received = len(pending) - count
        if received:  # what came before a bad frame is delivered too (its acks will not reach the broker)
            if self.auto_ack and self.error is None:
                self.write(puback_frames([m.mid for m in pending[count:] if m.qos]))
            self.intake._on_received(self, received)

    def _parse(self, data: bytes) -> int:
        """Handle every complete frame of `data`; returns where the incomplete rest starts (and sets `_need`).

        The hot loop of the intake, so PUBLISH is decoded inline: every bytecode counts at 50 000 frames a second.
        """
        intake = self.intake
        append = intake._pending.append
        generation = self.generation
        v5 = self.v5
        topics = intake._topics
        new = tuple.__new__
        message = IntakeMessage
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
        """A topic name, decoded once: the intake keeps one str per topic (bounded), so that consumers' lookups
        by topic reuse its cached hash."""
        topic = _decode(raw, "topic name")
        topics = self.intake._topics
        if len(topics) >= 100_000:
            topics.clear()
        topics[raw] = topic
        return topic

    def _control(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if not self.connack_seen and kind != CONNACK:
            raise ProtocolError(f"packet type {kind} before CONNACK")
        if kind == CONNACK:
            if self.connack_seen:
                raise ProtocolError("second CONNACK")
            self.connack_seen = True
            if len(body) < 2:
                raise ProtocolError("CONNACK too short")
            props = parse_properties(body, 2)[0] if self.v5 and len(body) > 2 else {}
            code = body[1]
            if code:
                reason = reason_text(code, self.v5)
                if PROP_REASON_STRING in props:
                    reason += f": {props[PROP_REASON_STRING]}"
                retryable = code in (RETRYABLE_CONNACK_V5 if self.v5 else RETRYABLE_CONNACK_V3)
                self.connack.set_exception(ConnectionError(f"connection refused: {reason}") if retryable
                                           else IntakeError(f"broker refused the connection: {reason}"))
                self.connack.exception()
                return
            self.connack.set_result((bool(body[0] & 0x01), props))
        elif kind == SUBACK:
            if len(body) < 3:
                raise ProtocolError("SUBACK too short")
            if (body[0] << 8 | body[1]) != _SUBSCRIBE_ID or self.suback.done():
                raise ProtocolError("SUBACK for a SUBSCRIBE we did not send")
            props, pos = parse_properties(body, 2) if self.v5 else ({}, 2)
            self.suback.set_result((list(body[pos:]), props))
        elif kind == PINGRESP:
            pass
        elif kind == DISCONNECT and self.v5:
            code = body[0] if body else 0
            props = parse_properties(body, 1)[0] if len(body) > 1 else {}
            reason = reason_text(code, True)
            if PROP_REASON_STRING in props:
                reason += f": {props[PROP_REASON_STRING]}"
            self.error = f"broker disconnected: {reason}"
            log.warning("mqtt_intake_broker_disconnect client_id=%s reason=%s", self.intake.config.client_id, reason)
            if self.transport is not None:
                self.transport.close()
        else:
            raise ProtocolError(f"unexpected packet type {kind} (first byte 0x{first:02x})")


# --- the client ----------------------------------------------------------------------------------------------------
class MqttIntake:
    """Receive `filters` (QoS 1) on one connection kept alive forever; an async context manager and an async
    iterator of message batches. Reusable, not re-entrant; one consumer."""

    def __init__(self, config: BusConfig, filters: Sequence[str], *, max_pending: int = 20_000,
                 max_batch: int = 2_000) -> None:
        if not filters:
            raise ValueError("MqttIntake needs at least one topic filter")
        self.config = config
        self.filters = tuple(filters)
        self.max_pending = max_pending
        self.max_batch = max_batch
        self._pending: list[IntakeMessage] = []
        self._in_hand = 0  # size of the batch the consumer holds
        self._ready = asyncio.Event()
        self._connected = asyncio.Event()
        self._conn: _Connection | None = None
        self._generation = 0
        self._error: BaseException | None = None
        self._runner: asyncio.Task[None] | None = None
        self.connects = 0
        self.pauses = 0
        self.received = 0
        self.acked = 0
        self._topics: dict[bytes, str] = {}

    # --- life cycle ---------------------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("MqttIntake is not re-entrant")
        self._error = None
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-intake-{self.config.client_id}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        runner, self._runner = self._runner, None
        assert runner is not None
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        self._pending = []
        self._in_hand = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def paused(self) -> bool:
        return self._conn is not None and self._conn.paused

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected and subscribed; raises TimeoutError after `timeout_s`, IntakeError if refused."""
        async with asyncio.timeout(timeout_s):
            while not self._connected.is_set():
                if self._error is not None:
                    raise self._error
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await self._connected.wait()

    async def _run(self) -> None:
        c = self.config
        delay = c.backoff_initial_s
        try:
            while True:
                self._generation += 1
                connects = self.connects
                try:
                    await self._session(self._generation)
                    error = "connection closed"
                except IntakeError as exc:
                    log.error("mqtt_intake_refused client_id=%s broker=%s:%d error=%s", c.client_id, c.host, c.port,
                              exc)
                    self._error = exc
                    self._ready.set()
                    return
                except (OSError, TimeoutError) as exc:
                    error = str(exc) or type(exc).__name__
                if self.connects > connects:
                    delay = c.backoff_initial_s  # it was up: the next attempt starts from a short wait
                log.warning("mqtt_intake_disconnected client_id=%s broker=%s:%d error=%s retry_in_s=%.2f",
                            c.client_id, c.host, c.port, error, delay)
                # Full jitter: spreads a fleet of clients reconnecting after a broker restart.
                await asyncio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, c.backoff_max_s)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug: the consumer must hear of it rather than wait forever
            self._error = exc
            self._ready.set()
            raise

    async def _session(self, generation: int) -> None:
        """One connection, from TCP connect to its loss (raises ConnectionError/OSError/TimeoutError naming why)."""
        c = self.config
        loop = asyncio.get_running_loop()
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(c.connect_timeout_s):
                _, conn = await loop.create_connection(lambda: _Connection(self, generation), c.host, c.port)
                self._conn = conn
                conn.write(connect_frame(c))
                session_present, props = await conn.connack
                keepalive = int(props.get(PROP_SERVER_KEEP_ALIVE, c.keepalive_s))
                conn.write(subscribe_frame(_SUBSCRIBE_ID, self.filters, v5=c.mqtt_v5))
                codes, sub_props = await conn.suback
            self._check_suback(codes, sub_props)
            self._connected.set()
            self.connects += 1
            log.info("mqtt_intake_connected client_id=%s broker=%s:%d mqtt=%s session_present=%s filters=%s "
                     "connects=%d", c.client_id, c.host, c.port, "5" if c.mqtt_v5 else "3.1.1", session_present,
                     ",".join(self.filters), self.connects)
            await self._keep_alive(conn, keepalive)
        finally:
            self._connected.clear()
            if conn is not None:
                self._conn = None
                if conn.paused:
                    conn.paused = False
                transport = conn.transport
                if transport is not None and not transport.is_closing():
                    transport.write(DISCONNECT_FRAME)  # clean: no will, the session stays (persistent) or ends
                    transport.close()

    def _check_suback(self, codes: list[int], props: dict[int, Any]) -> None:
        if len(codes) != len(self.filters):
            raise IntakeError(f"SUBACK has {len(codes)} return codes for {len(self.filters)} filters")
        for f, code in zip(self.filters, codes, strict=True):
            if code >= 0x80:
                reason = reason_text(code, True) if self.config.mqtt_v5 else f"0x{code:02x} (failure)"
                if PROP_REASON_STRING in props:
                    reason += f": {props[PROP_REASON_STRING]}"
                raise IntakeError(f"broker refused the subscription to {f}: {reason}")
            if code == 0:
                log.warning("mqtt_intake_qos_downgraded client_id=%s filter=%s granted_qos=0 (messages are not "
                            "kept for an absent session nor acknowledged)", self.config.client_id, f)

    async def _keep_alive(self, conn: _Connection, keepalive: int) -> None:
        """PINGREQ when idle; drop a connection that stopped talking. Raises ConnectionError when it is lost."""
        interval = keepalive / 2 if keepalive else 30.0
        while True:
            done, _ = await asyncio.wait({conn.closed}, timeout=interval / 2)
            if done:
                conn.closed.result()
                raise ConnectionError("connection closed")
            now = time.monotonic()
            if keepalive and now - conn.last_sent >= interval:
                conn.write(PINGREQ_FRAME)
            if keepalive and not conn.paused and now - conn.last_received > 1.5 * keepalive:
                conn.fail(f"nothing received for {now - conn.last_received:.1f} s (keepalive {keepalive} s)",
                          "mqtt_intake_dead_connection")

    # --- intake ---------------------------------------------------------------------------------------------------
    def _on_received(self, conn: _Connection, n: int) -> None:
        self.received += n
        self._ready.set()
        if not conn.paused and len(self._pending) + self._in_hand >= self.max_pending:
            conn.paused = True
            self.pauses += 1
            assert conn.transport is not None
            conn.transport.pause_reading()
            log.info("mqtt_intake_paused client_id=%s pending=%d", self.config.client_id, len(self._pending))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> list[IntakeMessage]:
        """The next batch (at most `max_batch` messages, oldest first). Asking for it means the previous one is
        handled. Raises IntakeError when the broker refused the connection or the subscription."""
        self._in_hand = 0
        while not self._pending:
            if self._error is not None:
                raise self._error
            self._resume()
            self._ready.clear()
            await self._ready.wait()
        pending = self._pending
        if len(pending) <= self.max_batch:
            batch, self._pending = pending, []
        else:
            batch = pending[:self.max_batch]
            del pending[:self.max_batch]
        self._in_hand = len(batch)
        if len(self._pending) + self._in_hand < self.max_pending // 2:
            self._resume()
        return batch

    def _resume(self) -> None:
        conn = self._conn
        if conn is not None and conn.paused:
            conn.paused = False
            conn.last_received = time.monotonic()  # the time paused does not count against keepalive
            assert conn.transport is not None
            conn.transport.resume_reading()

    def ack(self, messages: Sequence[object]) -> None:
        """Acknowledge delivered messages (manual_ack) in one write. Messages of an earlier connection are skipped
        (the broker redelivers them), so are QoS 0 messages and anything that is not an IntakeMessage. Without
        manual_ack the intake acked them on receipt already: nothing to do."""
        conn = self._conn
        if not self.config.manual_ack or conn is None or conn.transport is None or conn.transport.is_closing():
            return
        generation = conn.generation
        mids = [m.mid for m in messages if isinstance(m, IntakeMessage) and m.qos and m.generation == generation]
        if mids:
            conn.write(puback_frames(mids))
            self.acked += len(mids)
