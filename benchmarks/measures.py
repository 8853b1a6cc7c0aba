"""Events stored per second, and the time to compute a day of ATSPM measures for a fleet.

    python -m benchmarks.measures [--devices 50] [--events 2000] [--intersections 100] [--hours 24]

Private Mosquitto and InfluxDB 1.x.
- Raw: the line protocol of all events (`encode_events`) POSTed to /write in batches of 5000, one connection, into
  database `raw`: what the store takes at best.
- Recorder: the real `run_recorder` (persistent session, created first; every event then published once, QoS 1,
  while it is down, so the broker holds the backlog) timed from its start until InfluxDB counts every event in
  `controller_event`. Reported as events/s and as a ratio to raw.
- Measures: synthetic hi-res logs (a 100 s cycle, phases 2/6 coordinated and 4/8, gap/max/force-off
  terminations, detector arrivals on advance and stop-bar channels, ped calls) for `--intersections` controllers
  over `--hours`, each computed by `api.measures.compute` (atspm) as the measures job does, one intersection at a
  time. Reported in seconds for the whole fleet and per intersection.
The last line is `RESULT measures ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from api.measures import Detector, compute
from benchmarks.common import result_line
from controllers.clock import SystemClock, to_rfc3339
from controllers.events import ControllerEvent
from controllers.topics import Suffix, subscription
from gateways.mqtt import BusConfig, MqttIntake
from gateways.recorder_service import run_recorder
from gateways.stores.influx import InfluxStore
from gateways.stores.lineproto import encode_events
from tests.servers import InfluxDB, Mosquitto

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
DETECTORS = [Detector(2, 2, "advance"), Detector(6, 6, "advance"), Detector(12, 2, "stop_bar"),
             Detector(16, 6, "stop_bar"), Detector(4, 4, "stop_bar"), Detector(8, 8, "stop_bar"),
             Detector(14, 4, "advance"), Detector(18, 8, "advance")]


def synthetic_day(device: str, hours: float, rng: random.Random) -> list[ControllerEvent]:
    """A plausible hi-res log: 100 s cycles (2/6 green 50 s, 4/8 green 30 s, 4 s yellow, 2 s red clearance),
    Poisson arrivals on each phase's detectors (more on green for the coordinated phases: a platoon), ped calls."""
    out: list[tuple[float, int, int]] = []
    cycle = 100.0
    t = 0.0
    end = hours * 3600
    while t < end:
        for phases, start, green in (((2, 6), 0.0, 50.0), ((4, 8), 56.0, 30.0)):
            g0 = t + start
            for p in phases:
                out += [(g0, 1, p), (g0 + green, rng.choice((4, 5, 6)), p), (g0 + green, 8, p),
                        (g0 + green + 4, 9, p), (g0 + green + 4, 10, p), (g0 + green + 6, 11, p)]
                if rng.random() < 0.1:
                    out += [(g0 - rng.uniform(5, 40), 45, p), (g0, 21, p), (g0 + 7, 22, p)]
        t += cycle
    for d in DETECTORS:
        rate = 0.25 if d.phase in (2, 6) else 0.1
        s = rng.expovariate(rate)
        while s < end:
            on = min(s, end - 0.2)
            if d.phase in (2, 6) and rng.random() < 0.5 and on % cycle > 50:
                on = on - on % cycle + rng.uniform(0, 50)  # the platoon arrives on green
            out += [(on, 82, d.channel), (on + 0.1 + rng.uniform(0, 0.3 if d.type == "advance" else 2), 81,
                                          d.channel)]
            s += rng.expovariate(rate)
    out = [(round(x, 1), c, p) for x, c, p in out if 0 <= x < end]
    out.sort()
    return [ControllerEvent("bench", device, T0 + timedelta(seconds=x), i % 256, c, p)
            for i, (x, c, p) in enumerate(out)]


def count(influx: InfluxDB, db: str) -> int:
    influx.database = db
    r: Any = influx.query('SELECT count("code") FROM "controller_event"')
    series = r["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


async def until_counted(influx: InfluxDB, db: str, n: int, started: float) -> float:
    for _ in iter(int, 1):
        stored = await asyncio.to_thread(count, influx, db)
        if stored >= n:
            return time.monotonic() - started
        await asyncio.sleep(0.2 if stored < 0.9 * n else 0.01)
    raise AssertionError("unreachable")


async def raw_posts(influx: InfluxDB, events: list[ControllerEvent]) -> float:
    store = InfluxStore(influx.url, "raw")
    await store.create_database()
    await store.aclose()
    bodies = [encode_events(events[i:i + 5000]) for i in range(0, len(events), 5000)]
    async with httpx.AsyncClient(base_url=influx.url, timeout=60) as client:
        start = time.monotonic()
        for body in bodies:
            r = await client.post("/write", params={"db": "raw", "precision": "ms"}, content=body)
            r.raise_for_status()
        elapsed = time.monotonic() - start
    assert await asyncio.to_thread(count, influx, "raw") == len(events)
    return len(events) / elapsed


async def recorded(influx: InfluxDB, broker: Mosquitto, events: list[ControllerEvent]) -> float:
    cfg = BusConfig(host=broker.host, port=broker.port, client_id="bench-events", clean_session=False)
    intake = MqttIntake(cfg.model_copy(update={"manual_ack": True}),
                        [subscription(Suffix.BIRTH), subscription(Suffix.TELEMETRY), subscription(Suffix.EVENT)])
    async with intake:
        await intake.wait_connected(10)
    async with aiomqtt.Client(broker.host, broker.port, max_inflight_messages=1000) as pub:
        payloads = [(f"sl/v1/bench/{e.device}/event", json.dumps(
            {"ts": to_rfc3339(e.ts), "seq": e.seq, "code": e.code, "param": e.param})) for e in events]
        for i in range(0, len(payloads), 500):
            await asyncio.gather(*(pub.publish(t, p, qos=1) for t, p in payloads[i:i + 500]))
    store = InfluxStore(influx.url, "signalight")
    started = time.monotonic()
    task = asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=Path(tempfile.mkdtemp()),
                                            clock=SystemClock()))
    try:
        elapsed = await until_counted(influx, "signalight", len(events), started)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.aclose()
    return len(events) / elapsed


async def main(devices: int, per_device: int, intersections: int, hours: float) -> None:
    rng = random.Random(7)
    events: list[ControllerEvent] = []
    for d in range(devices):
        events += synthetic_day(f"tsc-{d:04d}", 24, rng)[:per_device]
    influx = InfluxDB(Path(tempfile.mkdtemp(prefix="bench-influx-")))
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    influx.start()
    broker.start()
    try:
        raw = await raw_posts(influx, events)
        rec = await recorded(influx, broker, events)
    finally:
        broker.stop()
        influx.stop()
    print(f"events stored: raw {raw:.0f}/s, recorder {rec:.0f}/s ({rec / raw:.2f} of raw), {len(events)} events")
    logs = [synthetic_day(f"tsc-{i:04d}", hours, rng) for i in range(intersections)]
    n = sum(len(x) for x in logs)
    started = time.monotonic()
    rows = 0
    for log in logs:
        rows += len(compute(log, DETECTORS).rows)
    took = time.monotonic() - started
    print(f"measures: {intersections} intersections x {hours} h = {n} events -> {rows} rows in {took:.1f} s "
          f"({took / intersections:.2f} s per intersection)")
    print(result_line("measures", recorder_events_per_s=round(rec), raw_events_per_s=round(raw),
                      recorder_vs_raw=rec / raw, events=len(events), intersections=intersections, hours=hours,
                      measure_events=n, measures_s=took, measures_s_per_intersection=took / intersections))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--events", type=int, default=2000, help="events per device for the storage figures")
    parser.add_argument("--intersections", type=int, default=100)
    parser.add_argument("--hours", type=float, default=24.0)
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.events, args.intersections, args.hours))
