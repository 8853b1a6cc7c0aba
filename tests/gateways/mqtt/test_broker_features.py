"""The broker features the MQTT contract needs (contracts/mqtt/topics-v1.md, "Broker features"), shown on a broker
without the optional ones: a three-node NATS cluster (MQTT 3.1.1 only, no shared subscriptions). QoS 1 and retained
messages across nodes, the Last Will, a persistent session resumed on another node; MQTT 5 refused with the reason;
and the `$share` trap the contract warns of."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateways.mqtt import BrokerRefusedError, Bus, BusConfig, BusWill, MqttIntake
from tests.servers import NATS_SERVER, NatsCluster, require_binary

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One cluster for the module: its tests use distinct client ids and topics."""
    require_binary(NATS_SERVER, "nats-server")
    cluster = NatsCluster(Path(tmp_path_factory.mktemp("nats")))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def config(urls: list[str], client_id: str, **kw: object) -> BusConfig:
    return BusConfig.model_validate({"urls": tuple(urls), "client_id": client_id, "backoff_initial_s": 0.05,
                                     "backoff_max_s": 0.5, "connect_timeout_s": 3, "keepalive_s": 5, **kw})


async def test_qos1_retained_and_will_across_nodes(nats_cluster: NatsCluster) -> None:
    n1, n2, n3 = nats_cluster.urls
    will = BusWill(topic="sl/v1/_gateway/gw-n/presence", payload=b'{"status":"offline"}')
    async with Bus(config([n1], "bf-pub", will=will)) as pub, Bus(config([n3], "bf-sub")) as sub, \
            sub.subscribe("sl/v1/+/+/telemetry", "sl/v1/_gateway/+/presence") as seen:
        await pub.wait_connected(5)
        await sub.wait_connected(5)
        await asyncio.sleep(0.3)  # the subscription reached every node
        await pub.publish("sl/v1/tn/sc-1/telemetry", b'{"n":1}')
        await pub.publish("sl/v1/tn/sc-1/status", b'{"status":"online"}', retain=True)
        async with asyncio.timeout(5):
            assert (await anext(seen)).payload == b'{"n":1}'  # QoS 1, published on n1, delivered on n3

        conn = pub.connection
        assert conn is not None and conn.transport is not None
        conn.transport.abort()  # the publisher's socket dies without DISCONNECT
        async with asyncio.timeout(10):
            message = await anext(seen)
        assert message.topic == "sl/v1/_gateway/gw-n/presence" and message.payload == b'{"status":"offline"}'

    async with Bus(config([n2], "bf-late")) as late, late.subscribe("sl/v1/+/+/status") as retained:
        async with asyncio.timeout(5):
            message = await anext(retained)  # retained on n1, seen by a new subscriber on n2
        assert message.retain and message.payload == b'{"status":"online"}'


async def test_a_persistent_session_is_resumed_on_another_node(nats_cluster: NatsCluster) -> None:
    n1, n2, n3 = nats_cluster.urls
    rec = config([n2], "bf-rec", clean_session=False, manual_ack=True)
    async with MqttIntake(rec, ["sl/v1/+/+/telemetry"]) as intake:
        await intake.wait_connected(5)
    async with Bus(config([n1], "bf-pub2")) as pub:  # published while the session's client is away
        await pub.wait_connected(5)
        for seq in range(20):
            await pub.publish("sl/v1/tn/sc-1/telemetry", str(seq).encode())
    got: list[bytes] = []
    async with MqttIntake(rec.model_copy(update={"urls": (n3,)}), ["sl/v1/+/+/telemetry"]) as intake:
        async with asyncio.timeout(10):
            while len(got) < 20:
                batch = await anext(intake)
                got.extend(m.payload for m in batch)
                intake.ack(batch)
    assert got == [str(seq).encode() for seq in range(20)]


async def test_mqtt5_is_refused_with_the_reason(nats_cluster: NatsCluster) -> None:
    with pytest.raises(BaseException) as caught:  # the bus ends with the refusal, possibly inside its task group
        async with Bus(config(nats_cluster.urls[:1], "bf-v5", mqtt_v5=True)) as bus:
            await bus.wait_connected(5)
    refused = caught.value.exceptions if isinstance(caught.value, BaseExceptionGroup) else (caught.value,)
    assert any(isinstance(e, BrokerRefusedError) and "refused the connection: 0x01 (unacceptable protocol version)"
               in str(e) for e in refused), refused


async def test_a_shared_subscription_is_granted_and_delivers_nothing(nats_cluster: NatsCluster) -> None:
    """The trap the contract warns of: why `recorder_partition`, not `recorder_group`, on a broker like this one."""
    n1 = nats_cluster.urls[0]
    async with MqttIntake(config([n1], "bf-share", manual_ack=True), ["$share/rec/sl/v1/+/+/telemetry"]) as shared, \
            MqttIntake(config([n1], "bf-plain", manual_ack=True), ["sl/v1/+/+/telemetry"]) as plain, \
            Bus(config([n1], "bf-pub3")) as pub:
        await shared.wait_connected(5)  # the SUBACK granted the filter: a 3.1.1 client cannot tell
        await plain.wait_connected(5)
        await pub.wait_connected(5)
        await asyncio.sleep(0.3)
        await pub.publish("sl/v1/tn/sc-1/telemetry", b"x")
        async with asyncio.timeout(5):
            assert [m.payload for m in await anext(plain)] == [b"x"]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1.5):
                await anext(shared)
