"""Reliability on real servers: InfluxDB down for 30 s, broker restarted, recorder killed with SIGKILL.

Samples are identified by (device, ts); `seq` is checked too. "Exactly once" = every published sample is stored,
and the store holds nothing else (InfluxDB and the embedded store overwrite a rewritten sample)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from controllers.clock import SystemClock, to_rfc3339
from controllers.devices import DeviceKind
from gateways.gateway import run_gateway
from gateways.mqtt import BusConfig
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from tests.command_signing import TEST_KEYS
from tests.gateways.gateway_rig import cmd, entry, watching
from tests.gateways.helpers import eventually
from tests.gateways.modbus_device import ModbusTestDevice
from tests.servers import InfluxDB, Mosquitto

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)
BIRTH = {"ts": "2026-11-23T07:00:00.000Z", "bd_seq": 0, "kind": "signal_controller", "model": "m", "firmware": "f",
         "capabilities": []}


def sample(i: int) -> bytes:
    return json.dumps({"ts": to_rfc3339(T0 + timedelta(milliseconds=100 * i)), "seq": i % 256,
                       "values": {"cycle_timer_s": float(i)}}).encode()


async def publish_births(pub: aiomqtt.Client, devices: list[str]) -> None:
    for d in devices:
        await pub.publish(f"sl/v1/tn/{d}/birth", json.dumps(BIRTH), qos=1, retain=True)


@contextlib.asynccontextmanager
async def task_of(coro: Any) -> Any:
    task = asyncio.create_task(coro)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def influx_rows(influxdb: InfluxDB, device: str) -> list[list[Any]]:
    r: Any = influxdb.query(f'SELECT "cycle_timer_s", "seq" FROM "signal_controller" WHERE "device" = \'{device}\'')
    series = r["results"][0].get("series") or [{"values": []}]
    rows: list[list[Any]] = series[0]["values"]
    return rows


@pytest.mark.slow
async def test_influxdb_down_30_s_every_sample_arrives_exactly_once(
        mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    devices = [f"sc-{n}" for n in range(5)]
    store = InfluxStore(influxdb.url, influxdb.database, timeout_s=2)
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-rel", clean_session=False)
    published = 0
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub, \
            task_of(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool", clock=SystemClock(),
                                 batch_size=500, flush_interval_s=0.2)):
        await publish_births(pub, devices)
        await asyncio.sleep(0.3)

        async def publish_for(seconds: float) -> None:
            nonlocal published
            for _ in range(int(seconds * 10)):  # 10 samples a second per device
                for d in devices:
                    await pub.publish(f"sl/v1/tn/{d}/telemetry", sample(published), qos=1)
                published += 1
                await asyncio.sleep(0.1)

        await publish_for(3)
        await asyncio.to_thread(influxdb.stop)
        await publish_for(30)
        await asyncio.to_thread(influxdb.start)
        await publish_for(3)
        await eventually(lambda: all(len(influx_rows(influxdb, d)) == published for d in devices), within_s=60,
                         step_s=0.5)
    await store.aclose()
    for d in devices:
        rows = influx_rows(influxdb, d)
        assert [row[1] for row in rows] == [float(i) for i in range(published)]
        assert [row[2] for row in rows] == [i % 256 for i in range(published)]
    assert not list((tmp_path / "spool").glob("*.jsonl"))


async def test_broker_restart_gateway_and_recorder_resume_alone(
        mosquitto: Mosquitto, signal_device: ModbusTestDevice, tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.db")
    bus = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="gw-rel", backoff_max_s=1)
    rec = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-rel2", clean_session=False,
                    backoff_max_s=1)
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1)]

    async def stored() -> int:
        (series,) = await store.query(kind=DeviceKind.SIGNAL_CONTROLLER, device="sc-1", fields=["cycle_timer_s"],
                                      start=datetime.now(UTC) - timedelta(minutes=5), end=datetime.now(UTC))
        return len(series.points)

    async with task_of(run_recorder(bus=rec, store=store, spool_dir=tmp_path / "spool", clock=SystemClock(),
                                    flush_interval_s=0.1)), \
            task_of(run_gateway(bus=bus, devices=devices, clock=SystemClock(), command_keys=TEST_KEYS)):
        for _ in range(100):
            if await stored() >= 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.to_thread(mosquitto.restart)
        restarted = datetime.now(UTC)
        # telemetry recorded after the restart: both reconnected and the recorder's subscription is back
        for _ in range(200):
            (series,) = await store.query(kind=DeviceKind.SIGNAL_CONTROLLER, device="sc-1", fields=["cycle_timer_s"],
                                          start=restarted + timedelta(seconds=1), end=datetime.now(UTC))
            if len(series.points) >= 2:
                break
            await asyncio.sleep(0.1)
        assert len(series.points) >= 2
        # the gateway's command subscription is back too
        async with watching(mosquitto) as w, aiomqtt.Client(mosquitto.host, mosquitto.port) as sender:
            c = cmd("release", {})
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(c), qos=1)
            res = await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == c["id"])
            assert res["ok"] is True
            # and the retained state was republished for the broker's new life
            await w.wait_for("sl/v1/tn/sc-1/birth")
    await store.aclose()


async def test_recorder_sigkill_loses_nothing_that_reached_the_broker(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Guarantee (ack after write or spool, persistent session): every sample published is stored exactly once,
    whether it was written before the kill, in flight at the kill (received, not yet written: unacknowledged, so
    the broker redelivers it), or published while the recorder was dead."""
    db, spool = tmp_path / "t.db", tmp_path / "spool"
    args = [sys.executable, "-m", "tests.gateways.recorder_proc", mosquitto.host, str(mosquitto.port), str(db),
            str(spool)]
    store = EmbeddedStore(db)

    async def stored() -> list[float]:
        (series,) = await store.query(kind=DeviceKind.SIGNAL_CONTROLLER, device="sc-k", fields=["cycle_timer_s"],
                                      start=T0, end=T0 + timedelta(hours=1))
        return [v for _, v in series.points if v is not None]

    root = Path(__file__).parents[2]
    drains: list[asyncio.Task[None]] = []

    async def subscribed(proc: asyncio.subprocess.Process) -> None:
        """Wait until the recorder process says it is subscribed (a new persistent session keeps only what is
        published after that), then keep draining its log so that it never blocks on a full pipe."""
        assert proc.stderr is not None
        stream = proc.stderr
        async with asyncio.timeout(30):
            while b"mqtt_intake_connected" not in (line := await stream.readline()):
                assert line, "the recorder process ended before subscribing"

        async def drain() -> None:
            while await stream.read(65536):
                pass

        drains.append(asyncio.create_task(drain()))

    proc = await asyncio.create_subprocess_exec(*args, cwd=root, stderr=asyncio.subprocess.PIPE)
    try:
        await subscribed(proc)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await publish_births(pub, ["sc-k"])
            for i in range(0, 100):
                await pub.publish("sl/v1/tn/sc-k/telemetry", sample(i), qos=1)
            for _ in range(100):
                if len(await stored()) == 100:
                    break
                await asyncio.sleep(0.1)
            assert len(await stored()) == 100
            for i in range(100, 200):
                await pub.publish("sl/v1/tn/sc-k/telemetry", sample(i), qos=1)
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)
            for i in range(200, 300):
                await pub.publish("sl/v1/tn/sc-k/telemetry", sample(i), qos=1)
        proc = await asyncio.create_subprocess_exec(*args, cwd=root, stderr=asyncio.subprocess.PIPE)
        await subscribed(proc)
        for _ in range(150):
            got = await stored()
            if got and got[-1] == 299.0 and len(got) >= 200:
                break
            await asyncio.sleep(0.1)
        got = await stored()
        assert len(got) == len(set(got))
        have = set(got)
        assert set(map(float, range(100))) <= have
        assert set(map(float, range(200, 300))) <= have
        lost = sorted(set(map(float, range(100, 200))) - have)
        assert lost == [] or lost == [float(x) for x in range(int(lost[0]), int(lost[-1]) + 1)]
        print(f"sigkill: lost {len(lost)} of the 100 samples in flight")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 10)
        for task in drains:
            task.cancel()
        await store.aclose()


async def test_gateway_keeps_telemetry_through_a_broker_outage(
        mosquitto: Mosquitto, signal_device: ModbusTestDevice) -> None:
    """Telemetry polled while the broker is down waits in the outbox and arrives after the restart, in order,
    marked historical, with no gap in the device's seq."""
    bus = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="gw-outage", backoff_max_s=0.5,
                    publish_timeout_s=2)
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1)]
    topic = "sl/v1/tn/sc-1/telemetry"
    # The observer keeps a persistent session across the broker restart, so it misses nothing sent meanwhile.
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="obs-outage", clean_session=False) as obs:
        await obs.subscribe(topic, qos=1)
    got: list[dict[str, Any]] = []
    async with task_of(run_gateway(bus=bus, devices=devices, clock=SystemClock())):
        await asyncio.sleep(2)
        await asyncio.to_thread(mosquitto.stop)
        await asyncio.sleep(3.5)  # ~3 fast polls while the broker is gone
        await asyncio.to_thread(mosquitto.start)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="obs-outage",
                                  clean_session=False) as obs:
            await obs.subscribe(topic, qos=1)
            async with asyncio.timeout(15):
                async for m in obs.messages:
                    got.append(json.loads(m.payload))
                    if any(p.get("historical") for p in got) and "historical" not in got[-1]:
                        break
    history = [p for p in got if p.get("historical")]
    assert len(history) >= 2
    seqs = [p["seq"] for p in history]
    assert seqs == [(seqs[0] + i) % 256 for i in range(len(seqs))]
    assert got[-1]["ts"] > history[-1]["ts"]
