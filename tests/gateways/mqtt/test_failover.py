"""Failover across broker endpoints (`BusConfig.urls`), on two real Mosquitto instances: a client connects to the
first that answers, and when its broker dies moves to the next (backoff with jitter), resubscribes there and keeps
publishing and receiving; a gateway-like client's on-connect announcement is republished on the new broker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateways.mqtt import Bus, BusConfig, BusWill, MqttIntake, parse_broker_url
from tests.gateways.helpers import eventually
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def two_brokers(tmp_path: Path) -> Iterator[tuple[Mosquitto, Mosquitto]]:
    (tmp_path / "n1").mkdir()
    (tmp_path / "n2").mkdir()
    n1, n2 = Mosquitto(tmp_path / "n1"), Mosquitto(tmp_path / "n2")
    n1.start()
    n2.start()
    yield n1, n2
    n1.stop()
    n2.stop()


def config(urls: tuple[str, ...], client_id: str, **kw: object) -> BusConfig:
    return BusConfig.model_validate({"urls": urls, "client_id": client_id, "backoff_initial_s": 0.05,
                                     "backoff_max_s": 0.3, "connect_timeout_s": 2, "keepalive_s": 5, **kw})


def test_broker_urls_are_parsed_and_refused_with_the_reason() -> None:
    assert parse_broker_url("mqtt://n1:1884").url == "mqtt://n1:1884"
    assert parse_broker_url("mqtts://n2").port == 8883 and parse_broker_url("mqtts://n2").tls
    assert parse_broker_url("mqtt://[::1]:1883").url == "mqtt://[::1]:1883"
    for bad, reason in [("http://n1:1883", "scheme"), ("mqtt://:1883", "no host"), ("mqtt://n1:99999", "(?i)port"),
                        ("mqtt://u:p@n1:1883", "credentials are settings"), ("mqtt://n1/x", "only scheme")]:
        with pytest.raises(ValueError, match=reason):
            parse_broker_url(bad)
    with pytest.raises(ValueError, match="http://n1"):
        BusConfig(client_id="x", urls=("mqtt://n0:1883", "http://n1"))
    cfg = BusConfig(client_id="x", host="ignored", urls=("mqtt://n1:1883", "mqtts://n2:8883"))
    assert cfg.brokers == "mqtt://n1:1883,mqtts://n2:8883"


async def test_the_first_broker_that_answers_is_used(two_brokers: tuple[Mosquitto, Mosquitto]) -> None:
    _, n2 = two_brokers
    dead = f"mqtt://127.0.0.1:{free_port()}"
    async with Bus(config((dead, n2.url), "fo-first")) as bus:
        await bus.wait_connected(5)
        await bus.publish("t/x", b"1")


async def test_bus_and_intake_move_to_the_next_broker_and_keep_working(
        two_brokers: tuple[Mosquitto, Mosquitto]) -> None:
    n1, n2 = two_brokers
    urls = (n1.url, n2.url)
    announced: list[str] = []
    will = BusWill(topic="sl/v1/_gateway/gw-fo/presence", payload=b'{"status":"offline"}')
    gateway = Bus(config(urls, "fo-gw", will=will))

    async def announce() -> None:  # what a gateway does on every connect: `online` first, on whichever broker
        await gateway.publish("sl/v1/_gateway/gw-fo/presence", b'{"status":"online"}', retain=True)
        announced.append("online")

    gateway.add_on_connect(announce)
    async with gateway, Bus(config(urls, "fo-sub")) as listener, listener.subscribe("t/#") as sub, \
            MqttIntake(config(urls, "fo-rec", clean_session=False, manual_ack=True), ["t/#"]) as intake:
        await gateway.wait_connected(5)
        await listener.wait_connected(5)
        await intake.wait_connected(5)
        await eventually(lambda: announced == ["online"])
        await gateway.publish("t/1", b"before")
        async with asyncio.timeout(5):
            assert (await anext(sub)).payload == b"before"
            batch = await anext(intake)
        assert [m.payload for m in batch] == [b"before"]
        intake.ack(batch)

        await asyncio.to_thread(n1.kill)  # the broker dies without a word

        await eventually(lambda: gateway.connects >= 2 and gateway.connected and listener.connects >= 2
                         and listener.connected and intake.connects >= 2 and intake.connected, within_s=10)
        await eventually(lambda: len(announced) == 2, within_s=5)  # presence republished on the new broker
        await gateway.publish("t/2", b"after")  # publishing goes on, and the resubscribed consumers get it
        async with asyncio.timeout(5):
            assert (await anext(sub)).payload == b"after"
            batch = await anext(intake)
        assert [m.payload for m in batch] == [b"after"]
        intake.ack(batch)

    # The new broker holds the gateway's `online` (retained), not a will: the failover was no `offline`.
    async with Bus(config((n2.url,), "fo-watch")) as watch, watch.subscribe("sl/v1/_gateway/+/presence") as seen:
        async with asyncio.timeout(5):
            message = await anext(seen)
        assert message.retain and message.payload == b'{"status":"online"}'


async def test_a_gateway_announces_itself_online_on_the_broker_it_fails_over_to(
        two_brokers: tuple[Mosquitto, Mosquitto]) -> None:
    import contextlib
    import json

    from controllers.clock import SystemClock
    from gateways.gateway import run_gateway

    n1, n2 = two_brokers
    topic = "sl/v1/_gateway/gw-fo/presence"
    async with Bus(config((n2.url,), "fo-watch-gw")) as watch, watch.subscribe(topic) as seen:
        await watch.wait_connected(5)
        gw = asyncio.create_task(run_gateway(bus=config((n1.url, n2.url), "fo-gateway"), devices=[],
                                             clock=SystemClock(), gateway_id="gw-fo"))
        try:
            async with Bus(config((n1.url,), "fo-watch-n1")) as on_n1, on_n1.subscribe(topic) as first:
                async with asyncio.timeout(10):
                    online = json.loads((await anext(first)).payload)
                assert online["status"] == "online"
            await asyncio.to_thread(n1.kill)
            async with asyncio.timeout(15):
                moved = json.loads((await anext(seen)).payload)
            # The same process (session), online on the new broker: no offline storm from a failover.
            assert moved["status"] == "online" and moved["session"] == online["session"]
            # Its own will, published late by a broker of the cluster it left, is answered with `online` again.
            will = {"status": "offline", "session": online["session"], "reason": "connection lost"}
            await watch.publish(topic, json.dumps(will).encode(), retain=True)
            async with asyncio.timeout(10):
                assert json.loads((await anext(seen)).payload)["status"] == "offline"
                again = json.loads((await anext(seen)).payload)
            assert again["status"] == "online" and again["session"] == online["session"]
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw
