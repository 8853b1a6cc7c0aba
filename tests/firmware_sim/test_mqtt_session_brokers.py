"""A simulated MQTT device's broker options: a failover list of brokers (the next one after a loss) and TLS
with the CA the test makes, on real Mosquitto instances."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from pathlib import Path

import aiomqtt
import pytest

from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_mqtt import CabinetMqttFace
from firmware_sim.clock import ManualClock
from firmware_sim.mqtt_session import MqttDeviceSession, broker_endpoints
from tests.gateways.helpers import eventually
from tests.servers import Mosquitto, free_port
from tests.tls_certs import make_certificates


def test_broker_endpoints() -> None:
    assert broker_endpoints((), "h", 1883, False) == [("h", 1883, False)]
    assert broker_endpoints(("mqtt://a:1", "mqtts://b"), "h", 1883, False) == [("a", 1, False), ("b", 8883, True)]
    with pytest.raises(ValueError, match="ftp://x"):
        broker_endpoints(("ftp://x",), "h", 1883, False)


def link(urls: tuple[str, ...], **kw: object) -> MqttDeviceSession:
    clock = ManualClock()
    cab = LightingCabinet("tn-cab-009", 21.59, 105.85, random.Random(3))
    return MqttDeviceSession(CabinetMqttFace(cab, "tn", clock), host="unused", port=1, username=None, password=None,
                           clock=clock, rng=random.Random(1), urls=urls, **kw)  # type: ignore[arg-type]


async def birth_on(broker: Mosquitto, *, tls_ca: Path | None = None) -> dict[str, object]:
    import ssl

    context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
    async with aiomqtt.Client(broker.host, broker.port, tls_context=context) as client:
        await client.subscribe("sl/v1/tn/tn-cab-009/birth", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                return dict(json.loads(message.payload))
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def running(device: MqttDeviceSession):  # type: ignore[no-untyped-def]
    task = asyncio.create_task(device.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.integration
async def test_a_device_moves_to_the_next_broker_when_its_broker_dies(tmp_path: Path) -> None:
    (tmp_path / "n1").mkdir()
    (tmp_path / "n2").mkdir()
    n1, n2 = Mosquitto(tmp_path / "n1"), Mosquitto(tmp_path / "n2")
    n1.start()
    n2.start()
    try:
        device = link((f"mqtt://127.0.0.1:{free_port()}", n1.url, n2.url))  # the first is dead
        async with running(device):
            async with asyncio.timeout(20):
                await device.connected.wait()
            assert (await birth_on(n1))["kind"] == "lighting_cabinet"
            await asyncio.to_thread(n1.kill)
            await eventually(lambda: device.sessions >= 2 and device.connected.is_set(), within_s=30)
            assert (await birth_on(n2))["kind"] == "lighting_cabinet"  # announced again on the next broker
    finally:
        n1.stop()
        n2.stop()


@pytest.mark.integration
async def test_a_device_speaks_tls_with_the_given_ca(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    (tmp_path / "broker").mkdir()
    broker = Mosquitto(tmp_path / "broker", tls=certs)
    broker.start()
    try:
        device = link((broker.url,), tls_ca=certs.ca)
        async with running(device):
            async with asyncio.timeout(20):
                await device.connected.wait()
            assert (await birth_on(broker, tls_ca=certs.ca))["kind"] == "lighting_cabinet"
    finally:
        broker.stop()
