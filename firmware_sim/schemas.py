"""The MQTT payload schemas of `contracts/mqtt/schemas`, loaded once, with a checker naming what failed."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from contracts import mqtt_schema_path


class SchemaError(ValueError):
    """A payload does not follow its schema; the message names the field and the rule."""


@cache
def validator(suffix: str) -> Draft202012Validator:
    schema = json.loads(mqtt_schema_path(suffix).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def check(suffix: str, payload: Any) -> None:
    """Raise SchemaError when `payload` does not validate against the schema of topic suffix `suffix`."""
    errors = sorted(validator(suffix).iter_errors(payload), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "(root)"
        raise SchemaError(f"{suffix} payload invalid at {where}: {first.message}")
