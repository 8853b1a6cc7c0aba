"""MQTT 3.1.1 and 5 frames: what our connection sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH, PUBACK, PINGREQ,
DISCONNECT) and the pieces it needs to read what the broker sends (variable byte integers, MQTT 5 properties,
reason codes). Pure functions, no I/O; the hot PUBLISH/PUBACK parsing lives inline in `connection.py`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from gateways.mqtt.config import BusConfig

# Packet types (high nibble of the first byte).
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15

PINGREQ_FRAME = b"\xc0\x00"
DISCONNECT_FRAME = b"\xe0\x00"
_PUBACK = struct.Struct("!BBH")

CONNACK_V3 = {1: "unacceptable protocol version", 2: "identifier rejected", 3: "server unavailable",
              4: "bad user name or password", 5: "not authorized"}
#: MQTT 5 reason codes (CONNACK, SUBACK, PUBACK, DISCONNECT) we may meet.
REASONS_V5 = {
    0x04: "disconnect with will message", 0x10: "no matching subscribers", 0x80: "unspecified error",
    0x81: "malformed packet", 0x82: "protocol error", 0x83: "implementation specific error",
    0x84: "unsupported protocol version", 0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8B: "server shutting down", 0x8C: "bad authentication method", 0x8D: "keep alive timeout",
    0x8E: "session taken over", 0x8F: "topic filter invalid", 0x90: "topic name invalid",
    0x91: "packet identifier in use", 0x93: "receive maximum exceeded", 0x95: "packet too large",
    0x97: "quota exceeded", 0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "qos not supported",
    0x9C: "use another server", 0x9D: "server moved", 0x9E: "shared subscriptions not supported",
    0x9F: "connection rate exceeded", 0xA1: "subscription identifiers not supported",
    0xA2: "wildcard subscriptions not supported",
}
#: CONNACK refusals worth retrying (the broker is starting, overloaded or rate limiting); the rest are final.
RETRYABLE_CONNACK_V3 = frozenset({3})
RETRYABLE_CONNACK_V5 = frozenset({0x80, 0x83, 0x88, 0x89, 0x97, 0x9C, 0x9D, 0x9F})

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


class ProtocolError(Exception):
    """A frame the MQTT specification does not allow; the connection is dropped and re-established."""


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


def utf8(text: str) -> bytes:
    """A length-prefixed UTF-8 string. Raises ValueError beyond 65535 bytes."""
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
    payload = utf8(config.client_id)
    if config.will is not None:
        will = config.will
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += (b"\x00" if v5 else b"") + utf8(will.topic) + _binary(will.payload)
    if config.username is not None:
        flags |= 0x80
        payload += utf8(config.username)
    if config.password is not None:
        flags |= 0x40
        payload += _binary(config.password.encode())
    header = utf8("MQTT") + bytes([5 if v5 else 4, flags]) + config.keepalive_s.to_bytes(2, "big")
    if v5:
        expiry = 0 if config.clean_session else config.session_expiry_s
        props = (bytes([PROP_SESSION_EXPIRY]) + expiry.to_bytes(4, "big")
                 + bytes([PROP_RECEIVE_MAXIMUM]) + config.receive_maximum.to_bytes(2, "big"))
        header += encode_varint(len(props)) + props
    return frame(CONNECT << 4, header + payload)


def subscribe_frame(packet_id: int, filters: Sequence[str], *, v5: bool, qos: int = 1) -> bytes:
    """SUBSCRIBE of `filters` at `qos` (MQTT 5: no properties, default options)."""
    if qos not in (0, 1):
        raise ValueError(f"subscription QoS {qos} is not supported (0 or 1)")
    body = packet_id.to_bytes(2, "big") + (b"\x00" if v5 else b"")
    for f in filters:
        body += utf8(f) + bytes((qos,))
    return frame((SUBSCRIBE << 4) | 0x02, body)


def unsubscribe_frame(packet_id: int, filters: Sequence[str], *, v5: bool) -> bytes:
    body = packet_id.to_bytes(2, "big") + (b"\x00" if v5 else b"")
    for f in filters:
        body += utf8(f)
    return frame((UNSUBSCRIBE << 4) | 0x02, body)


def publish_frame(topic: bytes, payload: bytes, *, qos: int, retain: bool, packet_id: int, v5: bool) -> bytes:
    """PUBLISH of `payload` to `topic` (already length-prefixed UTF-8, see `utf8`); `packet_id` for QoS 1."""
    body = topic + (packet_id.to_bytes(2, "big") if qos else b"") + (b"\x00" if v5 else b"")
    n = len(body) + len(payload)
    first = 0x30 | (qos << 1) | (1 if retain else 0)
    if n < 128:
        return bytes((first, n)) + body + payload
    return bytes((first,)) + encode_varint(n) + body + payload


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
                strings.append(bytes(raw) if kind == _BINARY else decode_utf8(raw, "property"))
            value = tuple(strings) if kind == _PAIR else strings[0]
        if pos > end:
            raise ProtocolError(f"property 0x{ident:02x} runs past the properties")
        if kind == _PAIR:
            props.setdefault(ident, []).append(value)
        else:
            props[ident] = value
    return props, end


def decode_utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not valid UTF-8") from None


def reason_text(code: int, v5: bool) -> str:
    """`0xNN (name)` of a reason code. An MQTT 5 CONNECT may be answered by a 3.1.1-only broker (NATS) with a 3.1.1
    CONNACK return code (1-5, e.g. 0x01 unacceptable protocol version): codes below 0x80 that MQTT 5 does not define
    are read as 3.1.1 ones."""
    name = REASONS_V5[code] if v5 and code in REASONS_V5 else CONNACK_V3.get(code, "unknown")
    return f"0x{code:02x} ({name})"


def suback_text(code: int, v5: bool) -> str:
    """A SUBACK return code in words (MQTT 3.1.1 has one failure code, 0x80)."""
    return reason_text(code, True) if v5 else f"0x{code:02x} ({'failure' if code >= 0x80 else 'granted'})"


def connack_retryable(code: int, v5: bool) -> bool:
    """Whether a CONNACK refusal may pass by itself (server unavailable, busy...); the rest are final."""
    if v5 and code >= 0x80:
        return code in RETRYABLE_CONNACK_V5
    return code in RETRYABLE_CONNACK_V3


#: SUBACK failure codes that no retry cures (MQTT 5 only: 3.1.1 has one failure code, 0x80, which a broker also
#: answers while it cannot serve the subscription for now, e.g. NATS while JetStream elects a leader).
FINAL_SUBACK_V5 = frozenset({0x87, 0x8F, 0x9E, 0xA1, 0xA2})


def suback_final(code: int, v5: bool) -> bool:
    """Whether a refused subscription (SUBACK code >= 0x80) is a refusal for good (not authorized, invalid filter,
    unsupported feature) rather than one a reconnection may cure."""
    return v5 and code in FINAL_SUBACK_V5
