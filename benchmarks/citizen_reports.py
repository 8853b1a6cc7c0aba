"""How long matching a citizen's report to the nearest cabinet takes, with the bounding-box query the API uses
against reading every cabinet, on a registry of `cabinets` lighting cabinets spread over a city (SQLite).

    python -m benchmarks.citizen_reports [--cabinets 20000] [--queries 100]

The last line is `RESULT citizen_reports key=value ...` (milliseconds per match, and the ratio full scan / box).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from api.citizen_reports import distance_m, nearest_cabinet
from api.db import create_engine, migrate, session_factory
from api.models import Device

CENTRE = (21.5942, 105.8482)  # Thái Nguyên
SPREAD_DEG = 0.15  # ±16 km


async def run(cabinets: int, queries: int) -> dict[str, float]:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await migrate(url)
        engine = create_engine(url)
        sessions = session_factory(engine)
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            for n in range(cabinets):
                session.add(Device(id=f"lc-{n:06d}", site="tn", kind="lighting_cabinet", status="unknown",
                                   first_seen=now, last_seen=now,
                                   lat=CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG),
                                   lon=CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG)))
        points = [(CENTRE[0] + rng.uniform(-SPREAD_DEG, SPREAD_DEG), CENTRE[1] + rng.uniform(-SPREAD_DEG, SPREAD_DEG))
                  for _ in range(queries)]
        box_ms, scan_ms = [], []
        async with sessions() as session:
            for lat, lon in points:
                t0 = time.perf_counter()
                found = await nearest_cabinet(session, lat, lon, 300.0)
                box_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                rows = (await session.execute(select(Device.id, Device.lat, Device.lon).where(
                    Device.kind == "lighting_cabinet"))).all()
                best = min(((distance_m(lat, lon, a, b), i) for i, a, b in rows if a is not None and b is not None),
                           default=None)
                scan_ms.append((time.perf_counter() - t0) * 1000)
                expected = best[1] if best is not None and best[0] <= 300.0 else None
                assert (found.device_id if found else None) == expected, "the box query finds what a scan finds"
        await engine.dispose()
    box, scan = statistics.median(box_ms), statistics.median(scan_ms)
    return {"cabinets": cabinets, "queries": queries, "box_ms_p50": round(box, 3),
            "box_ms_p95": round(statistics.quantiles(box_ms, n=20)[18], 3), "scan_ms_p50": round(scan, 3),
            "ratio": round(scan / box, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cabinets", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    result = asyncio.run(run(args.cabinets, args.queries))
    print("RESULT citizen_reports " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
