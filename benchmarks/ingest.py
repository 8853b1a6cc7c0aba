"""Recorder points per second into InfluxDB against two baselines of the same points, in the same run.

    python -m benchmarks.ingest [--devices 200] [--samples 300] [--rounds 3] [--profile recorder.prof]
                                [--write-concurrency N]

Private Mosquitto and InfluxDB 1.x.
- Raw: the line protocol of all samples POSTed to /write in batches of 5000 (one connection, as fast as InfluxDB
  answers) into database `raw`. No broker: no MQTT consumer can reach it on two cores.
- Broker-bound floor: a bare consumer (the project's `MqttIntake`, persistent session, manual acks) draining the
  same QoS 1 backlog, POSTing pre-encoded bodies of 5000 points (no decoding, no validation) into database
  `floor` through a write queue of 4, acknowledging each batch after its write: what any recorder on this broker
  and store could do at best.
- Recorder: the real `run_recorder` (persistent session, batch 5000, flush 1 s, its default write concurrency
  for InfluxDB unless --write-concurrency says otherwise) into database `signalight`.
For the floor and the recorder, their sessions are created first, then every sample is published once (QoS 1)
while both are down so the broker holds them, then each is started in turn and timed until InfluxDB counts every
sample. Each round measures all three; the ratios are taken per round and their median reported (--profile profiles the
last round's recorder). Targets: recorder/floor >= 0.85 (recorder/raw is reported too). The last line is
`RESULT ingest ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import statistics
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
from controllers.topics import Suffix, subscription
from gateways.mqtt import BusConfig, InboundMessage, MqttIntake
from gateways.recorder_service import run_recorder
from gateways.stores.influx import InfluxStore
from gateways.stores.lineproto import encode_lines
from tests.servers import InfluxDB, Mosquitto

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
BROKER_QUEUE = 100_000  # tests.servers.Mosquitto's max_queued_messages: the backlog must fit in it


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


async def raw_posts(influx: InfluxDB, data: list[Sample], k: int = 0) -> float:
    db = f"raw{k}"
    store = InfluxStore(influx.url, db)
    await store.create_database()
    bodies = [encode_lines(data[i:i + 5000]) for i in range(0, len(data), 5000)]
    async with httpx.AsyncClient(base_url=influx.url, timeout=60) as client:
        start = time.monotonic()
        for body in bodies:
            r = await client.post("/write", params={"db": db, "precision": "ms"}, content=body)
            r.raise_for_status()
        elapsed = time.monotonic() - start
    await store.aclose()
    assert await asyncio.to_thread(count, influx, db) == len(data)
    return len(data) / elapsed


def bus_config(broker: Mosquitto, client_id: str) -> BusConfig:
    return BusConfig(host=broker.host, port=broker.port, client_id=client_id, clean_session=False)


async def create_session(broker: Mosquitto, client_id: str) -> None:
    """Subscribe a persistent session to births and telemetry, then leave: the broker queues for it from now on."""
    intake = MqttIntake(bus_config(broker, client_id).model_copy(update={"manual_ack": True}),
                        [subscription(Suffix.BIRTH), subscription(Suffix.TELEMETRY)])
    async with intake:
        await intake.wait_connected(10)


async def drop_session(broker: Mosquitto, client_id: str) -> None:
    """Connect once with a clean session under `client_id`: the broker forgets that persistent session, which would
    otherwise keep queueing every later round's backlog (and Mosquitto's autosave would write it all every second,
    in the middle of later rounds' measurements)."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=client_id, clean_session=True):
        pass


async def publish_backlog(broker: Mosquitto, data: list[Sample], devices: int) -> None:
    quiet = logging.getLogger("benchmarks.ingest.publisher")
    quiet.setLevel(logging.ERROR)  # aiomqtt warns of every publish beyond its tenth in flight: here that is the plan
    async with aiomqtt.Client(broker.host, broker.port, max_inflight_messages=1000, logger=quiet) as pub:
        for d in range(devices):
            await pub.publish(f"sl/v1/bench/cab-{d:04d}/birth", json.dumps({
                "ts": to_rfc3339(T0), "bd_seq": 0, "kind": "lighting_cabinet", "model": "m", "firmware": "f",
                "capabilities": []}), qos=1, retain=True)
        payloads = [(f"sl/v1/bench/{s.device}/telemetry",
                     json.dumps({"ts": to_rfc3339(s.ts), "seq": s.seq, "values": s.values})) for s in data]
        for i in range(0, len(payloads), 100):  # aiomqtt's publish costs grow with the messages in flight
            await asyncio.gather(*(pub.publish(t, p, qos=1) for t, p in payloads[i:i + 100]))


async def until_counted(influx: InfluxDB, db: str, n: int, started: float) -> float:
    """Seconds from `started` until InfluxDB counts `n` points in `db`."""
    for _ in iter(int, 1):
        stored = await asyncio.to_thread(count, influx, db)
        if stored >= n:
            return time.monotonic() - started
        # Polled finely near the end: the raw figure is timed to its last answer, so a coarse poll would add
        # up to a whole interval (0.2 s on a run of about a second). Coarse before that, so that the count
        # queries do not take InfluxDB's CPU away from the writes being measured.
        await asyncio.sleep(0.2 if stored < 0.9 * n else 0.01)
    raise AssertionError("unreachable")


async def floor(influx: InfluxDB, broker: Mosquitto, data: list[Sample], k: int = 0) -> float:
    """The broker-bound floor (see the module docstring): points per second."""
    db = f"floor{k}"
    store = InfluxStore(influx.url, db)
    await store.create_database()
    await store.aclose()
    bodies = [encode_lines(data[i:i + 5000]) for i in range(0, len(data), 5000)]
    sizes = [min(5000, len(data) - i) for i in range(0, len(data), 5000)]
    intake = MqttIntake(bus_config(broker, f"bench-floor{k}").model_copy(update={"manual_ack": True}),
                        [subscription(Suffix.BIRTH), subscription(Suffix.TELEMETRY)])
    writes: asyncio.Queue[tuple[bytes, list[InboundMessage]]] = asyncio.Queue(maxsize=4)

    async def writer(client: httpx.AsyncClient) -> None:
        while True:
            body, messages = await writes.get()
            r = await client.post("/write", params={"db": db, "precision": "ms"}, content=body)
            r.raise_for_status()
            intake.ack(messages)

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=influx.url, timeout=60) as client, intake, asyncio.TaskGroup() as tg:
        task = tg.create_task(writer(client))
        held: list[InboundMessage] = []
        n = 0
        async for batch in intake:
            for m in batch:
                if m.topic.endswith("/telemetry"):
                    held.append(m)
                else:
                    intake.ack([m])
            while n < len(bodies) and len(held) >= sizes[n]:
                await writes.put((bodies[n], held[:sizes[n]]))
                del held[:sizes[n]]
                n += 1
            if n == len(bodies):
                break
        elapsed = await until_counted(influx, db, len(data), started)
        task.cancel()
    return len(data) / elapsed


async def recorder(influx: InfluxDB, broker: Mosquitto, data: list[Sample], profiler: Any = None,
                   k: int = 0, write_concurrency: int | None = None) -> float:
    db = f"signalight{k}"
    store = InfluxStore(influx.url, db)
    spool = Path(tempfile.mkdtemp(prefix="bench-spool-"))
    started = time.monotonic()
    if profiler is not None:
        profiler.enable()
    task = asyncio.create_task(run_recorder(bus=bus_config(broker, f"bench-rec{k}"), store=store, spool_dir=spool,
                                            clock=SystemClock(), write_concurrency=write_concurrency))
    try:
        elapsed = await until_counted(influx, db, len(data), started)
        if profiler is not None:
            profiler.disable()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.aclose()
    return len(data) / elapsed


async def main(devices: int, per_device: int, profile: Path | None = None, rounds: int = 3,
               write_concurrency: int | None = None) -> None:
    data = samples(devices, per_device)
    influx = InfluxDB(Path(tempfile.mkdtemp(prefix="bench-influx-")))
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    influx.start()
    broker.start()
    figures: list[tuple[float, float, float]] = []  # (raw, floor, recorder) of each round
    try:
        for k in range(rounds):
            # Each round alike, with its own databases and sessions: a run of about a second per figure is at
            # the mercy of whatever else the machine does, so the ratios are reported round by round and their
            # median is the result.
            raw = await raw_posts(influx, data, k)
            await create_session(broker, f"bench-floor{k}")
            await create_session(broker, f"bench-rec{k}")
            await InfluxStore(influx.url, f"signalight{k}").create_database()
            await publish_backlog(broker, data, devices)
            # The floor first: the recorder's InfluxDB then holds the floor's points too, which can only slow the
            # recorder, so the ratio errs against it.
            bound = await floor(influx, broker, data, k)
            profiler = cProfile.Profile() if profile is not None and k == rounds - 1 else None
            rec = await recorder(influx, broker, data, profiler, k, write_concurrency)
            if profiler is not None and profile is not None:
                profiler.dump_stats(profile)
            for client_id in (f"bench-floor{k}", f"bench-rec{k}"):
                await drop_session(broker, client_id)
            figures.append((raw, bound, rec))
            print(f"round {k + 1}: raw {raw:.0f}, floor {bound:.0f}, recorder {rec:.0f} points/s; "
                  f"recorder / floor = {rec / bound:.2f}", flush=True)
    finally:
        broker.stop()
        influx.stop()
    raw, bound, rec = (statistics.median(f[i] for f in figures) for i in range(3))
    ratio_floor = statistics.median(r / b for _, b, r in figures)
    ratio_raw = statistics.median(r / w for w, _, r in figures)
    print(f"samples={len(data)} devices={devices} fields_per_sample={len(data[0].values) + 2} rounds={rounds} "
          f"write_concurrency={write_concurrency or 'default (2)'}")
    print(f"medians: raw line-protocol POSTs: {raw:.0f} points/s; broker-bound floor (bare QoS 1 consumer, acks "
          f"after write, pre-encoded bodies): {bound:.0f} points/s; recorder (MQTT -> InfluxDB): {rec:.0f} points/s")
    print(f"recorder / floor = {ratio_floor:.2f} (target 0.85; rounds: "
          f"{', '.join(f'{r / b:.2f}' for _, b, r in figures)}); recorder / raw = {ratio_raw:.2f}")
    print(result_line("ingest", recorder_points_per_s=rec, floor_points_per_s=bound, raw_points_per_s=raw,
                      ratio_floor=ratio_floor, ratio_raw=ratio_raw, target_floor=0.85, samples=len(data),
                      rounds=rounds))

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--samples", type=int, default=300, help="samples per device")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three figures; the medians count")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the recorder's run to this file "
                        "(the figures then include the profiler's overhead)")
    parser.add_argument("--write-concurrency", type=int, help="the recorder's batches written at once (default: "
                        "run_recorder's for InfluxDB, 2)")
    args = parser.parse_args()
    if args.devices * args.samples > BROKER_QUEUE:
        # Beyond it the broker drops what it queues for the offline sessions, and the run would wait forever.
        parser.error(f"--devices x --samples = {args.devices * args.samples}: at most {BROKER_QUEUE} (the test "
                     f"broker's max_queued_messages)")
    asyncio.run(main(args.devices, args.samples, args.profile, args.rounds, args.write_concurrency))
