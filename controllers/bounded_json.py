"""Decoding a JSON payload from the bus with bounds, so that no message can stop the process that reads it.

`json.loads` on `'[' * 2000 + ']' * 2000` raises RecursionError, which no consumer expects; a 1 MB message costs
memory and time; `NaN`, `Infinity` and `1e999` decode to non-finite floats the contract forbids; a 5,000-digit
integer costs quadratic time to convert. `decode` checks the size before anything, the UTF-8 before parsing, the
nesting depth with a flat scan before the recursive parser sees the text, and numbers while parsing. Every refusal
is a `PayloadRejected` (a ValueError) whose `reason` is one short stable word for metrics and logs, and whose
message says what was wrong.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections import OrderedDict
from typing import Any

#: Defaults for bus payloads: the largest legitimate payload is a `deploy_plan` command (a timing plan, ~10 KB);
#: the deepest is a plan (~7 levels).
MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
#: Integers longer than this many digits (sign excluded) are refused before conversion: the contract's largest is
#: a CRC-32 (10 digits), and JSON numbers beyond 2^53 do not survive other languages' parsers.
MAX_INT_DIGITS = 20

# One left-to-right pass: a JSON string (with escapes; an unterminated one runs to the end, so no quote is scanned
# twice and the pass stays linear), whose brackets do not count, or a bracket that does.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


class PayloadRejected(ValueError):
    """A payload that is too large, too deep, not UTF-8, not JSON or carries a number the contract refuses."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


def _too_deep(text: str, max_depth: int) -> bool:
    if text.count("[") + text.count("{") <= max_depth:
        return False  # the common case: too few brackets to nest that deep, no scan needed
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _constant(name: str) -> Any:
    raise PayloadRejected("non_finite", f"{name} is not a finite number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise PayloadRejected("non_finite", f"{text[:40]} overflows to {value}")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise PayloadRejected("huge_number", f"an integer of {len(text)} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for duplicate, _ in pairs:
            if duplicate in seen:
                break
            seen.add(duplicate)
        # Two parsers may keep different copies of a duplicated key: what one verified, another would execute.
        raise PayloadRejected("duplicate_key", f"key {duplicate[:64]!r} appears twice in one object")
    return out


def decode(payload: bytes | bytearray | memoryview, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `payload`. Raises PayloadRejected with `reason` one of: too_large, not_utf8, too_deep,
    non_finite, huge_number, duplicate_key, not_json. Never raises RecursionError. Cost: linear in the size."""
    size = len(payload)
    if size > max_bytes:
        raise PayloadRejected("too_large", f"{size} bytes (at most {max_bytes})")
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadRejected("not_utf8", f"invalid UTF-8 at byte {exc.start}") from None
    if _too_deep(text, max_depth):
        raise PayloadRejected("too_deep", f"nesting deeper than {max_depth}")
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int,
                          object_pairs_hook=_object)
    except PayloadRejected:
        raise
    except RecursionError:  # the scan above makes this unreachable; kept so the promise holds if it ever is not
        raise PayloadRejected("too_deep", "nesting too deep for the parser") from None
    except ValueError as exc:
        raise PayloadRejected("not_json", str(exc)[:200]) from None


def decode_object(payload: bytes | bytearray | memoryview, **bounds: int) -> dict[str, Any]:
    """As `decode`, and the value must be a JSON object (reason `not_object`)."""
    value = decode(payload, **bounds)
    if not isinstance(value, dict):
        raise PayloadRejected("not_object", f"a JSON {type(value).__name__}, not an object")
    return value


class FirstSight:
    """Whether a (topic, payload) pair is new, over the last `max_entries` pairs seen: a consumer logs a refused
    message at warning level the first time and at debug level after, so a retained poison message redelivered on
    every reconnect (or a flood of one payload) is logged once, while every copy is still counted. In memory; a
    subclass may remember across restarts (`remember` is called with each new fingerprint)."""

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    @staticmethod
    def fingerprint(topic: str, payload: bytes | bytearray | memoryview) -> bytes:
        return hashlib.blake2b(topic.encode("utf-8", "replace") + b"\0" + bytes(payload), digest_size=16).digest()

    def seen(self, key: bytes) -> bool:
        """Note `key`; True when it was already known."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self.max_entries:
            self._seen.popitem(last=False)
        return False

    def remember(self, key: bytes) -> None:
        """A new fingerprint (for subclasses that keep them)."""

    def __call__(self, topic: str, payload: bytes | bytearray | memoryview) -> bool:
        key = self.fingerprint(topic, payload)
        if self.seen(key):
            return False
        self.remember(key)
        return True

    def level(self, topic: str, payload: bytes | bytearray | memoryview) -> int:
        """logging.WARNING the first time, logging.DEBUG after."""
        return logging.WARNING if self(topic, payload) else logging.DEBUG
