"""The telemetry schema, defined once: measurements, tags and fields, and the query interface of the stores.

InfluxDB (v1 HTTP API) and the embedded store both follow it. One measurement per device kind; tags `site`,
`device`; fields are the `values` of `telemetry` payloads (numbers; booleans stored as 0/1), plus `seq` and
`historical`. A point's identity is (measurement, site, device, timestamp): writing the same sample twice
overwrites it, which is what makes replay after an outage free of duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from controllers.devices import DeviceKind

TAG_SITE = "site"
TAG_DEVICE = "device"
FIELD_SEQ = "seq"
FIELD_HISTORICAL = "historical"


def measurement(kind: DeviceKind | str) -> str:
    """Measurement name of a device kind."""
    return DeviceKind(kind).value


#: Charted fields per kind, with their unit. Devices may send more; those are stored but not charted.
FIELDS: dict[DeviceKind, dict[str, str]] = {
    DeviceKind.SIGNAL_CONTROLLER: {
        "cycle_timer_s": "s", "cycle_s": "s", "cabinet_temp_c": "°C", "mains_voltage_v": "V", "uptime_s": "s",
        **{f"det{n}_count": "veh" for n in range(1, 9)},
        **{f"det{n}_occupancy_pct": "%" for n in range(1, 9)},
    },
    DeviceKind.LIGHTING_CABINET: {
        **{f"circuit{n}_level_pct": "%" for n in range(1, 5)},
        **{f"circuit{n}_current_a": "A" for n in range(1, 5)},
        **{f"circuit{n}_burning_h": "h" for n in range(1, 5)},
        **{f"circuit{n}_switch_count": "" for n in range(1, 5)},
        **{f"phase_{p}_voltage_v": "V" for p in "abc"},
        **{f"phase_{p}_current_a": "A" for p in "abc"},
        "active_power_w": "W", "energy_kwh": "kWh", "photocell_lux": "lx", "cabinet_temp_c": "°C",
        "clock_offset_s": "s",
    },
}


@dataclass(frozen=True, slots=True)
class Sample:
    """One telemetry sample of one device."""

    kind: DeviceKind
    site: str
    device: str
    ts: datetime
    seq: int
    values: dict[str, float | bool]
    historical: bool = False


class Aggregate(StrEnum):
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    LAST = "last"


@dataclass(frozen=True, slots=True)
class Series:
    """One field of one device over time: `points` are (interval start or sample time, value), oldest first;
    value None where an interval holds no sample."""

    device: str
    field: str
    points: list[tuple[datetime, float | None]] = dc_field(default_factory=list)


class TelemetryQuery(Protocol):
    async def query(self, *, kind: DeviceKind, device: str, fields: Sequence[str], start: datetime,
                    end: datetime, interval_s: float | None = None,
                    aggregate: Aggregate = Aggregate.MEAN) -> list[Series]:
        """Samples of `fields` of one device in [start, end). With `interval_s`, one point per interval
        (aggregated); without, the raw samples. Raises `StoreError` when the store cannot answer."""
        ...


class TelemetryWriter(Protocol):
    async def write(self, samples: Sequence[Sample]) -> None:
        """Write a batch; all or nothing. Raises `StoreError` (retryable) when the store cannot take it now."""
        ...


class StoreError(Exception):
    """The telemetry store failed; `retryable` tells whether the same batch may succeed later."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
