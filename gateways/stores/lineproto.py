"""InfluxDB line protocol for telemetry samples (controllers.telemetry schema), escaping done right.

Measurement: commas and spaces escaped. Tag keys/values and field keys: commas, equals signs and spaces escaped
(backslashes too, so a trailing backslash cannot eat the separator). Numbers are always written as floats (so a
field never changes type between 1 and 1.5, which InfluxDB would refuse), booleans as 0.0/1.0, `seq` as an integer,
`historical` as a boolean. Non-finite numbers cannot be stored and are left out. Timestamps in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from controllers.telemetry import FIELD_HISTORICAL, FIELD_SEQ, TAG_DEVICE, TAG_SITE, Sample, measurement


def escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def escape_key(text: str) -> str:
    """A tag key, tag value or field key."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def escape_string_field(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_ms(ts: datetime) -> int:
    """Milliseconds since the Unix epoch of an aware datetime. Raises ValueError for a naive one."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime in a telemetry sample")
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def sample_fields(sample: Sample) -> dict[str, float]:
    """The stored numeric fields of a sample (booleans as 0/1, non-finite values left out)."""
    out: dict[str, float] = {}
    for key, value in sample.values.items():
        number = float(value)
        if math.isfinite(number):
            out[key] = number
    return out


def line(sample: Sample) -> str | None:
    """One line of line protocol; None when the sample has no storable field."""
    fields = sample_fields(sample)
    if not fields:
        return None
    parts = [f"{escape_key(k)}={v!r}" for k, v in fields.items()]
    parts.append(f"{FIELD_SEQ}={int(sample.seq)}i")
    parts.append(f"{FIELD_HISTORICAL}={'true' if sample.historical else 'false'}")
    return (f"{escape_measurement(measurement(sample.kind))},{TAG_DEVICE}={escape_key(sample.device)},"
            f"{TAG_SITE}={escape_key(sample.site)} {','.join(parts)} {to_ms(sample.ts)}")


def encode_lines(samples: Iterable[Sample]) -> bytes:
    """A write body for `samples` (precision=ms)."""
    return "\n".join(x for x in (line(s) for s in samples) if x is not None).encode()
