"""Transfer encoding of a lighting document to a cabinet: the timing plans' contract, applied to this format.

payload = the document as UTF-8 JSON, keys sorted, no whitespace, absent optional fields left out, integral
numbers written as integers; crc32 = CRC-32/ISO-HDLC of payload; registers = payload in big-endian 16-bit words,
the last zero-padded. See `contracts/lighting/README.md`, "Transfer".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from controllers.lighting.model import LightingV1
from controllers.plans.encoding import crc32, from_registers, normalize_numbers, to_registers


class LightingEncodingError(ValueError):
    """Bytes or registers that do not hold a lighting document: wrong length, CRC mismatch, not format v1."""


@dataclass(frozen=True)
class EncodedLighting:
    """A document ready for transfer: its canonical payload, the CRC-32 of it, and the payload as registers."""

    payload: bytes
    crc32: int
    registers: tuple[int, ...]

    @property
    def length(self) -> int:
        """Payload length in bytes (the registers may hold one padding byte more)."""
        return len(self.payload)


def canonical_bytes(doc: LightingV1) -> bytes:
    """The document's canonical payload: the same document always gives the same bytes."""
    data = normalize_numbers(doc.model_dump(mode="json", exclude_none=True))
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def encode_lighting(doc: LightingV1) -> EncodedLighting:
    """Payload, CRC-32 and registers of `doc`."""
    payload = canonical_bytes(doc)
    return EncodedLighting(payload=payload, crc32=crc32(payload), registers=tuple(to_registers(payload)))


def decode_lighting(payload: bytes, expected_crc32: int) -> LightingV1:
    """The document in `payload`. Raises LightingEncodingError on a CRC mismatch or a payload not in format v1
    (shape only: run `validate_lighting` for the rules)."""
    actual = crc32(payload)
    if actual != expected_crc32:
        raise LightingEncodingError(f"CRC-32 mismatch: expected {expected_crc32:08x}, computed {actual:08x}")
    try:
        return LightingV1.model_validate(json.loads(payload.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise LightingEncodingError(f"payload is not a signalight.lighting/v1 document: {exc}") from exc


def decode_registers(registers: Sequence[int], length: int, expected_crc32: int) -> LightingV1:
    """The document held in `registers` (read back from a cabinet). Raises LightingEncodingError."""
    try:
        payload = from_registers(registers, length)
    except ValueError as exc:
        raise LightingEncodingError(str(exc)) from exc
    return decode_lighting(payload, expected_crc32)
