"""Transfer encoding of a plan to a controller: the shared transfer contract (`controllers.transfer_encoding`:
canonical bytes, CRC-32, 16-bit Modbus registers; also in `contracts/plans/README.md`, "Transfer encoding")
applied to timing plans.
"""

from __future__ import annotations

from collections.abc import Sequence

from controllers.plans.model import PlanV1
from controllers.transfer_encoding import (
    Encoded,
    TransferEncodingError,
    canonical_bytes,
    crc32,
    crc32_from_registers,
    crc32_to_registers,
    decode_registers,
    encode,
    from_registers,
    normalize_numbers,
    to_registers,
)

__all__ = ["EncodedPlan", "PlanEncodingError", "canonical_bytes", "crc32", "crc32_from_registers",
           "crc32_to_registers", "decode_plan", "encode_plan", "from_registers", "normalize_numbers",
           "to_registers"]

#: Registers that do not hold a plan: bad register values, wrong length, CRC mismatch, not a v1 plan.
PlanEncodingError = TransferEncodingError
EncodedPlan = Encoded


def encode_plan(plan: PlanV1) -> EncodedPlan:
    """Payload, CRC-32 and registers of `plan`."""
    return encode(plan)


def decode_plan(registers: Sequence[int], length: int, expected_crc32: int) -> PlanV1:
    """The plan held in `registers` (read back from a controller). Raises PlanEncodingError when the CRC does
    not match or the bytes are not a v1 plan. Checks the format only: run `validate_plan` for the rules."""
    return decode_registers(registers, length, expected_crc32, PlanV1, "a signalight.plan/v1 plan")
