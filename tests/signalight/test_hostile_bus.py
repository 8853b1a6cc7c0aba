"""No message can stop a service: hostile payloads on every topic kind, retained and not, on a real Mosquitto, while
the simulator, the gateway, the recorder and the API run; afterwards (and after restarting the gateway and the API
onto the retained poison) every part is still up and doing its job: commands round-trip, telemetry lands.

`SIGNALIGHT_PROPERTY_BUDGET` scales the random payloads published on top of the fixed hostile set (default 200).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.db import migrate
from api.users import create_user
from controllers.clock import SystemClock
from controllers.devices import DeviceKind
from firmware_sim.fleet import FleetConfig
from firmware_sim.fleet_runner import run_fleet
from gateways.gateway import run_gateway
from gateways.manifest import load_manifest
from gateways.mqtt import Bus, BusConfig
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore
from tests.api.fakes import register_devices
from tests.command_signing import TEST_KEYS, TEST_SIGNER, write_test_keys
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

SITE = "tn"
BUDGET = int(os.environ.get("SIGNALIGHT_PROPERTY_BUDGET", "200"))
SUFFIXES = ("birth", "status", "state", "telemetry", "event", "cmd", "cmd/res", "rebirth")
HOSTILE: list[bytes] = [
    b"[" * 2000 + b"]" * 2000,                      # RecursionError in json.loads
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"x" * (1 << 20),                               # 1 MB
    b'{"id": "' + b"a" * (1 << 20) + b'"}',
    b"\xff\xfe\xfa invalid utf-8",
    b'{"id": "\xed\xa0\x80"}',
    b'{"ts": "2026-12-02T00:00:00.000Z", "seq": NaN, "values": {"x": Infinity}}',
    b'{"seq": 1e999}',
    b"9" * 10_000,                                  # a huge int
    b'{"seq": ' + b"9" * 5000 + b"}",
    b'{"id": 12345678, "name": ["flash"], "args": "no", "issued_by": {}, "expires_at": 5}',
    b'{"kind": 5, "bd_seq": "x", "values": []}',
    b'{"status": ["online"]}',
    b"[]", b'"just a string"', b"null", b"", b"{}",
    b'{"id": "cmd-000001", "id": "cmd-000002"}',
]
WRONG_TOPICS = ["sl/v1", "sl/v1/tn", "sl/v1/TN/X/state", "sl/v1/tn/../state", "sl/v1/tn/dev/unknown",
                "sl/v1/tn/dev/cmd/res/extra", "sl/v1/_gateway/x/y", "sl/v1/_gateway/Bad Id/presence", "sl/v2/tn/a/b"]


def random_payloads(n: int, rng: random.Random) -> list[bytes]:
    alphabet = b'[]{}":,0123456789.eE-+ntrufalsNIy \\\xff\x00'
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 200))))
        else:
            depth = rng.randint(1, 300)
            out.append(b"[" * depth + rng.choice([b"1", b"NaN", b'"x"', b"1e999", b""]) + b"]" * depth)
    return out


@contextlib.asynccontextmanager
async def running(coro: Awaitable[None], name: str) -> AsyncIterator[asyncio.Task[None]]:
    task: asyncio.Task[None] = asyncio.ensure_future(coro)
    task.set_name(name)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def assert_up(*tasks: asyncio.Task[None]) -> None:
    for task in tasks:
        if task.done():
            raise AssertionError(f"{task.get_name()} stopped: {task.exception()!r}")


@contextlib.asynccontextmanager
async def api(broker: Mosquitto, db_url: str, store: EmbeddedStore, name: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(db_url=db_url, environment="development", command_ttl_s=30, login_rate_per_min=1000)
    async with Bus(BusConfig(host=broker.host, port=broker.port, client_id=name, publish_timeout_s=5)) as bus:
        app = create_app(ApiDeps(settings=settings, bus=bus, telemetry=store, clock=SystemClock(),
                                 signer=TEST_SIGNER))
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=30) as client:
            login = await client.post("/api/v1/auth/token", data={"username": "ops", "password": "fuzz-pass-word"})
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            yield client


async def eventually(check: Any, timeout_s: float, what: str) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def round_trip(client: httpx.AsyncClient, device: str, body: dict[str, Any]) -> None:
    sent = await client.post(f"/api/v1/devices/{device}/commands", json=body)
    assert sent.status_code == 202, sent.text

    async def done() -> dict[str, Any] | None:
        got: dict[str, Any] = (await client.get(sent.json()["href"])).json()
        return got if got["status"] != "pending" else None

    result = await eventually(done, 30, f"{body['name']} on {device}")
    assert result["status"] == "succeeded", (device, result["error"], result["message"])


async def telemetry_lands(store: EmbeddedStore, device: str, kind: DeviceKind, field: str, since: datetime) -> None:
    async def landed() -> bool:
        (series,) = await store.query(kind=kind, device=device, fields=[field], start=since,
                                      end=datetime.now(UTC) + timedelta(minutes=1))
        return any(v is not None for _, v in series.points)

    await eventually(landed, 60, f"telemetry of {device} after the attack")


async def test_hostile_payloads_on_every_topic_stop_no_service(tmp_path: Path) -> None:
    (tmp_path / "mosquitto").mkdir()
    broker = Mosquitto(tmp_path / "mosquitto")  # private: the retained poison must not reach other tests
    broker.start()
    try:
        await attack_and_check(broker, tmp_path)
    finally:
        broker.stop()


async def attack_and_check(broker: Mosquitto, tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    await migrate(db_url)
    await create_user(db_url, "ops", "fuzz-pass-word", "operator")
    manifest_path = tmp_path / "manifest.json"
    fleet = FleetConfig(site=SITE, intersections=1, cabinets=2, modbus_cabinets=1, speed=1.0,
                        mqtt_host=broker.host, mqtt_port=broker.port, manifest_path=manifest_path, control_port=None,
                        command_keys=write_test_keys(tmp_path))
    store = EmbeddedStore(tmp_path / "telemetry.sqlite")
    ready = asyncio.Event()
    recorder_bus = BusConfig(host=broker.host, port=broker.port, client_id="fuzz-recorder", clean_session=False)
    try:
        async with running(run_fleet(fleet, on_ready=lambda _: ready.set()), "simulator") as sim:
            await asyncio.wait_for(ready.wait(), 60)
            devices = load_manifest(manifest_path)
            await register_devices(db_url, {d.id: d.kind.value for d in devices}, site=SITE)
            signal = next(d.id for d in devices if d.kind is DeviceKind.SIGNAL_CONTROLLER)
            mqtt_cab = next(d.id for d in devices if d.kind is DeviceKind.LIGHTING_CABINET and d.transport == "mqtt")

            def gateway(name: str) -> Awaitable[None]:
                return run_gateway(bus=BusConfig(host=broker.host, port=broker.port, client_id=name), devices=devices,
                                   clock=SystemClock(), command_keys=TEST_KEYS, replay_dir=tmp_path / "gw",
                                   gateway_id="fuzz-gw")

            async with running(run_recorder(bus=recorder_bus, store=store, spool_dir=tmp_path / "spool",
                                            clock=SystemClock()), "recorder") as recorder, \
                    running(gateway("fuzz-gw-1"), "gateway") as gw:
                async with api(broker, db_url, store, "fuzz-api-1") as client:
                    until = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    await eventually(lambda: _online(client, len(devices)), 60, "every device online")
                    await round_trip(client, signal, {"name": "flash", "args": {"until": until}})

                    published = await publish_hostile(broker, [signal, mqtt_cab, "ghost-1"], BUDGET)
                    attacked_at = datetime.now(UTC)
                    await asyncio.sleep(1)
                    assert_up(sim, recorder, gw)
                    await round_trip(client, mqtt_cab, {"name": "switch", "args": {"circuit": 1, "level_pct": 30,
                                                                                   "until": until}})
                    await round_trip(client, signal, {"name": "release", "args": {}})
                    await telemetry_lands(store, mqtt_cab, DeviceKind.LIGHTING_CABINET, "energy_kwh", attacked_at)
                    assert_up(sim, recorder, gw)
                    assert published > 500

                # Restarts onto the retained poison: a new gateway process and a new API come up and work.
                gw.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gw
                async with running(gateway("fuzz-gw-2"), "gateway-2") as gw2, \
                        api(broker, db_url, store, "fuzz-api-2") as client:
                    await asyncio.sleep(1)
                    assert_up(sim, recorder, gw2)
                    await round_trip(client, signal, {"name": "flash", "args": {"until": until}})
                    await round_trip(client, mqtt_cab, {"name": "release", "args": {"circuit": 1}})
                    assert_up(sim, recorder, gw2)
    finally:
        await store.aclose()


async def _online(client: httpx.AsyncClient, count: int) -> bool:
    listed = (await client.get("/api/v1/devices")).json()
    return sum(d["status"] == "online" and d["state"] is not None for d in listed) == count


async def publish_hostile(broker: Mosquitto, devices: list[str], extra: int) -> int:
    """Every hostile payload to every topic kind of each device, to the gateway's presence and to topics of the
    wrong shape; retained and not. Returns how many messages were published."""
    rng = random.Random(20261202)
    payloads = HOSTILE + random_payloads(extra, rng)
    topics = [f"sl/v1/{SITE}/{d}/{s}" for d in devices for s in SUFFIXES]
    topics += ["sl/v1/_gateway/fuzz-gw/presence", "sl/v1/_gateway/other-gw/presence", *WRONG_TOPICS]
    n = 0
    async with aiomqtt.Client(broker.host, broker.port, identifier="attacker", timeout=30) as attacker:
        for topic in topics:
            for k, payload in enumerate(HOSTILE):
                await attacker.publish(topic, payload, qos=1, retain=k % 2 == 0)
                n += 1
        for payload in payloads[len(HOSTILE):]:
            await attacker.publish(rng.choice(topics), payload, qos=rng.choice((0, 1)), retain=rng.random() < 0.3)
            n += 1
        # Leave one poison retained on each device topic kind, for the restarts to meet.
        for topic in topics:
            await attacker.publish(topic, b"[" * 2000 + b"]" * 2000, qos=1, retain=True)
            n += 1
    return n


_ = json  # payloads above are raw bytes on purpose; json only names what they are not
