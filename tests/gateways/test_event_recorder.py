"""Every controller hi-res event kept: the event contract, the stores' point identity (same-millisecond events
distinct, a rewrite never duplicates), filters and paging, the spool and replay, and end to end from a real
Mosquitto into a real InfluxDB and the embedded store."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from controllers.bus import BusMessage
from controllers.clock import SystemClock, to_rfc3339
from controllers.events import ControllerEvent, EventCursor, EventStore
from controllers.telemetry import StoreError
from gateways.event_contract import judge_event
from gateways.event_recorder import EventRecorder, EventSink, _fast_event, validate_event
from gateways.mqtt import BusConfig
from gateways.partition import parse_partition
from gateways.recorder_service import run_recorder
from gateways.spool import Spool
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from gateways.stores.lineproto import to_ms
from tests.gateways.helpers import eventually
from tests.servers import InfluxDB, Mosquitto

T0 = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)


def payload(ms: int, seq: int, code: int, param: int, **extra: Any) -> bytes:
    return json.dumps({"ts": to_rfc3339(T0 + timedelta(milliseconds=ms)), "seq": seq, "code": code, "param": param,
                       **extra}).encode()


def event_msg(device: str, ms: int, seq: int, code: int, param: int) -> BusMessage:
    return BusMessage(f"sl/v1/tn/{device}/event", payload(ms, seq, code, param))


def ev(device: str, ms: int, seq: int, code: int, param: int) -> ControllerEvent:
    return ControllerEvent(site="tn", device=device, ts=T0 + timedelta(milliseconds=ms), seq=seq, code=code,
                           param=param)


PAYLOADS = [payload(0, 1, 82, 3), payload(5, 255, 0, 65535), payload(0, 256, 1, 1), payload(0, 1, 256, 1),
            payload(0, 1, 1, 65536), payload(0, 1, 1, -1), payload(0, 1, 1, 1, extra=1),
            b'{"ts": "2026-02-30T00:00:00Z", "seq": 1, "code": 1, "param": 1}',
            b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "code": 1.0, "param": 2}',
            b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "code": true, "param": 2}',
            b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "alarm": "door_open", "active": true}',
            b'{"ts": "2026-11-23T07:00:00Z", "seq": 1, "alarm": "door_open", "active": true, "code": 1}',
            b"[1]", b"nope"]


@pytest.mark.parametrize("raw", PAYLOADS)
def test_the_fast_event_path_accepts_only_what_the_contract_accepts(raw: bytes) -> None:
    fast = _fast_event(raw)
    try:
        judged = judge_event(raw)
    except ValueError:
        assert fast is None
        with pytest.raises(ValueError, match=r"\S"):
            validate_event(raw)
        return
    assert fast is None or fast == judged
    assert validate_event(raw) == judged


class FlakyEventStore:
    def __init__(self) -> None:
        self.down = False
        self.batches: list[list[ControllerEvent]] = []

    async def write_events(self, events: Sequence[ControllerEvent]) -> None:
        if self.down:
            raise StoreError("connection refused")
        self.batches.append(list(events))

    async def query_events(self, **kw: Any) -> list[ControllerEvent]:
        raise NotImplementedError


async def test_events_are_batched_alarms_left_out_malformed_counted(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    acked: list[object] = []
    r = EventRecorder(EventSink(FlakyEventStore()), Spool(tmp_path / "spool"), SystemClock(), ack=acked.extend)
    alarm = BusMessage("sl/v1/tn/sc-1/event", b'{"ts": "2026-11-23T07:00:00Z", "seq": 3, "alarm": "door_open", '
                                              b'"active": true}')
    bad = BusMessage("sl/v1/tn/sc-1/event", payload(0, 4, 300, 1))
    r.on_messages([event_msg("sc-1", 0, 1, 1, 2), event_msg("sc-1", 0, 2, 82, 5), alarm, bad])
    assert [(s.seq, s.values) for s in r.batch] == [(1, {"code": 1, "param": 2}), (2, {"code": 82, "param": 5})]
    assert r.alarms_skipped == 1 and r.stats.malformed == 1 and acked == [alarm, bad]
    assert "event_malformed topic=sl/v1/tn/sc-1/event reason=code" in caplog.text


async def test_a_partitioned_recorder_stores_only_its_partitions_events(tmp_path: Path) -> None:
    devices = [f"sc-{n}" for n in range(1, 21)]
    kept: dict[int, set[str]] = {}
    for index in range(3):
        acked: list[object] = []
        part = parse_partition(f"{index}/3")
        r = EventRecorder(EventSink(FlakyEventStore()), Spool(tmp_path / f"spool{index}"), SystemClock(),
                          ack=acked.extend, partition=part)
        msgs = [event_msg(d, 0, 1, 82, 2) for d in devices]
        r.on_messages(msgs)
        kept[index] = {s.device for s in r.batch}
        assert kept[index] == {d for d in devices if part.owns(d)}
        assert r.stats.foreign == len(devices) - len(kept[index]) == len(acked), "foreign ones acked at once"
        assert r.stats.received == len(kept[index])
    assert set().union(*kept.values()) == set(devices) and sum(map(len, kept.values())) == len(devices)


async def test_a_store_outage_spools_events_and_replays_them_in_order(tmp_path: Path) -> None:
    store = FlakyEventStore()
    acked: list[object] = []
    r = EventRecorder(EventSink(store), Spool(tmp_path / "spool"), SystemClock(), batch_size=2, ack=acked.extend)
    msgs = [event_msg("sc-1", i * 100, i, 81 + i % 2, 3) for i in range(6)]
    async with asyncio.TaskGroup() as tg:
        writer = tg.create_task(r.writer())
        replayer = tg.create_task(r.replayer(retry_s=0.01))
        store.down = True
        await r.take(msgs)
        await r.maybe_flush(force=True)
        await eventually(lambda: r.spool.batches == 3)
        assert acked == msgs  # spooled (fsynced) is safe: acknowledged
        store.down = False
        await eventually(lambda: r.spool.batches == 0)
        writer.cancel()
        replayer.cancel()
    got = [e for b in store.batches for e in b]
    assert got == [ev("sc-1", i * 100, i, 81 + i % 2, 3) for i in range(6)]


async def check_identity_filters_paging(store: EventStore) -> None:
    # Three events in one millisecond (distinct seq), a detector on/off train, another device.
    batch = [ev("sc-1", 0, 10, 1, 2), ev("sc-1", 0, 11, 82, 5), ev("sc-1", 0, 12, 82, 6)]
    batch += [ev("sc-1", 100 + i * 10, (13 + i) % 256, 81 + i % 2, 5) for i in range(300)]
    batch += [ev("sc-2", 0, 10, 1, 2)]
    await store.write_events(batch)
    await store.write_events(batch[:50])  # a replay: overwrites, never duplicates
    end = T0 + timedelta(hours=1)
    everything = await store.query_events(device="sc-1", start=T0, end=end, limit=10_000)
    assert everything == sorted(batch[:-1], key=lambda e: (e.ts, e.seq))
    assert [(e.seq, e.code) for e in everything[:3]] == [(10, 1), (11, 82), (12, 82)]
    on5 = await store.query_events(device="sc-1", start=T0, end=end, codes=[82], params=[5], limit=10_000)
    assert on5 == [e for e in everything if e.code == 82 and e.param == 5] and len(on5) == 151
    window = await store.query_events(device="sc-1", start=T0 + timedelta(milliseconds=100),
                                      end=T0 + timedelta(milliseconds=150))
    assert [e.ts for e in window] == [T0 + timedelta(milliseconds=100 + i * 10) for i in range(5)]
    pages: list[ControllerEvent] = []
    cursor: EventCursor | None = None
    while True:
        page = await store.query_events(device="sc-1", start=T0, end=end, limit=2, after=cursor)
        if not page:
            break
        pages += page
        cursor = EventCursor.decode(EventCursor.after(page[-1]).encode())
        if len(pages) > 400:
            break
    assert pages == everything


async def test_the_embedded_store_keeps_every_event_once(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.sqlite")
    try:
        await check_identity_filters_paging(store)
    finally:
        await store.aclose()


@pytest.mark.integration
async def test_influxdb_keeps_every_event_once(influxdb: InfluxDB) -> None:
    store = InfluxStore(influxdb.url, influxdb.database)
    try:
        await check_identity_filters_paging(store)
        r: Any = influxdb.query('SELECT count("code") FROM "controller_event"')
        assert r["results"][0]["series"][0]["values"][0][1] == 304
    finally:
        await store.aclose()


@pytest.mark.integration
async def test_an_event_caught_mid_write_ends_the_page_before_it(influxdb: InfluxDB) -> None:
    """InfluxDB 1.x can show a point being written with one field and not yet the other: that point is left for
    the next read, and so is everything after it, so that a cursor taken from the page never passes it."""
    store = InfluxStore(influxdb.url, influxdb.database)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    try:
        await store.write_events([ControllerEvent(site="s", device="mid", ts=t0 + timedelta(milliseconds=ms),
                                                  seq=ms % 256, code=82, param=ms % 64) for ms in (0, 1, 3)])
        # The point at 2 ms as a concurrent read can see it: its code written, its param not yet.
        await store.write_lines(b"controller_event,device=mid,seq=2,site=s code=81i %d" % (to_ms(t0) + 2))
        page = await store.query_events(device="mid", start=t0, end=t0 + timedelta(seconds=1))
        assert [e.seq for e in page] == [0, 1]
        await store.write_lines(b"controller_event,device=mid,seq=2,site=s param=5i %d" % (to_ms(t0) + 2))
        page = await store.query_events(device="mid", start=t0, end=t0 + timedelta(seconds=1))
        assert [(e.seq, e.code, e.param) for e in page] == [(0, 82, 0), (1, 82, 1), (2, 81, 5), (3, 82, 3)]
    finally:
        await store.aclose()


def test_a_cursor_from_elsewhere_is_refused_with_its_text() -> None:
    for text in ("", "12", "a.b", "12.300", "-1.2"):
        with pytest.raises(ValueError, match="cursor"):
            EventCursor.decode(text)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["influxdb", "embedded"])
async def test_every_event_from_the_bus_lands_in_the_store_once(backend: str, mosquitto: Mosquitto,
                                                                 tmp_path: Path, request: pytest.FixtureRequest,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    store: InfluxStore | EmbeddedStore
    if backend == "influxdb":
        influx: InfluxDB = request.getfixturevalue("influxdb")
        store = InfluxStore(influx.url, influx.database)
    else:
        store = EmbeddedStore(tmp_path / "t.sqlite")
    caplog.set_level("INFO")
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-ev", clean_session=False)
    task = asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool", clock=SystemClock(),
                                            batch_size=100, flush_interval_s=0.2))
    sent = [(i * 7, i % 256, [1, 82, 81, 8, 9, 10, 11, 21, 22, 45][i % 10], i % 9) for i in range(400)]
    try:
        await eventually(lambda: "recorder_start" in caplog.text)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for ms, seq, code, param in sent:
                await pub.publish("sl/v1/tn/sc-1/event", payload(ms, seq, code, param), qos=1)
            for ms, seq, code, param in sent[:40]:  # redelivered: the same points again
                await pub.publish("sl/v1/tn/sc-1/event", payload(ms, seq, code, param), qos=1)
            await pub.publish("sl/v1/tn/sc-1/event", b'{"ts": "2026-11-23T07:00:00Z", "seq": 9, '
                                                     b'"alarm": "door_open", "active": true}', qos=1)
        end = T0 + timedelta(hours=1)

        async def stored() -> list[ControllerEvent]:
            return await store.query_events(device="sc-1", start=T0, end=end, limit=10_000)

        got: list[ControllerEvent] = []
        async with asyncio.timeout(15):
            for _ in iter(int, 1):  # polls the store itself: no event to wait on
                got = await stored()
                if len(got) >= len(sent):
                    break
                await asyncio.sleep(0.05)
        assert got == [ev("sc-1", ms, seq, code, param) for ms, seq, code, param in sent]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await store.aclose()
