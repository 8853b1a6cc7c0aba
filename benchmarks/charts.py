"""How long the telemetry charts' downsampled queries take on the embedded store, for a controller that sent
telemetry every 10 s: the three queries of a signal controller's chart page (8 detector counts `last`, 8
occupancies `mean`, the cycle length `max`) over windows of 1 h to 7 days, one point per interval as the UI asks
(at most 360 per series, views/telemetry.js).

    python -m benchmarks.charts [--days 7] [--repeat 5]

The last line is `RESULT charts key=value ...` (milliseconds, median of `repeat`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controllers.devices import DeviceKind
from controllers.telemetry import Aggregate, Sample
from gateways.stores.embedded import EmbeddedStore

SC = DeviceKind.SIGNAL_CONTROLLER
STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600]  # views/telemetry.js
MAX_POINTS = 360


def interval_for(minutes: int) -> int:
    return next((s for s in STEPS if minutes * 60 / s <= MAX_POINTS), STEPS[-1])


async def main(days: float, repeat: int) -> None:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    n = int(days * 8640)
    with tempfile.TemporaryDirectory() as tmp:
        store = EmbeddedStore(Path(tmp) / "telemetry.sqlite")
        t0 = time.perf_counter()
        batch: list[Sample] = []
        for i in range(n):
            values: dict[str, float | bool] = {"cycle_s": 100.0, "cycle_timer_s": float(i % 100)}
            for d in range(1, 9):
                values[f"det{d}_count"] = float((i * d // 7) % 65536)
                values[f"det{d}_occupancy_pct"] = 50 + 50 * math.sin(i / 500 + d)
            batch.append(Sample(SC, "tn", "sc-1", start + timedelta(seconds=10 * i), i % 256, values))
            if len(batch) == 5000:
                await store.write(batch)
                batch = []
        if batch:
            await store.write(batch)
        print(f"wrote {n} samples x 18 fields in {time.perf_counter() - t0:.1f} s")
        result = {}
        for minutes in (60, 360, 1440, 10080):
            if minutes > days * 1440:
                continue
            interval = interval_for(minutes)
            w_start = end - timedelta(minutes=minutes)
            queries = [([f"det{d}_count" for d in range(1, 9)], Aggregate.LAST),
                       ([f"det{d}_occupancy_pct" for d in range(1, 9)], Aggregate.MEAN),
                       (["cycle_s"], Aggregate.MAX)]
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                for fields, agg in queries:
                    series = await store.query(kind=SC, device="sc-1", fields=fields, start=w_start, end=end,
                                               interval_s=interval, aggregate=agg)
                    assert len(series[0].points) <= MAX_POINTS + 1
                times.append((time.perf_counter() - t) * 1000)
            key = f"window_{minutes}m_ms"
            result[key] = round(statistics.median(times), 1)
            print(f"window {minutes} min, one point per {interval} s: {result[key]} ms for the page's 3 queries")
        await store.aclose()
    print("RESULT charts " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.days, args.repeat))
