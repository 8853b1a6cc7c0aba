"""InfluxDB line protocol for telemetry samples (controllers.telemetry schema), escaping done right.

Measurement: commas and spaces escaped. Tag keys/values and field keys: commas, equals signs and spaces escaped
(backslashes too, so a trailing backslash cannot eat the separator). Numbers are always written as floats (so a
field never changes type between 1 and 1.5, which InfluxDB would refuse), booleans as 0.0/1.0, `seq` as an integer,
`historical` as a boolean. Non-finite numbers cannot be stored and are left out. Timestamps in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from controllers.events import FIELD_CODE, FIELD_PARAM, MEASUREMENT, TAG_SEQ, ControllerEvent
from controllers.telemetry import FIELD_HISTORICAL, FIELD_SEQ, TAG_DEVICE, TAG_SITE, Sample, measurement


def escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def escape_string_field(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(ts: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime. Raises ValueError for a naive one."""
    if ts.tzinfo is not UTC:
        if ts.tzinfo is None:
            raise ValueError("naive datetime in a telemetry sample")
        ts = ts.astimezone(UTC)
    delta = ts - _EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def _number(value: float | bool) -> float | None:
    """The stored value of a field: a finite float, or None when it cannot be stored (NaN, infinite, an integer
    too large for a float)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def sample_fields(sample: Sample) -> dict[str, float]:
    """The stored numeric fields of a sample (booleans as 0/1, non-finite values left out)."""
    out: dict[str, float] = {}
    for key, value in sample.values.items():
        number = _number(value)
        if number is not None:
            out[key] = number
    return out


# The hot path (the recorder writes tens of thousands of lines a second) escapes each key, tag value and
# measurement once: caches keyed by the raw text, bounded so that hostile input cannot grow them forever.
_CACHE_MAX = 100_000
_keys: dict[str, str] = {}
_heads: dict[tuple[str, str], tuple[object, str]] = {}


def _escaped_key(key: str) -> str:
    escaped = escape_key(key)
    if len(_keys) >= _CACHE_MAX:
        _keys.clear()
    _keys[key] = escaped
    return escaped


def _head(sample: Sample) -> str:
    """`measurement,device=...,site=...` of a sample."""
    ident = (sample.site, sample.device)
    cached = _heads.get(ident)
    if cached is not None and cached[0] == sample.kind:
        return cached[1]
    head = (f"{escape_measurement(measurement(sample.kind))},{TAG_DEVICE}={escape_key(sample.device)},"
            f"{TAG_SITE}={escape_key(sample.site)}")
    if len(_heads) >= _CACHE_MAX:
        _heads.clear()
    _heads[ident] = (sample.kind, head)
    return head


def line(sample: Sample) -> str | None:
    """One line of line protocol; None when the sample has no storable field."""
    keys = _keys
    parts = []
    for key, value in sample.values.items():
        if value.__class__ is float and value - value == 0.0:  # finite (NaN and infinities give NaN)
            number: float | None = value
        else:
            number = _number(value)
            if number is None:
                continue
        parts.append(f"{keys.get(key) or _escaped_key(key)}={number!r}")
    if not parts:
        return None
    return (f"{_head(sample)} {','.join(parts)},{FIELD_SEQ}={int(sample.seq)}i,"
            f"{FIELD_HISTORICAL}={'true' if sample.historical else 'false'} {to_ms(sample.ts)}")


_MS = timedelta(milliseconds=1)


def encode_lines(samples: Iterable[Sample]) -> bytes:
    """A write body for `samples` (precision=ms): `line` of each, in one loop (this is the recorder's hot path)."""
    keys = _keys
    heads = _heads
    out = []
    for sample in samples:
        parts = []
        for key, value in sample.values.items():
            if value.__class__ is float and value - value == 0.0:  # finite (NaN and infinities give NaN)
                parts.append(f"{keys.get(key) or _escaped_key(key)}={value!r}")
            else:
                number = _number(value)
                if number is not None:
                    parts.append(f"{keys.get(key) or _escaped_key(key)}={number!r}")
        if not parts:
            continue
        head = heads.get((sample.site, sample.device))
        ts = sample.ts
        out.append(f"{head[1] if head is not None and head[0] == sample.kind else _head(sample)} {','.join(parts)},"
                   f"{FIELD_SEQ}={int(sample.seq)}i,{FIELD_HISTORICAL}={'true' if sample.historical else 'false'} "
                   f"{(ts - _EPOCH) // _MS if ts.tzinfo is UTC else to_ms(ts)}")
    return "\n".join(out).encode()


def encode_events(events: Iterable[ControllerEvent]) -> bytes:
    """A write body (precision=ms) of controller events (controllers.events schema): one point per event,
    identified by device, seq, site and the millisecond."""
    out = []
    for e in events:
        out.append(f"{MEASUREMENT},{TAG_DEVICE}={escape_key(e.device)},{TAG_SEQ}={int(e.seq)},"
                   f"{TAG_SITE}={escape_key(e.site)} {FIELD_CODE}={int(e.code)}i,{FIELD_PARAM}={int(e.param)}i "
                   f"{to_ms(e.ts)}")
    return "\n".join(out).encode()
