"""contracts/lighting: the JSON Schema and the pydantic model agree; encoding round-trips; diff names changes."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from controllers.lighting import (
    LightingEncodingError,
    LightingV1,
    canonical_bytes,
    decode_lighting,
    decode_registers,
    diff_lighting,
    encode_lighting,
)
from tests.controllers.lighting.conftest import LIGHTING_CONTRACT, example

SCHEMA: dict[str, Any] = json.loads((LIGHTING_CONTRACT / "lighting-v1.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_schema_is_draft_2020_12_and_accepts_the_example() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    VALIDATOR.validate(example())
    LightingV1.model_validate(example())


def _step_both(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"][1]["event"] = "sunset"


def _offset_with_at(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"][1]["offset_min"] = 5


def _bad_time(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"][1]["at"] = "24:00"


def _extra(d: dict[str, Any]) -> None:
    d["programs"][0]["colour"] = "warm"


def _string_level(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"][0]["level_pct"] = "100"


def _half_range(d: dict[str, Any]) -> None:
    del d["calendars"][0]["rules"][3]["to_day"]


def _bad_day(d: dict[str, Any]) -> None:
    d["calendars"][0]["rules"][2]["days"] = ["2027/12/31"]


def _bad_weekday(d: dict[str, Any]) -> None:
    d["calendars"][0]["rules"][0]["weekdays"] = ["monday"]


def _no_steps(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"] = []


@pytest.mark.parametrize("mutate", [_step_both, _offset_with_at, _bad_time, _extra, _string_level, _half_range,
                                    _bad_day, _bad_weekday, _no_steps])
def test_schema_and_model_refuse_the_same_shapes(mutate: Any) -> None:
    doc = example()
    mutate(doc)
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(ValidationError):
        LightingV1.model_validate(doc)


def test_model_refuses_a_day_that_does_not_exist_which_the_schema_pattern_lets_through() -> None:
    doc = example()
    doc["calendars"][0]["rules"][2]["days"] = ["02-30"]
    with pytest.raises(ValidationError, match="not a calendar day"):
        LightingV1.model_validate(doc)


def test_encoding_round_trips_and_is_canonical() -> None:
    doc = LightingV1.model_validate(example())
    encoded = encode_lighting(doc)
    assert decode_lighting(encoded.payload, encoded.crc32) == doc
    assert decode_registers(encoded.registers, len(encoded.payload), encoded.crc32) == doc
    # Key order and float spelling do not change the bytes.
    shuffled = json.loads(json.dumps(example(), sort_keys=True))
    shuffled["programs"][0]["steps"][1]["level_pct"] = 50.0
    assert canonical_bytes(LightingV1.model_validate(shuffled)) == encoded.payload
    assert b'"level_pct":50,' in encoded.payload


def test_decoding_refuses_a_crc_mismatch_and_a_non_document() -> None:
    encoded = encode_lighting(LightingV1.model_validate(example()))
    with pytest.raises(LightingEncodingError, match="CRC-32 mismatch"):
        decode_lighting(encoded.payload, encoded.crc32 ^ 1)
    import zlib
    with pytest.raises(LightingEncodingError, match=r"not a signalight\.lighting/v1"):
        decode_lighting(b'{"a":1}', zlib.crc32(b'{"a":1}'))


def test_diff_names_programs_rules_and_circuits_by_identifier() -> None:
    old = LightingV1.model_validate(example())
    changed = example()
    changed["programs"][0]["steps"][1]["level_pct"] = 40
    changed["calendars"][0]["rules"][3]["priority"] = 120
    changed["circuits"][3]["calendar"] = "city"
    changed["programs"].reverse()   # order of programs is not a change
    changes = diff_lighting(old, LightingV1.model_validate(changed))
    assert [c.path for c in changes] == [
        "programs[program=standard].steps",
        "calendars[calendar=city].rules[name=Tết Nguyên Đán 2027].priority",
        "circuits[circuit=4].calendar",
    ]
    assert diff_lighting(old, old) == []
