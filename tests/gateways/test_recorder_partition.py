"""Recorders that split telemetry by partition ("i/N", CRC-32 of the device id) on any broker: each sample is stored
by exactly one recorder, and one that is away gets its partition's samples from its persistent session when it
comes back. Real Mosquitto, and NATS (MQTT 3.1.1, no shared subscriptions)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from controllers.clock import SystemClock
from gateways.manifest import device_entry, owns
from gateways.mqtt import Bus, BusConfig, parse_broker_url
from gateways.partition import Partition, parse_partition
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore
from signalight.settings import Settings
from tests.gateways.recorder_fakes import SC, T0, FlakyStore, birth, recorder, tele
from tests.servers import NATS_SERVER, Mosquitto, NatsCluster, require_binary


def test_partitions_are_spelled_i_of_n_and_refused_with_the_value() -> None:
    assert parse_partition("2/4") == Partition(2, 4) and str(Partition(2, 4)) == "2/4"
    assert Partition(2, 4).name == "2-of-4"
    for bad in ["4/4", "-1/4", "1/0", "a/b", "1", "1/2/3", ""]:
        with pytest.raises(ValueError, match="recorder partition"):
            parse_partition(bad)
    with pytest.raises(ValueError, match="recorder partition"):
        Settings(recorder_partition="3/3")
    assert Settings(recorder_partition="0/3").recorder_partition == "0/3"


def test_every_device_is_in_exactly_one_partition_the_one_its_gateway_shard_uses() -> None:
    devices = [f"sc-{i}" for i in range(500)]
    parts = [Partition(i, 4) for i in range(4)]
    for device in devices:
        owners = [p for p in parts if p.owns(device)]
        assert len(owners) == 1
        assert owns(device_entry({"id": device, "site": "tn", "kind": "signal_controller",
                                                           "transport": "mqtt"}),
                    str(owners[0]))
    assert all(sum(p.owns(d) for d in devices) > 80 for p in parts)  # the hash spreads them


async def test_a_recorder_stores_its_partition_and_acknowledges_the_rest(tmp_path: Path) -> None:
    acked: list[str] = []
    part = Partition(0, 2)
    mine, theirs = next(d for d in (f"sc-{i}" for i in range(50)) if part.owns(d)), \
        next(d for d in (f"sc-{i}" for i in range(50)) if not part.owns(d))
    r = recorder(FlakyStore(), tmp_path, partition=part, ack=lambda ms: acked.extend(m.topic for m in ms))
    r.on_messages([birth(mine), birth(theirs), tele(mine, 0), tele(theirs, 0), tele(theirs, 1), tele(mine, 1)])
    assert [(s.device, s.seq) for s in r.batch] == [(mine, 0), (mine, 1)]
    assert r.stats.foreign == 2 and r.stats.received == 2
    assert acked.count(f"sl/v1/tn/{theirs}/telemetry") == 2  # acknowledged at once, never stored here


@pytest.fixture(params=["mosquitto", "nats"])
def broker_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "mosquitto":
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
        broker.start()
        try:
            yield broker.url
        finally:
            broker.stop()
    else:
        require_binary(NATS_SERVER, "nats-server")
        nats = NatsCluster(tmp_path_factory.mktemp("nats"), size=1)
        nats.start()
        try:
            yield nats.url(0)
        finally:
            nats.stop()


@pytest.mark.integration
async def test_two_partitioned_recorders_store_each_sample_once_across_a_restart(
        broker_url: str, tmp_path: Path) -> None:
    devices = [f"sc-{i}" for i in range(8)]
    parts = [Partition(0, 2), Partition(1, 2)]
    stores = [EmbeddedStore(tmp_path / f"p{p.index}.db") for p in parts]

    def start(i: int) -> asyncio.Task[None]:
        cfg = BusConfig(urls=(broker_url,), client_id=f"rec-part-{parts[i].name}", clean_session=False)
        return asyncio.create_task(run_recorder(bus=cfg, store=stores[i], spool_dir=tmp_path / f"spool{i}",
                                                clock=SystemClock(), flush_interval_s=0.05, partition=parts[i]))

    async def stop(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def stored(i: int) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for device in devices:
            (series,) = await stores[i].query(kind=SC, device=device, fields=["seq"], start=T0,
                                              end=T0 + timedelta(hours=1))
            if series.points:
                out[device] = sorted(int(v or 0) for _, v in series.points)
        return out

    async def total() -> int:
        counts = [await stored(i) for i in (0, 1)]
        return sum(len(seqs) for by_device in counts for seqs in by_device.values())

    tasks = [start(0), start(1)]
    try:
        endpoint = parse_broker_url(broker_url)
        async with Bus(BusConfig(host=endpoint.host, port=endpoint.port, client_id="part-pub")) as pub:
            await pub.wait_connected(5)
            for d in devices:
                await pub.publish(f"sl/v1/tn/{d}/birth", birth(d).payload, retain=True)
            await asyncio.sleep(0.5)  # both sessions exist and are subscribed
            for seq in range(10):
                for d in devices:
                    await pub.publish(f"sl/v1/tn/{d}/telemetry", tele(d, seq).payload)
            await stop(tasks[1])  # partition 1's recorder leaves; its session keeps its samples
            for seq in range(10, 30):
                for d in devices:
                    await pub.publish(f"sl/v1/tn/{d}/telemetry", tele(d, seq).payload)
            tasks[1] = start(1)  # and comes back
            for seq in range(30, 40):
                for d in devices:
                    await pub.publish(f"sl/v1/tn/{d}/telemetry", tele(d, seq).payload)
        deadline = asyncio.get_running_loop().time() + 20
        while await total() < 40 * len(devices):
            assert asyncio.get_running_loop().time() < deadline, f"missing: {await stored(0)} {await stored(1)}"
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # a duplicate would land now
        by_part = [await stored(0), await stored(1)]
        for i, part in enumerate(parts):
            assert set(by_part[i]) == {d for d in devices if part.owns(d)}, f"partition {part} stored others"
            for device, seqs in by_part[i].items():
                assert seqs == list(range(40)), f"{device} in {part}: {seqs}"
    finally:
        for task in tasks:
            await stop(task)
        for store in stores:
            await store.aclose()
