"""Transfer encoding of a lighting document to a cabinet: the shared transfer contract
(`controllers.transfer_encoding`, the timing plans' too) applied to this format. See `contracts/lighting/README.md`,
"Transfer".
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.lighting.model import LightingV1
from controllers.transfer_encoding import Encoded, TransferEncodingError, canonical_bytes, decode_payload, encode
from controllers.transfer_encoding import decode_registers as _decode_registers

__all__ = ["EncodedLighting", "LightingEncodingError", "canonical_bytes", "decode_lighting", "decode_registers",
           "encode_lighting"]

#: Bytes or registers that do not hold a lighting document: wrong length, CRC mismatch, not format v1.
LightingEncodingError = TransferEncodingError
EncodedLighting = Encoded
WHAT = "a signalight.lighting/v1 document"


def encode_lighting(doc: LightingV1) -> EncodedLighting:
    """Payload, CRC-32 and registers of `doc`."""
    return encode(doc)


def decode_lighting(payload: bytes, expected_crc32: int) -> LightingV1:
    """The document in `payload`. Raises LightingEncodingError on a CRC mismatch or a payload not in format v1
    (shape only: run `validate_lighting` for the rules)."""
    return decode_payload(payload, expected_crc32, LightingV1, WHAT)


def decode_registers(registers: Sequence[int], length: int, expected_crc32: int) -> LightingV1:
    """The document held in `registers` (read back from a cabinet). Raises LightingEncodingError."""
    return _decode_registers(registers, length, expected_crc32, LightingV1, WHAT)
