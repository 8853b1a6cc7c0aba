"""Fleet-manifest schema errors said the way an engineer reads them: which field of which device entry, and why.

The manifest's JSON Schema (contracts/manifest.schema.json) is the one judge; this only words its verdicts. Its
transport rule is an if/then/else whose `false` sub-schemas refuse a field the entry's transport does not have, and
jsonschema words that as "False schema does not allow 'h'", with neither the field nor the entry. Here it becomes
"device 'lc-1' (devices[0]) is on MQTT: it has no host", in English and Vietnamese.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import ValidationError

import contracts

TRANSPORT_VI = {"modbus": "Modbus", "mqtt": "MQTT"}


@dataclass(frozen=True)
class ManifestFault:
    """One fault of a manifest: `path` is dotted from the request body (`body.devices.1.host`)."""

    path: str
    en: str
    vi: str
    type: str

    def as_error(self) -> dict[str, Any]:
        return {"path": self.path, "message": {"vi": self.vi, "en": self.en}, "type": self.type}


@cache
def _transport_rule() -> dict[str, Any]:
    schema = json.loads(contracts.MANIFEST_SCHEMA.read_text(encoding="utf-8"))
    rule: dict[str, Any] = schema["properties"]["devices"]["items"]["allOf"][0]
    return rule


def _refused_fields(branch: str) -> list[str]:
    """The fields the rule's `then` (Modbus) or `else` (MQTT) branch refuses."""
    return [k for k, v in _transport_rule()[branch].get("properties", {}).items() if v is False]


def _entry(manifest: Any, index: int) -> dict[str, Any]:
    devices = manifest.get("devices") if isinstance(manifest, dict) else None
    entry = devices[index] if isinstance(devices, list) and 0 <= index < len(devices) else None
    return entry if isinstance(entry, dict) else {}


def _who(entry: dict[str, Any], index: int) -> str:
    ident = entry.get("id")
    return f"{ident!r} (devices[{index}])" if isinstance(ident, str) else f"devices[{index}]"


def explain(error: ValidationError, manifest: Any) -> list[ManifestFault]:
    """The faults one schema error stands for (several when one refusal covers several fields)."""
    path = list(error.absolute_path)
    dotted = ".".join(["body", *(str(p) for p in path)])
    branch = next((b for b in ("then", "else") if b in error.schema_path), None)
    if branch is not None and len(path) == 2 and path[0] == "devices" and isinstance(path[1], int):
        index = path[1]
        entry = _entry(manifest, index)
        who = _who(entry, index)
        transport = "modbus" if branch == "then" else "mqtt"
        if entry.get("transport") != transport:      # no transport, or a wrong one: its own error says so
            return []
        other = "MQTT" if transport == "modbus" else "Modbus"
        if error.validator == "required" and isinstance(error.validator_value, list):
            missing = [f for f in error.validator_value if f not in entry]
            need = ", ".join(error.validator_value)
            return [ManifestFault(
                f"{dotted}.{field}",
                f"device {who} is on Modbus: it needs {field} (a Modbus device is reached at {need})",
                f"thiết bị {who} dùng Modbus: thiếu trường {field} (thiết bị Modbus cần {need})",
                "transport_field_missing") for field in missing]
        if error.schema is False:
            refused = _refused_fields(branch)
            alien = [f for f in refused if f in entry]
            only = ", ".join(refused)
            return [ManifestFault(
                f"{dotted}.{field}",
                f"device {who} is on {TRANSPORT_VI[transport]}: it has no {field} ({only}: {other} devices only)",
                f"thiết bị {who} dùng {TRANSPORT_VI[transport]}: không có trường {field} "
                f"({only}: chỉ thiết bị {other} mới có)",
                "transport_field_refused") for field in alien]
    return [ManifestFault(dotted, error.message[:300], f"không hợp lệ tại {dotted}: {error.message[:300]}",
                          str(error.validator))]


def manifest_faults(errors: Iterable[ValidationError], manifest: Any, limit: int = 50) -> list[ManifestFault]:
    """Every fault of the schema's errors, once each (one refused field is reported by each refused value), in the
    schema's order, at most `limit`."""
    out: dict[tuple[str, str], ManifestFault] = {}
    for error in errors:
        for fault in explain(error, manifest):
            out.setdefault((fault.path, fault.type), fault)
        if len(out) >= limit:
            break
    return list(out.values())[:limit]
