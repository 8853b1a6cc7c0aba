"""Transfer encoding: canonical payload, CRC-32, Modbus registers, and refusals of corrupt read-backs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controllers.plans import (
    PlanEncodingError,
    PlanV1,
    canonical_bytes,
    crc32,
    crc32_from_registers,
    crc32_to_registers,
    decode_plan,
    encode_plan,
    from_registers,
    to_registers,
)


def test_crc32_check_value() -> None:
    assert crc32(b"123456789") == 0xCBF43926  # the CRC-32/ISO-HDLC check value vendors test against


def test_registers_are_big_endian_and_zero_padded() -> None:
    assert to_registers(b'{"a":1}') == [0x7B22, 0x6122, 0x3A31, 0x7D00]
    assert from_registers([0x7B22, 0x6122, 0x3A31, 0x7D00], 7) == b'{"a":1}'
    assert to_registers(b"") == []


@pytest.mark.parametrize(("registers", "length"), [([0x7B22], 3), ([0x7B22, 0], 2), ([0x10000], 2), ([-1], 1)])
def test_bad_registers_are_refused(registers: list[int], length: int) -> None:
    with pytest.raises(PlanEncodingError):
        from_registers(registers, length)


def test_crc_registers_high_word_first() -> None:
    assert crc32_to_registers(0xCBF43926) == [0xCBF4, 0x3926]
    assert crc32_from_registers([0xCBF4, 0x3926]) == 0xCBF43926
    with pytest.raises(PlanEncodingError):
        crc32_from_registers([1])


def test_payload_is_compact_sorted_utf8_with_integral_numbers(weekday_plan: dict[str, Any]) -> None:
    payload = canonical_bytes(PlanV1.model_validate(weekday_plan))
    text = payload.decode("utf-8")
    assert text.startswith('{"barriers":[[1,2,5,6],[3,4,7,8]],"day_plans":')
    assert " " not in text.replace("Ngày thường (weekday)", "")
    assert '"yellow_s":4}' in text and '"yellow_s":3.5}' in text and '"passage_s":2,' in text
    assert "Ngày thường" in text  # not \u escaped
    assert json.loads(text) == json.loads(json.dumps(weekday_plan))  # same data, only the spelling changed


def test_corrupted_transfer_is_refused(weekday_plan: dict[str, Any]) -> None:
    encoded = encode_plan(PlanV1.model_validate(weekday_plan))
    registers = list(encoded.registers)
    registers[10] ^= 0x0100
    with pytest.raises(PlanEncodingError, match="CRC-32 mismatch"):
        decode_plan(registers, encoded.length, encoded.crc32)


def test_payload_that_is_not_a_plan_is_refused() -> None:
    payload = b'{"format":"other"}'
    with pytest.raises(PlanEncodingError, match=r"not a signalight\.plan/v1"):
        decode_plan(to_registers(payload), len(payload), crc32(payload))
