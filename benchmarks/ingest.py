"""Recorder points per second into InfluxDB against raw line-protocol POSTs of the same points, in the same run.

    python -m benchmarks.ingest [--devices 200] [--samples 300]

Private Mosquitto and InfluxDB 1.x. Baseline: the line protocol of all samples POSTed to /write in batches of 5000
(one connection, as fast as InfluxDB answers) into database `raw`. Recorder: the real `run_recorder` (persistent
session, batch 5000, flush 1 s) into database `signalight`: its session is created, the recorder stopped, every
sample published (QoS 1) while it is down so the broker holds them, then the recorder started and timed until
InfluxDB counts every sample. So the figure is the recorder's intake (MQTT, validation, batching, writes), not the
publisher's. Target: ratio >= 0.7. The last line is `RESULT ingest ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from benchmarks.common import result_line
from controllers.clock import SystemClock, to_rfc3339
from controllers.devices import DeviceKind
from controllers.telemetry import Sample
from gateways.mqtt import BusConfig
from gateways.recorder import run_recorder
from gateways.stores.influx import InfluxStore
from gateways.stores.lineproto import encode_lines
from tests.servers import InfluxDB, Mosquitto

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def samples(devices: int, per_device: int) -> list[Sample]:
    out = []
    for i in range(per_device):
        for d in range(devices):
            out.append(Sample(DeviceKind.LIGHTING_CABINET, "bench", f"cab-{d:04d}", T0 + timedelta(seconds=i), i % 256,
                              {"circuit1_level_pct": 80.0, "circuit1_current_a": 3.5 + d % 7, "energy_kwh": 100.0 + i,
                               "phase_a_voltage_v": 230.1, "photocell_lux": 12.0, "cabinet_temp_c": 31.5}))
    return out


def count(influx: InfluxDB, db: str) -> int:
    influx.database = db
    r: Any = influx.query('SELECT count("energy_kwh") FROM "lighting_cabinet"')
    series = r["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


async def raw_posts(influx: InfluxDB, data: list[Sample]) -> float:
    store = InfluxStore(influx.url, "raw")
    await store.create_database()
    bodies = [encode_lines(data[i:i + 5000]) for i in range(0, len(data), 5000)]
    async with httpx.AsyncClient(base_url=influx.url, timeout=60) as client:
        start = time.monotonic()
        for body in bodies:
            r = await client.post("/write", params={"db": "raw", "precision": "ms"}, content=body)
            r.raise_for_status()
        elapsed = time.monotonic() - start
    await store.aclose()
    assert await asyncio.to_thread(count, influx, "raw") == len(data)
    return len(data) / elapsed


async def recorder(influx: InfluxDB, broker: Mosquitto, data: list[Sample], devices: int,
                   profiler: Any = None) -> float:
    store = InfluxStore(influx.url, "signalight")
    cfg = BusConfig(host=broker.host, port=broker.port, client_id="bench-rec", clean_session=False)
    spool = Path(tempfile.mkdtemp(prefix="bench-spool-"))

    def start() -> asyncio.Task[None]:
        return asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=spool, clock=SystemClock()))

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    task = start()
    await asyncio.sleep(1.0)
    await stop(task)
    async with aiomqtt.Client(broker.host, broker.port, max_inflight_messages=1000) as pub:
        for d in range(devices):
            await pub.publish(f"sl/v1/bench/cab-{d:04d}/birth", json.dumps({
                "ts": to_rfc3339(T0), "bd_seq": 0, "kind": "lighting_cabinet", "model": "m", "firmware": "f",
                "capabilities": []}), qos=1, retain=True)
        payloads = [(f"sl/v1/bench/{s.device}/telemetry",
                     json.dumps({"ts": to_rfc3339(s.ts), "seq": s.seq, "values": s.values})) for s in data]
        for i in range(0, len(payloads), 500):
            await asyncio.gather(*(pub.publish(t, p, qos=1) for t, p in payloads[i:i + 500]))
    started = time.monotonic()
    if profiler is not None:
        profiler.enable()
    task = start()
    try:
        for _ in iter(int, 1):
            stored = await asyncio.to_thread(count, influx, "signalight")
            if stored >= len(data):
                break
            # Polled finely near the end: the raw figure is timed to its last answer, so a coarse poll would add
            # up to a whole interval to the recorder's time (0.2 s on a run of about a second). Coarse before
            # that, so that the count queries do not take InfluxDB's CPU away from the writes being measured.
            await asyncio.sleep(0.2 if stored < 0.9 * len(data) else 0.01)
        elapsed = time.monotonic() - started
        if profiler is not None:
            profiler.disable()
    finally:
        await stop(task)
        await store.aclose()
    return len(data) / elapsed


async def main(devices: int, per_device: int) -> None:
    data = samples(devices, per_device)
    influx = InfluxDB(Path(tempfile.mkdtemp(prefix="bench-influx-")))
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    influx.start()
    broker.start()
    try:
        raw = await raw_posts(influx, data)
        rec = await recorder(influx, broker, data, devices)
    finally:
        broker.stop()
        influx.stop()
    print(f"samples={len(data)} devices={devices} fields_per_sample={len(data[0].values) + 2}")
    print(f"raw line-protocol POSTs: {raw:.0f} points/s; recorder (MQTT -> InfluxDB): {rec:.0f} points/s")
    print(result_line("ingest", recorder_points_per_s=rec, raw_points_per_s=raw, ratio=rec / raw, target=0.7,
                      samples=len(data)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--samples", type=int, default=300, help="samples per device")
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.samples))
