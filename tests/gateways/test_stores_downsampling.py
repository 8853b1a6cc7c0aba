"""The downsampled query the telemetry charts make (several fields, one point per interval, an aggregate) gives the
same answer on the embedded store and on a real InfluxDB: same interval starts, same values, same empty intervals,
for a window that does not start on an interval boundary and a field the device never sent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controllers.devices import DeviceKind
from controllers.telemetry import Aggregate, Sample, Series
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from tests.servers import InfluxDB

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)
SC = DeviceKind.SIGNAL_CONTROLLER
FIELDS = ["det1_count", "det2_count", "det1_occupancy_pct", "cycle_s", "det8_count"]  # det8: never sent


def _samples() -> list[Sample]:
    """30 minutes of a controller's telemetry every 10 s (jittered by up to 2 s), with a 3-minute outage and a
    detector counter that wraps at 65536."""
    rng = random.Random(14)
    out, c1, c2 = [], 65_400, 0
    for n in range(180):
        if 60 <= n < 78:
            continue  # the outage: empty intervals
        c1 = (c1 + rng.randint(0, 6)) % 65_536
        c2 += rng.randint(0, 3)
        ts = T0 + timedelta(seconds=10 * n + rng.randint(0, 1999) / 1000)
        out.append(Sample(SC, "tn", "sc-1", ts, n % 256, {
            "det1_count": c1, "det2_count": c2, "det1_occupancy_pct": round(rng.uniform(0, 100), 1),
            "cycle_s": 100.0 if n < 90 else 120.0}))
    return out


def _as_rows(series: list[Series]) -> list[tuple[str, list[tuple[datetime, float | None]]]]:
    return [(s.field, [(t, None if v is None else round(v, 9)) for t, v in s.points]) for s in series]


async def test_both_stores_downsample_alike(tmp_path: Path, influxdb: InfluxDB) -> None:
    embedded = EmbeddedStore(tmp_path / "telemetry.sqlite")
    influx = InfluxStore(influxdb.url, influxdb.database)
    await influx.create_database()
    try:
        samples = _samples()
        await embedded.write(samples)
        await influx.write(samples)
        start = T0 + timedelta(seconds=95)  # not on an interval boundary
        end = T0 + timedelta(minutes=30)
        compared = 0
        for interval_s in (10, 60, 300):
            for agg in Aggregate:
                args = {"kind": SC, "device": "sc-1", "fields": FIELDS, "start": start, "end": end,
                        "interval_s": interval_s, "aggregate": agg}
                a = _as_rows(await embedded.query(**args))
                b = _as_rows(await influx.query(**args))
                assert a == b, (interval_s, agg)
                first = a[0][1]
                assert sum(v is not None for _, v in first) > len(first) / 2  # a real answer, not all empty
                assert first[0][0] == T0 + timedelta(seconds=(95 // interval_s) * interval_s)  # epoch-aligned
                assert all(v is None for _, v in a[FIELDS.index("det8_count")][1])
                if interval_s == 60:  # the outage's minutes hold nothing
                    assert first[10][1] is None and first[11][1] is None
                compared += 1
        assert compared == 12
    finally:
        await embedded.aclose()
        await influx.aclose()
