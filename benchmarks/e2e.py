"""From a simulated sample to queryable in InfluxDB: latency p50 and p99 through the whole pipeline.

    python -m benchmarks.e2e [--devices 20] [--seconds 20] [--flush 1.0]

Signal controllers on a pymodbus server (child process) -> the real gateway (polls every second, publishes
`telemetry` stamped with the poll time) -> private Mosquitto -> the real recorder (batches, flush every `flush`
seconds) -> private InfluxDB. A watcher queries InfluxDB every 50 ms; a sample's latency is the time it is first
seen minus its timestamp. Baseline in the same run: samples POSTed straight to InfluxDB the moment they are made,
seen by the same watcher (the floor set by InfluxDB and the 50 ms watch). The last line is `RESULT e2e ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import percentile, result_line
from benchmarks.fleet import start_servers
from controllers.clock import SystemClock
from controllers.devices import DeviceKind
from controllers.telemetry import Sample
from gateways.gateway import run_gateway
from gateways.mqtt import BusConfig
from gateways.recorder_service import run_recorder
from gateways.stores.influx import InfluxStore
from gateways.stores.lineproto import encode_lines
from tests.servers import InfluxDB, Mosquitto


async def watch(url: str, db: str, seen: dict[tuple[str, int], float], stop: asyncio.Event) -> None:
    """Record when each (device, time ms) first becomes queryable."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while not stop.is_set():
            r = await client.get("/query", params={
                "db": db, "epoch": "ms", "q": 'SELECT "seq" FROM "signal_controller" WHERE time > now() - 30s '
                                               'GROUP BY "device"'})
            now = time.time()
            for s in r.json()["results"][0].get("series", []):
                device = s["tags"]["device"]
                for row in s["values"]:
                    seen.setdefault((device, int(row[0])), now)
            await asyncio.sleep(0.05)


def latencies(seen: dict[tuple[str, int], float], since_ms: int) -> list[float]:
    return [at - ts / 1000 for (_, ts), at in seen.items() if ts >= since_ms]


async def baseline(influx: InfluxDB, seconds: float, devices: int) -> list[float]:
    store = InfluxStore(influx.url, "direct")
    await store.create_database()
    seen: dict[tuple[str, int], float] = {}
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(influx.url, "direct", seen, stop))
    start_ms = int(time.time() * 1000)
    async with httpx.AsyncClient(base_url=influx.url) as client:
        for i in range(int(seconds)):
            now = datetime.now(UTC)
            body = encode_lines([Sample(DeviceKind.SIGNAL_CONTROLLER, "bench", f"sc-{d:05d}", now, i % 256,
                                        {"cycle_timer_s": float(i)}) for d in range(devices)])
            await client.post("/write", params={"db": "direct", "precision": "ms"}, content=body)
            await asyncio.sleep(1.0)
    await asyncio.sleep(1.0)
    stop.set()
    await watcher
    await store.aclose()
    return latencies(seen, start_ms)


async def pipeline(influx: InfluxDB, broker: Mosquitto, devices: int, seconds: float, flush_s: float) -> list[float]:
    procs, entries = start_servers(devices)
    store = InfluxStore(influx.url, influx.database)
    bus = BusConfig(host=broker.host, port=broker.port, client_id="e2e-gw")
    seen: dict[tuple[str, int], float] = {}
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    try:
        tasks.append(asyncio.create_task(run_recorder(
            bus=bus.model_copy(update={"client_id": "e2e-rec", "clean_session": False}), store=store,
            spool_dir=Path(tempfile.mkdtemp(prefix="bench-spool-")), clock=SystemClock(), flush_interval_s=flush_s)))
        tasks.append(asyncio.create_task(run_gateway(bus=bus, devices=entries, clock=SystemClock())))
        await asyncio.sleep(4)  # warm-up: first contact, births
        start_ms = int(time.time() * 1000)
        watcher = asyncio.create_task(watch(influx.url, influx.database, seen, stop))
        await asyncio.sleep(seconds)
        end_ms = int(time.time() * 1000) - int((flush_s + 1) * 1000)
        await asyncio.sleep(flush_s + 1.5)
        stop.set()
        await watcher
    finally:
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await store.aclose()
        for p in procs:
            p.kill()
    return [x for (d, ts), at in seen.items() if start_ms <= ts <= end_ms for x in [at - ts / 1000]]


async def main(devices: int, seconds: float, flush_s: float) -> None:
    influx = InfluxDB(Path(tempfile.mkdtemp(prefix="bench-influx-")))
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    influx.start()
    broker.start()
    try:
        base = await baseline(influx, min(seconds, 10), devices)
        lat = await pipeline(influx, broker, devices, seconds, flush_s)
    finally:
        broker.stop()
        influx.stop()
    b50, b99 = percentile(base, 50) * 1000, percentile(base, 99) * 1000
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    print(f"devices={devices} samples={len(lat)} recorder_flush_s={flush_s}")
    print(f"pipeline sample -> queryable: p50={p50:.0f} ms p99={p99:.0f} ms max={max(lat, default=0) * 1000:.0f} ms")
    print(f"baseline direct POST -> queryable: p50={b50:.0f} ms p99={b99:.0f} ms ({len(base)} samples)")
    print(result_line("e2e", p50_ms=p50, p99_ms=p99, baseline_p50_ms=b50, baseline_p99_ms=b99, samples=len(lat),
                      flush_s=flush_s, devices=devices))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flush", type=float, default=1.0, help="recorder flush interval, s")
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.seconds, args.flush))
