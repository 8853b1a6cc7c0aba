"""Transfer encoding of a document to a device, the one contract timing plans and lighting documents share:
canonical bytes, CRC-32, 16-bit Modbus registers (`contracts/plans/README.md`, "Transfer encoding";
`contracts/lighting/README.md`, "Transfer").

1. payload = the document as UTF-8 JSON, keys sorted, no whitespace (separators "," and ":"), absent optional
   fields left out, numbers with an integral value written as integers (4.0 -> 4);
2. crc32 = CRC-32/ISO-HDLC (zlib, IEEE 802.3; poly 0x04C11DB7 reflected, init and xorout 0xFFFFFFFF) of payload;
3. registers = payload in 2-byte big-endian words (first byte in the high half), the last one padded with a
   zero byte when the length is odd; the CRC goes in two registers, high word first.
The device computes the CRC over the bytes it received (their count is sent with them) and compares.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Doc = TypeVar("Doc", bound=BaseModel)


class TransferEncodingError(ValueError):
    """Bytes or registers that do not hold the document: bad register values, wrong length, CRC mismatch, not the
    document's format."""


@dataclass(frozen=True)
class Encoded:
    """A document ready for transfer: its canonical payload, the CRC-32 of it, and the payload as registers."""

    payload: bytes
    crc32: int
    registers: tuple[int, ...]

    @property
    def length(self) -> int:
        """Payload length in bytes (the registers may hold one padding byte more)."""
        return len(self.payload)


def normalize_numbers(value: Any) -> Any:
    """JSON data with 4.0 written as 4, so bytes and texts do not depend on how a number was typed."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: normalize_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize_numbers(item) for item in value]
    return value


def canonical_bytes(doc: BaseModel) -> bytes:
    """The document's canonical payload: the same document always gives the same bytes."""
    data = normalize_numbers(doc.model_dump(mode="json", exclude_none=True))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def crc32(payload: bytes) -> int:
    """CRC-32 (zlib / IEEE 802.3) of `payload`, as an unsigned 32-bit integer."""
    return zlib.crc32(payload) & 0xFFFFFFFF


def to_registers(payload: bytes) -> list[int]:
    """Pack bytes into 16-bit registers, big-endian, the last one zero-padded."""
    padded = payload + b"\x00" * (len(payload) % 2)
    return [int.from_bytes(padded[i : i + 2], "big") for i in range(0, len(padded), 2)]


def from_registers(registers: Sequence[int], length: int) -> bytes:
    """Unpack `length` bytes from 16-bit registers. Raises TransferEncodingError when they cannot hold them."""
    if not 0 <= length <= 2 * len(registers) or length < 2 * len(registers) - 1:
        raise TransferEncodingError(f"{len(registers)} registers cannot hold exactly {length} bytes")
    bad = [value for value in registers if not 0 <= value <= 0xFFFF]
    if bad:
        raise TransferEncodingError(f"register values out of 0..65535: {bad[:5]}")
    return b"".join(value.to_bytes(2, "big") for value in registers)[:length]


def crc32_to_registers(value: int) -> list[int]:
    """A CRC-32 as two registers, high word first."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise TransferEncodingError(f"CRC-32 out of range: {value}")
    return [value >> 16, value & 0xFFFF]


def crc32_from_registers(registers: Sequence[int]) -> int:
    """A CRC-32 from two registers, high word first."""
    if len(registers) != 2 or not all(0 <= value <= 0xFFFF for value in registers):
        raise TransferEncodingError(f"a CRC-32 is two registers of 0..65535, got {list(registers)}")
    return (registers[0] << 16) | registers[1]


def encode(doc: BaseModel) -> Encoded:
    """Payload, CRC-32 and registers of `doc`."""
    payload = canonical_bytes(doc)
    return Encoded(payload=payload, crc32=crc32(payload), registers=tuple(to_registers(payload)))


def decode_payload(payload: bytes, expected_crc32: int, model: type[Doc], what: str) -> Doc:
    """The `model` document in `payload`. Raises TransferEncodingError on a CRC mismatch or a payload that is not
    such a document (`what` names it in the message). Checks the format only, not the document's rules."""
    actual = crc32(payload)
    if actual != expected_crc32:
        raise TransferEncodingError(f"CRC-32 mismatch: expected {expected_crc32:08x}, computed {actual:08x}")
    try:
        return model.model_validate(json.loads(payload.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise TransferEncodingError(f"payload is not {what}: {exc}") from exc


def decode_registers(registers: Sequence[int], length: int, expected_crc32: int, model: type[Doc],
                     what: str) -> Doc:
    """The `model` document held in `registers` (read back from a device). Raises TransferEncodingError."""
    return decode_payload(from_registers(registers, length), expected_crc32, model, what)
