"""The judge of `event` payloads: contracts/mqtt/schemas/event.schema.json itself, compiled the way the telemetry
judge compiles its schema (ECMA-262 patterns, real dates)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

import jsonschema
from jsonschema import Draft202012Validator

import contracts
from controllers.clock import from_rfc3339
from gateways.telemetry_contract import _as_python, _formats, decode_payload

#: A validated hi-res event payload: (ts, seq, code, param); None for an alarm event (`{alarm, active}`).
HiresEvent = tuple[datetime, int, int, int]


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(contracts.mqtt_schema_path("event").read_text("utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(_as_python(schema), format_checker=_formats)


def judge_event(payload: bytes) -> HiresEvent | None:
    """The payload checked against the event contract: the hi-res event it carries, or None for an alarm event.
    Raises ValueError naming the problem (`path: message`)."""
    try:
        data = decode_payload(payload)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "payload"
        raise ValueError(f"{where}: {error.message}")
    if "code" not in data:
        return None
    return from_rfc3339(data["ts"]), int(data["seq"]), int(data["code"]), int(data["param"])
