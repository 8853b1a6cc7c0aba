"""The recorder: validation, the unknown-kind rule, batching, the disk spool (ordered replay, historical, no
duplicates), clean flush on shutdown; and end to end on a real Mosquitto into a real InfluxDB."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from controllers.bus import BusMessage
from controllers.clock import SystemClock, to_rfc3339
from controllers.devices import DeviceKind
from controllers.telemetry import Sample, StoreError
from gateways.mqtt import BrokerRefusedError, BusConfig, InboundMessage, MqttIntake
from gateways.recorder import Recorder, _fast_telemetry, make_sample
from gateways.recorder_service import ask_for_births, run_recorder
from gateways.spool import Spool
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from gateways.telemetry_contract import judge_telemetry
from tests.gateways.helpers import eventually
from tests.gateways.recorder_fakes import SC, T0, FlakyStore, birth, recorder, tele
from tests.servers import InfluxDB, Mosquitto


async def test_malformed_telemetry_is_counted_and_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = recorder(FlakyStore(), tmp_path)
    r.on_birth(birth("sc-1"))
    bad = [BusMessage("sl/v1/tn/sc-1/telemetry", b"{not json"),
           BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts": "2026-11-23T07:00:00Z", "seq": 300, "values": {"a": 1}}'),
           BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts": "yesterday", "seq": 1, "values": {"a": 1}}'),
           BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {}}'),
           BusMessage("sl/v1/tn/sc-1/telemetry", b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": "x"}}'),
           BusMessage("sl/v1/tn/SC 1/telemetry", b'{}')]
    for m in bad:
        r.on_telemetry(m)
    assert r.stats.malformed == len(bad) and r.batch == []
    assert "telemetry_malformed device=sc-1" in caplog.text and "seq" in caplog.text


async def test_samples_wait_for_the_birth_that_names_their_kind(tmp_path: Path) -> None:
    r = recorder(FlakyStore(), tmp_path, pending_per_device=2)
    for seq in range(3):
        r.on_telemetry(tele("cab-9", seq))
    assert r.batch == [] and r.stats.pending_dropped == 1
    r.on_birth(birth("cab-9", "lighting_cabinet"))
    assert [(x.kind.value, x.seq) for x in r.batch] == [("lighting_cabinet", 1), ("lighting_cabinet", 2)]


async def test_store_down_spools_then_replays_in_order_marked_historical(tmp_path: Path) -> None:
    store = FlakyStore()
    r = recorder(store, tmp_path, batch_size=2)
    r.on_birth(birth("sc-1"))
    async with asyncio.TaskGroup() as tg:
        writer = tg.create_task(r.writer())
        replayer = tg.create_task(r.replayer(retry_s=0.01))
        store.down = True
        for seq in range(6):
            r.on_telemetry(tele("sc-1", seq))
            await r.maybe_flush()
        await eventually(lambda: r.spool.batches == 3)
        assert store.batches == []
        store.down = False
        await eventually(lambda: r.spool.batches == 0)
        writer.cancel()
        replayer.cancel()
    got = [x for b in store.batches for x in b]
    assert [x.seq for x in got] == [0, 1, 2, 3, 4, 5]
    assert all(x.historical for x in got)
    assert not list((tmp_path / "spool").glob("*.jsonl"))


async def test_a_refused_batch_is_kept_aside_not_lost(tmp_path: Path) -> None:
    store = FlakyStore()
    store.refuse = True
    r = recorder(store, tmp_path)
    assert await r._write([Sample("signal_controller", "tn", "sc-1", T0, 0, {"a": 1.0})])  # type: ignore[arg-type]
    kept = list((tmp_path / "spool" / "rejected").glob("*.jsonl"))
    assert len(kept) == 1 and '"d":"sc-1"' in kept[0].read_text()


async def test_spool_survives_a_restart_and_drops_oldest_when_full(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=600)
    mk = [Sample(SC, "tn", "sc-1", T0 + timedelta(seconds=i), i, {"a": 1.0}) for i in range(4)]
    for x in mk:
        await spool.append([x])
    again = Spool(tmp_path / "spool", max_bytes=600)
    assert again.batches == spool.batches
    first = await again.peek()
    assert first is not None and first[1][0].seq == spool.dropped_samples
    big = Spool(tmp_path / "spool2", max_bytes=10_000)
    await big.append(mk)
    item = await big.peek()
    assert item is not None and [x.seq for x in item[1]] == [0, 1, 2, 3] and item[1][0].ts == T0


async def test_clean_shutdown_writes_the_open_batch(tmp_path: Path) -> None:
    store = FlakyStore()
    r = recorder(store, tmp_path, batch_size=1000, flush_interval_s=60)
    r.on_birth(birth("sc-1"))
    r.on_telemetry(tele("sc-1", 0))
    await r.maybe_flush()
    assert store.batches == []
    await r.close()
    assert [x.seq for x in store.batches[0]] == [0]
    store.down = True
    r.on_telemetry(tele("sc-1", 1))
    await r.close(timeout_s=0.5)
    assert r.spool.batches == 1


PAYLOADS = [
    b'{"ts": "2026-11-23T07:00:00.125Z", "seq": 7, "values": {"a": 1.5, "b_2": 3, "c": true}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 0, "historical": true, "values": {"a": -1e-3}}',
    b'{"ts": "2026-11-23T07:00:00.123456Z", "seq": 255, "historical": false, "values": {"a": 0}}',
    b'{"ts": "2026-11-23T07:00:00.1234567Z", "seq": 1, "values": {"a": 1}}',
    b'{"ts": "2026-11-23T07:00:00+00:00", "seq": 1, "values": {"a": 1}}',
    b'{"ts": "2026-11-23", "seq": 1, "values": {"a": 1}}',
    b'{"ts": "2026-13-45T07:00:00Z", "seq": 1, "values": {"a": 1}}',
    '{"ts": "２026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1}}'.encode(),
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 256, "values": {"a": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": -1, "values": {"a": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1.0, "values": {"a": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": true, "values": {"a": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": "1", "values": {"a": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": []}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1}, "extra": 1}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1}, "historical": 1}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"A": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"1a": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a\\n": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"' + b"a" * 64 + b'": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"' + b"a" * 65 + b'": 1}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": "1"}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": null}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": [1]}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": {"b": 1}}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": NaN}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1e400}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1e308, "b": 1e308}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 100000000000000000000000000000000000000}}',
    b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "values": {"a": 1, "a": "x"}}',
    b'{"ts": "2026-11-23T07:00:00Z", "ts": 5, "seq": 1, "values": {"a": 1}}',
    b'[1, 2, 3]', b'"text"', b'{not json', b'',
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_fast_validator_accepts_only_what_the_contract_accepts(payload: bytes) -> None:
    fast = _fast_telemetry(payload)
    if fast is None:
        return  # the judge decides (and names the problem)
    judged = judge_telemetry(payload)
    assert fast == judged
    assert [type(v) for v in fast[3].values()] == [type(v) for v in judged[3].values()]


def test_the_fast_validator_takes_the_usual_payloads() -> None:
    assert all(_fast_telemetry(p) is not None for p in PAYLOADS[:3])
    assert _fast_telemetry(tele("sc-1", 3).payload) is not None


async def test_an_impossible_date_is_malformed_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    r = recorder(FlakyStore(), tmp_path)
    r.on_birth(birth("sc-1"))
    payload = b'{"ts": "2026-13-45T07:00:00Z", "seq": 1, "values": {"a": 1}}'  # the pattern holds, the date not
    r.on_telemetry(BusMessage("sl/v1/tn/sc-1/telemetry", payload))
    assert r.stats.malformed == 1 and r.batch == []
    assert "telemetry_malformed device=sc-1" in caplog.text and "ts:" in caplog.text


def test_hot_path_samples_are_ordinary_samples() -> None:
    fast = make_sample(SC, "tn", "sc-1", T0, 3, {"a": 1.0}, True)
    assert fast == Sample(SC, "tn", "sc-1", T0, 3, {"a": 1.0}, True)
    with pytest.raises(AttributeError):
        fast.seq = 4  # type: ignore[misc]


async def test_telemetry_is_acked_after_the_write_the_rest_on_receipt(tmp_path: Path) -> None:
    acked: list[list[str]] = []
    store = FlakyStore()
    r = recorder(store, tmp_path, ack=lambda ms: acked.append([m.topic + ":" + m.payload.decode()[:5] for m in ms]))

    def msg(m: BusMessage, mid: int) -> InboundMessage:
        return InboundMessage(m.topic, m.payload, m.retain, 1, mid, 1)

    batch = [msg(birth("sc-1"), 1), msg(tele("sc-1", 0), 2), msg(BusMessage("sl/v1/tn/sc-1/telemetry", b"junk"), 3),
             msg(tele("sc-2", 0), 4), msg(tele("sc-1", 1), 5)]
    await r.take(batch)
    # birth, malformed and the sample waiting for sc-2's birth: on receipt
    assert acked == [["sl/v1/tn/sc-1/birth:{\"kin", "sl/v1/tn/sc-1/telemetry:junk", "sl/v1/tn/sc-2/telemetry:{\"ts\""]]
    assert r.stats.received == 4 and r.stats.malformed == 1 and [x.seq for x in r.batch] == [0, 1]
    async with asyncio.TaskGroup() as tg:
        writer = tg.create_task(r.writer())
        await r.maybe_flush(force=True)
        await eventually(lambda: len(acked) == 2)
        writer.cancel()
    assert [x.seq for x in store.batches[0]] == [0, 1] and len(acked[1]) == 2


async def test_a_busy_store_holds_the_intake_a_stuck_one_fills_the_spool(tmp_path: Path) -> None:
    class SlowStore(FlakyStore):
        delay = 0.1

        async def write(self, samples: Sequence[Sample]) -> None:
            await asyncio.sleep(self.delay)
            await super().write(samples)

    store = SlowStore()
    r = recorder(store, tmp_path, batch_size=2, write_queue=1, queue_wait_s=2.0)
    r.on_birth(birth("sc-1"))
    async with asyncio.TaskGroup() as tg:
        writer = tg.create_task(r.writer())
        for seq in range(8):
            await r.take([tele("sc-1", seq)])  # waits while the queue is full: the intake is held
        await r.maybe_flush(force=True)
        await eventually(lambda: r.writes.empty() and not r.in_flight, within_s=5)
        writer.cancel()
    assert r.stats.batches_spooled == 0 and [x.seq for b in store.batches for x in b] == list(range(8))
    store.delay = 10
    r = recorder(store, tmp_path, batch_size=2, write_queue=1, queue_wait_s=0.05)
    r.on_birth(birth("sc-1"))
    async with asyncio.TaskGroup() as tg:
        writer = tg.create_task(r.writer())
        for seq in range(8):
            await r.take([tele("sc-1", seq)])
        writer.cancel()
    assert r.spool.batches >= 1  # the store stayed behind: its batches went to disk


async def test_concurrent_writes_are_settled_in_queue_order(tmp_path: Path) -> None:
    """Two writes at once; the first fails after the second succeeded: the acks still leave in queue order (the
    failed batch is spooled first, then the written one acknowledged), and nothing is lost."""
    first_started = asyncio.Event()
    fail_first = asyncio.Event()

    class Store(FlakyStore):
        in_progress = 0
        most_at_once = 0

        async def write(self, samples: Sequence[Sample]) -> None:
            self.in_progress += 1
            self.most_at_once = max(self.most_at_once, self.in_progress)
            try:
                if samples[0].seq == 0 and not first_started.is_set():
                    first_started.set()
                    await fail_first.wait()
                    raise StoreError("connection reset")
                await super().write(samples)
            finally:
                self.in_progress -= 1

    store = Store()
    settled: list[str] = []
    r = recorder(store, tmp_path, batch_size=2, write_concurrency=2,
                 ack=lambda msgs: settled.extend(json.loads(m.payload)["ts"] for m in msgs))
    spool_append = r.spool.append

    async def spooled(samples: Sequence[Sample]) -> None:
        settled.append(f"spooled {[x.seq for x in samples]}")
        await spool_append(samples)

    r.spool.append = spooled  # type: ignore[method-assign]
    r.on_birth(birth("sc-1"))
    async with asyncio.TaskGroup() as tg:
        writer = tg.create_task(r.writer())
        for seq in range(4):
            await r.take([tele("sc-1", seq)])
        await first_started.wait()
        await eventually(lambda: [x.seq for b in store.batches for x in b] == [2, 3])  # written beside the first
        assert store.most_at_once == 2 and settled == [], "nothing acknowledged before the first batch settles"
        fail_first.set()
        await eventually(lambda: not r.in_flight)
        writer.cancel()
    ts = [to_rfc3339(T0 + timedelta(seconds=seq)) for seq in range(4)]
    assert settled == ["spooled [0, 1]", *ts]  # the spooled batch's messages are acknowledged once on disk
    assert r.spool.batches == 1 and r.stats.batches_written == 1


async def test_a_refusing_broker_is_a_plain_error_of_run_recorder(tmp_path: Path) -> None:
    from tests.gateways.mqtt.brokers import scripted_broker

    async with scripted_broker(lambda kind, _: b"\x20\x02\x00\x05" if kind == 1 else None) as (port, _):
        cfg = BusConfig(host="127.0.0.1", port=port, client_id="rec-refused")
        with pytest.raises(BrokerRefusedError, match="not authorized"):
            await run_recorder(bus=cfg, store=FlakyStore(), spool_dir=tmp_path / "spool", clock=SystemClock())


@pytest.mark.integration
async def test_recorder_end_to_end_into_influxdb(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> None:
    store = InfluxStore(influxdb.url, influxdb.database)
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-1", clean_session=False)
    task = asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool", clock=SystemClock(),
                                            batch_size=100, flush_interval_s=0.2))
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await pub.publish("sl/v1/tn/sc-1/birth", json.dumps({
                "ts": to_rfc3339(T0), "bd_seq": 0, "kind": "signal_controller", "model": "m", "firmware": "f",
                "capabilities": []}), qos=1, retain=True)
            await asyncio.sleep(0.3)
            for seq in range(50):
                await pub.publish("sl/v1/tn/sc-1/telemetry", tele("sc-1", seq, float(seq)).payload, qos=1)
            await pub.publish("sl/v1/tn/sc-1/telemetry", b"garbage", qos=1)
        async with asyncio.timeout(10):
            while True:
                r: Any = influxdb.query('SELECT count("cycle_timer_s") FROM "signal_controller"')
                series = r["results"][0].get("series")
                if series and series[0]["values"][0][1] == 50:
                    break
                await asyncio.sleep(0.1)
        r = influxdb.query('SELECT "cycle_timer_s", "seq" FROM "signal_controller" WHERE "device" = \'sc-1\'')
        assert [row[2] for row in r["results"][0]["series"][0]["values"]] == list(range(50))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.aclose()


@pytest.mark.integration
async def test_recorder_into_the_embedded_store(mosquitto: Mosquitto, tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.db")
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-2")
    task = asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool", clock=SystemClock(),
                                            flush_interval_s=0.1))
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await asyncio.sleep(0.3)
            await pub.publish("sl/v1/tn/cab-1/birth", birth("cab-1", "lighting_cabinet").payload, qos=1, retain=True)
            for seq in range(5):
                await pub.publish("sl/v1/tn/cab-1/telemetry", tele("cab-1", seq, 2.0).payload, qos=1)
        async with asyncio.timeout(10):
            while True:
                (series,) = await store.query(kind=DeviceKind.LIGHTING_CABINET, device="cab-1",
                                              fields=["cycle_timer_s"], start=T0, end=T0 + timedelta(minutes=1))
                if len(series.points) == 5:
                    break
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.aclose()


@pytest.mark.integration
@pytest.mark.parametrize(("mqtt_v5", "group"), [(False, None), (True, None), (True, "rec")])
async def test_broker_keeps_telemetry_while_the_recorder_restarts(
        mosquitto: Mosquitto, tmp_path: Path, mqtt_v5: bool, group: str | None) -> None:
    store = EmbeddedStore(tmp_path / "t.db")
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-persist", clean_session=False,
                    mqtt_v5=mqtt_v5)

    def start() -> asyncio.Task[None]:
        return asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool",
                                                clock=SystemClock(), flush_interval_s=0.05, shared_group=group))

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def stored() -> int:
        (series,) = await store.query(kind=DeviceKind.SIGNAL_CONTROLLER, device="sc-1", fields=["seq"], start=T0,
                                      end=T0 + timedelta(hours=1))
        return len(series.points)

    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await pub.publish("sl/v1/tn/sc-1/birth", birth("sc-1").payload, qos=1, retain=True)
            task = start()
            await asyncio.sleep(0.5)  # the first session is created and subscribed
            await stop(task)
            for seq in range(20):  # published while no recorder runs
                await pub.publish("sl/v1/tn/sc-1/telemetry", tele("sc-1", seq).payload, qos=1)
            task = start()
            try:
                async with asyncio.timeout(10):
                    for _ in iter(int, 1):
                        if await stored() >= 20:
                            break
                        await asyncio.sleep(0.05)
            finally:
                await stop(task)
        assert await stored() == 20
    finally:
        await store.aclose()


async def test_recorder_on_the_embedded_amqtt_broker(tmp_path: Path) -> None:
    """The demo's path: amqtt (MQTT 3.1.1), persistent session, acks after write, embedded store."""
    from tests.gateways.mqtt.brokers import amqtt_broker

    store = EmbeddedStore(tmp_path / "t.db")
    async with amqtt_broker() as (host, port):
        cfg = BusConfig(host=host, port=port, client_id="rec-amqtt", clean_session=False)
        task = asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool",
                                                clock=SystemClock(), flush_interval_s=0.2))
        try:
            async with aiomqtt.Client(host, port) as pub:
                await asyncio.sleep(0.3)
                await pub.publish("sl/v1/tn/sc-1/birth", birth("sc-1").payload, qos=1, retain=True)
                for seq in range(200):
                    await pub.publish("sl/v1/tn/sc-1/telemetry", tele("sc-1", seq).payload, qos=1)

            async def stored() -> int:
                (series,) = await store.query(kind=SC, device="sc-1", fields=["seq"], start=T0,
                                              end=T0 + timedelta(hours=1))
                return len(series.points)

            async with asyncio.timeout(15):
                for _ in iter(int, 1):
                    if await stored() == 200:
                        break
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.aclose()


class _StoppedClock(SystemClock):
    """Monotonic time set by the test."""

    def __init__(self) -> None:
        self.t = 100.0

    def monotonic(self) -> float:
        return self.t


def test_a_device_waiting_for_its_birth_is_asked_for_again_with_a_doubling_backoff(tmp_path: Path) -> None:
    clock = _StoppedClock()
    r = Recorder(FlakyStore(), Spool(tmp_path / "spool"), clock, birth_wait_s=2.0, birth_backoff_max_s=5.0)
    r.on_messages([tele("sc-1", 0)])
    clock.t = 101.0
    r.on_messages([tele("sc-2", 0), tele("sc-1", 1)])
    assert r.births_due(101.9) == []
    assert r.births_due(102.0) == [("tn", "sc-1")]  # 2 s after its first waiting sample
    assert r.births_due(103.0) == [("tn", "sc-2")]
    assert r.births_due(105.9) == []
    assert r.births_due(106.0) == [("tn", "sc-1")]  # then 4 s later
    assert r.births_due(111.0) == [("tn", "sc-1"), ("tn", "sc-2")]  # then 5 s (the cap)
    assert r.births_due(115.9) == [] and r.births_due(116.0) == [("tn", "sc-1"), ("tn", "sc-2")]
    assert r.stats.birth_requests == 7
    r.on_messages([birth("sc-1")])
    assert [(s.device, s.seq) for s in r.batch] == [("sc-1", 0), ("sc-1", 1)]
    assert r.births_due(1000.0) == [("tn", "sc-2")]  # sc-1 is known: never asked again


def test_devices_waiting_for_a_birth_are_bounded_and_the_oldest_goes(tmp_path: Path) -> None:
    r = recorder(FlakyStore(), tmp_path, max_waiting_devices=3)
    r.on_messages([tele("sc-1", 0), tele("sc-1", 1), tele("sc-2", 0), tele("sc-3", 0), tele("sc-4", 0)])
    assert list(r.pending) == [("tn", "sc-2"), ("tn", "sc-3"), ("tn", "sc-4")]
    assert r.stats.pending_dropped == 2
    assert {d for _, d in r.births_due(r.clock.monotonic() + 60)} == {"sc-2", "sc-3", "sc-4"}


@pytest.mark.integration
async def test_a_birth_the_recorder_missed_is_asked_for_again_and_its_samples_are_stored(
        mosquitto: Mosquitto, tmp_path: Path) -> None:
    """Births the broker keeps (retained) but never delivered: here the intake has no birth subscription at all,
    as if the births had been lost in a broker's race (NATS, see gateways.recorder). The asker subscribes each
    device's birth topic (250: two SUBSCRIBE packets), the broker sends the retained births, the waiting samples are
    stored and the extra subscriptions are dropped."""
    store = EmbeddedStore(tmp_path / "t.db")
    clock = SystemClock()
    intake = MqttIntake(BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-ask", manual_ack=True),
                        ["sl/v1/+/+/telemetry"])
    r = Recorder(store, Spool(tmp_path / "spool"), clock, flush_interval_s=0.05, ack=intake.ack, birth_wait_s=0.3)

    async def consume() -> None:
        async for messages in intake:
            await r.take(messages)

    devices = [f"sc-{i}" for i in range(250)]  # more than one SUBSCRIBE packet of asks
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, max_inflight_messages=1000) as pub, intake:
            await intake.wait_connected(5)
            for d in devices:
                await pub.publish(f"sl/v1/tn/{d}/birth", birth(d).payload, qos=1, retain=True)
            tasks = [asyncio.create_task(c) for c in (r.writer(), r.ticker(), consume(),
                                                      ask_for_births(r, intake, clock, interval_s=0.1))]
            try:
                for seq in range(2):
                    for d in devices:
                        await pub.publish(f"sl/v1/tn/{d}/telemetry", tele(d, seq).payload, qos=1)
                await eventually(lambda: r.stats.samples_written == 2 * len(devices), within_s=15)
                assert r.stats.birth_requests >= len(devices) and not r.pending
                await eventually(lambda: not intake.extra_topics, within_s=5)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        for d in (devices[0], devices[-1]):
            (series,) = await store.query(kind=SC, device=d, fields=["seq"], start=T0, end=T0 + timedelta(hours=1))
            assert sorted(int(v or 0) for _, v in series.points) == [0, 1]
    finally:
        await store.aclose()
