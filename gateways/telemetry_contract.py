"""The one judge of telemetry payloads: contracts/mqtt/schemas/telemetry.schema.json itself, compiled.

The contract is the JSON Schema (language-neutral data a device vendor implements against); there is no second copy
of it as a model. Two places where Python's reading of a schema differs from the standard are made standard here:
`pattern` follows ECMA-262 as JSON Schema requires (`$` is the end of the text, where Python's `re` also matches
before a final newline, which let a field named "a\\n" through; `\\d` is an ASCII digit), and `format: date-time`
is checked (a real date: 2026-02-30 is refused). On top of the schema, numbers must be finite (a JSON number too
large for a float, 1e400, would become an infinity). `seq: 1.0` is an integer in JSON Schema, so it is valid and
means 1.

The recorder's hand-written fast path (`gateways.recorder._fast_sample`) accepts only payloads this judge accepts,
with the same result, and leaves every doubtful one to it (tests/gateways/test_telemetry_contract.py checks that
with hypothesis).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from functools import cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker
from pydantic_core import from_json

import contracts
from controllers import bounded_json
from controllers.clock import from_rfc3339

#: A validated telemetry payload: (ts, seq, historical, values).
Telemetry = tuple[datetime, int, bool, dict[str, float | int | bool]]


def decode_payload(payload: bytes) -> Any:
    """JSON of an MQTT payload, as every recorder consumer decodes it. Raises ValueError for anything that is not
    JSON (NaN and Infinity literals included; nesting deeper than 200 levels is refused by the parser) and for a
    payload over `bounded_json.MAX_BYTES`. Not `bounded_json.decode`: this is the recorder's hot path, and no payload
    nested deeper than two levels can pass the telemetry schema anyway."""
    if len(payload) > bounded_json.MAX_BYTES:
        raise ValueError(f"{len(payload)} bytes (at most {bounded_json.MAX_BYTES})")
    return from_json(payload, allow_inf_nan=False)


def _as_python(node: Any) -> Any:
    """The schema with every `pattern` rewritten from ECMA-262 to Python `re` with the same meaning: ASCII classes,
    and a final `$` as the end of the text (Python's `$` also matches before a final newline)."""
    if isinstance(node, dict):
        return {k: ("(?a)" + re.sub(r"(?<!\\)\$$", r"\\Z", v) if k == "pattern" and isinstance(v, str)
                    else _as_python(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_as_python(v) for v in node]
    return node


_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _date_time(instance: object) -> bool:
    if isinstance(instance, str):
        from_rfc3339(instance)
    return True


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(contracts.mqtt_schema_path("telemetry").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_as_python(schema), format_checker=_formats)


def judge_telemetry(payload: bytes) -> Telemetry:
    """The payload checked against the telemetry contract. Raises ValueError naming the problem
    (`path: message`)."""
    try:
        data = decode_payload(payload)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "payload"
        raise ValueError(f"{where}: {error.message}")
    values: dict[str, float | int | bool] = data["values"]
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"values.{name}: not a finite number")
    return from_rfc3339(data["ts"]), int(data["seq"]), bool(data.get("historical", False)), values
