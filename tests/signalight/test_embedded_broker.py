"""The demo's embedded broker (amqtt) enforces the generated files: anonymous clients read but never publish, a wrong
password is refused, each identity publishes and reads only its own topics, a Last Will cannot smuggle a command."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from gateways.manifest import parse_manifest
from signalight.broker import SnapshotSubscriptions, embedded_broker, free_port
from signalight.broker_acl import build_plan
from signalight.broker_files import write_broker_files
from tests.signalight.broker_registry import MQTT_A, MQTT_B, SIGNAL_A, registry

pytestmark = [pytest.mark.integration]


def t(device: str, suffix: str) -> str:
    return f"sl/v1/tn/{device}/{suffix}"


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[tuple[int, dict[str, tuple[str, str]]]]:
    out = tmp_path / "broker"
    write_broker_files(build_plan(parse_manifest(registry()), anonymous_read=True), out)
    every = {**json.loads((out / "credentials.json").read_text()), **json.loads((out / "devices.json").read_text())}
    port = free_port()
    async with embedded_broker("127.0.0.1", port, password_file=out / "password_file", acl_file=out / "acl_file",
                               allow_anonymous=True):
        yield port, {k: (v["username"], v["password"]) for k, v in every.items()}


def client(port: int, name: str, login: tuple[str, str] | None = None, **kw: object) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", port, identifier=name, username=login[0] if login else None,
                          password=login[1] if login else None, **kw)  # type: ignore[arg-type]


async def received(c: aiomqtt.Client, quiet_s: float = 0.7) -> list[tuple[str, bytes]]:
    """Everything delivered until the client has been quiet for `quiet_s`."""
    out: list[tuple[str, bytes]] = []
    try:
        while True:
            async with asyncio.timeout(quiet_s):
                m = await anext(aiter(c.messages))
            out.append((str(m.topic), bytes(m.payload)))  # type: ignore[arg-type]
    except TimeoutError:
        return out


async def test_anonymous_reads_retained_state_but_publishes_nothing(
        broker: tuple[int, dict[str, tuple[str, str]]]) -> None:
    port, who = broker
    async with client(port, "cab-a", who[MQTT_A]) as device:
        await device.publish(t(MQTT_A, "state"), b'{"seq": 1}', qos=1, retain=True)
        await device.subscribe(t(MQTT_A, "cmd"), qos=1)
        async with client(port, "anon") as anon:
            await anon.subscribe("sl/v1/#", qos=1)
            assert (t(MQTT_A, "state"), b'{"seq": 1}') in await received(anon)
            for suffix in ("cmd", "state", "birth"):
                await anon.publish(t(MQTT_A, suffix), b"forged", qos=1, retain=True)
            await anon.publish(t(SIGNAL_A, "cmd"), b"forged", qos=1)
            async with client(port, "api", who["api"]) as api:
                await api.publish(t(MQTT_A, "cmd"), b"from-api", qos=1)
            assert await received(device) == [(t(MQTT_A, "cmd"), b"from-api")]
            assert all(payload != b"forged" for _, payload in await received(anon))
        async with client(port, "anon-late") as late:  # nothing forged was retained either
            await late.subscribe("sl/v1/#", qos=1)
            # (amqtt 0.12 may deliver a retained message twice to a new subscription: compare the set)
            assert set(await received(late)) == {(t(MQTT_A, "state"), b'{"seq": 1}')}


async def test_wrong_password_and_strangers_are_refused(broker: tuple[int, dict[str, tuple[str, str]]]) -> None:
    port, who = broker
    for login in ((who["api"][0], "wrong"), ("stranger", who["api"][1]), (who[MQTT_A][0], who[MQTT_B][1])):
        with pytest.raises(aiomqtt.MqttError):
            async with client(port, "intruder", login):
                pass


async def test_identities_stay_in_their_lanes(broker: tuple[int, dict[str, tuple[str, str]]]) -> None:
    port, who = broker
    async with client(port, "spy", who["recorder"]) as spy, client(port, "cab-b", who[MQTT_B]) as other:
        await spy.subscribe("sl/v1/#", qos=1)
        await other.publish(t(MQTT_A, "state"), b"forged", qos=1)
        await other.publish(t(MQTT_A, "cmd"), b"forged", qos=1)
        await other.publish(t(SIGNAL_A, "cmd"), b"forged", qos=1)
        async with client(port, "gw-b", who["gateway:gateway-b"]) as gw_b:
            await gw_b.publish(t(SIGNAL_A, "cmd"), b"forged", qos=1)      # another shard's signal
            await gw_b.publish(t(SIGNAL_A, "state"), b"forged", qos=1)
            await gw_b.publish("sl/v1/_gateway/gateway-a/presence", b"forged", qos=1)
        async with client(port, "rec", who["recorder"]) as rec:
            await rec.publish(t(SIGNAL_A, "cmd"), b"forged", qos=1)
        async with client(port, "gw-a", who["gateway:gateway-a"]) as gw_a:
            await gw_a.publish(t(SIGNAL_A, "state"), b"gateway-a", qos=1)
        await other.publish(t(MQTT_B, "telemetry"), b"own", qos=1)
        assert await received(spy) == [(t(SIGNAL_A, "state"), b"gateway-a"), (t(MQTT_B, "telemetry"), b"own")]
        # a device cannot even subscribe to another device's commands: SUBACK 0x80
        granted = await other.subscribe(t(MQTT_A, "cmd"), qos=1)
        assert [int(g) if isinstance(g, int) else g.value for g in granted] == [0x80]  # type: ignore[union-attr]


async def test_a_last_will_cannot_carry_a_forged_command(broker: tuple[int, dict[str, tuple[str, str]]]) -> None:
    port, who = broker
    will = aiomqtt.Will(t(SIGNAL_A, "cmd"), b"forged-will", qos=1)
    for login in (None, who[MQTT_B]):
        with pytest.raises(aiomqtt.MqttError):
            async with client(port, "will", login, will=will):
                pass
    own = aiomqtt.Will(t(MQTT_B, "status"), b'{"status": "offline"}', qos=1, retain=True)
    async with client(port, "cab-b", who[MQTT_B], will=own):
        pass


async def test_no_message_is_lost_while_clients_come_and_go(broker: tuple[int, dict[str, tuple[str, str]]]) -> None:
    """Every message reaches a subscriber while another client subscribes and unsubscribes (amqtt iterates its
    subscription table while awaiting the topic checks: signalight.broker.SnapshotSubscriptions)."""
    port, who = broker
    count = 300
    stop = asyncio.Event()

    async def churn() -> None:
        n = 0
        async with client(port, "watcher") as c:
            while not stop.is_set():
                n += 1
                filters = [f"sl/v1/tn/+/x{n}-{k}" for k in range(5)]
                await c.subscribe([(f, 1) for f in filters])
                await c.unsubscribe(filters)

    async with client(port, "spy", who["recorder"]) as spy, client(port, "anon") as anon, \
            client(port, "gw-a", who["gateway:gateway-a"]) as gw:
        await spy.subscribe("sl/v1/+/+/telemetry", qos=1)
        await anon.subscribe([(f"sl/v1/{'+/+' if k else 'tn/+'}/telemetry", 1) for k in range(2)])
        async with asyncio.TaskGroup() as tg:
            churner = tg.create_task(churn())
            for i in range(count):
                await gw.publish(t(SIGNAL_A, "telemetry"), str(i).encode(), qos=1)
            got = [p for _, p in await received(spy, quiet_s=1.5)]
            stop.set()
            await churner
    assert got == [str(i).encode() for i in range(count)], f"{count - len(got)} of {count} lost"


def test_subscription_table_iterates_over_snapshots() -> None:
    table = SnapshotSubscriptions({"a": [("s1", 1)], "b": [("s2", 1)]})
    for key in table:
        table[key + "-new"] = []       # what a client subscribing during amqtt's awaited loop does
    for _key, subscribers in table.items():
        subscribers.clear()            # a snapshot: the table itself keeps its subscribers
        table.pop("b", None)
    assert table["a"] == [("s1", 1)] and "b" not in table and "a-new" in table
