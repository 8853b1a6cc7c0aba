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
from tests.gateways.mqtt.brokers import read_packet
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


async def test_a_state_the_link_lost_gives_its_seq_to_the_next_state() -> None:
    """A device's `seq` numbers what it sends, so a consumer reads a gap as a lost message. A state whose PUBLISH
    the link lost (NATS closes connections that publish while it elects leaders) is never sent as it was: the next
    state, newer, goes under its seq, before the telemetry sampled offline since (higher numbers), and the bus shows
    no gap and no step back. A broker of the test's own: the first connection ends after its state; the second takes
    its state and closes before the PUBACK (and the device, offline, samples); the third is kept."""
    connections: list[list[tuple[str, dict[str, object]]]] = []

    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got: list[tuple[str, dict[str, object]]] = []
        connections.append(got)
        number = len(connections)
        try:
            while True:
                first, body = await read_packet(reader)
                kind = first >> 4
                if kind == 1:  # CONNECT
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 8:  # SUBSCRIBE: granted at QoS 0
                    writer.write(b"\x90\x03" + body[:2] + b"\x00")
                elif kind == 3:  # PUBLISH at QoS 1
                    size = int.from_bytes(body[:2], "big")
                    topic, packet_id = body[2:2 + size].decode(), body[2 + size:4 + size]
                    got.append((topic, json.loads(body[4 + size:])))
                    if number == 2 and topic.endswith("/state"):
                        device.clock.advance(11)  # type: ignore[attr-defined]  # offline, it samples
                        return  # the link goes before the PUBACK
                    writer.write(b"\x40\x02" + packet_id)
                    if number == 1 and topic.endswith("/state"):
                        await writer.drain()
                        return  # a session, then the link goes
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                elif kind == 14:  # DISCONNECT
                    return
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        device = link((f"mqtt://127.0.0.1:{port}",))
        async with running(device):
            await eventually(lambda: len(connections) >= 3 and any(t.endswith("/state") for t, _ in connections[2]),
                             within_s=40)
        lost = next(p for t, p in connections[1] if t.endswith("/state"))
        sent = next(p for t, p in connections[2] if t.endswith("/state"))
        assert sent["seq"] == lost["seq"], (lost["seq"], sent["seq"])
        numbered = [p["seq"] for c in connections for t, p in c if "seq" in p and p is not lost]
        assert sorted(numbered) == list(range(min(numbered), max(numbered) + 1)), numbered  # no gap, no double
        # in order on the new link: the state, under the lost seq, before what was sampled offline after it
        again = [(t.rsplit("/", 1)[1], p["seq"], bool(p.get("historical"))) for t, p in connections[2] if "seq" in p]
        assert ("telemetry", sent["seq"] + 1, True) in again, again  # type: ignore[operator]
        assert [n for _, n, _ in again] == sorted(n for _, n, _ in again), again
    finally:
        server.close()
        await server.wait_closed()
