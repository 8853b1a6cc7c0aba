"""JSON from the bus, decoded with bounds, as device firmware must: no payload can crash the device.

The simulator's own implementation (it imports nothing of the project but `contracts/`): size first, UTF-8, nesting
depth by a linear scan before the recursive parser runs, and numbers while parsing (NaN, Infinity, overflowing
floats and over-long integers refused, duplicate keys refused). `JsonRefused.reason` is one short word.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
MAX_INT_DIGITS = 20
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


class JsonRefused(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def _too_deep(text: str, limit: int) -> bool:
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _TOKEN.finditer(text):
        t = m.group()
        if t in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif t in ("]", "}"):
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise JsonRefused("non_finite", name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRefused("non_finite", text[:40])
    return value


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused("huge_number", f"{len(text)} digits")
    return int(text)


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise JsonRefused("duplicate_key", "a key appears twice in one object")
    return out


def loads(payload: bytes) -> Any:
    """The JSON value of `payload`. Raises JsonRefused (too_large, not_utf8, too_deep, non_finite, huge_number,
    duplicate_key, not_json)."""
    if len(payload) > MAX_BYTES:
        raise JsonRefused("too_large", f"{len(payload)} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused("not_utf8", f"at byte {exc.start}") from None
    if _too_deep(text, MAX_DEPTH):
        raise JsonRefused("too_deep", f"deeper than {MAX_DEPTH}")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite, parse_int=_short_int,
                          object_pairs_hook=_unique)
    except JsonRefused:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonRefused("not_json", str(exc)[:200]) from None
