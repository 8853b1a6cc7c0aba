"""The bus on real brokers (Mosquitto and the embedded amqtt): publish/subscribe, TCP_NODELAY, reconnect with
resubscription after a broker restart, on_connect hooks, publish timeout, bounded queues."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from controllers.bus import BusError, BusMessage
from gateways.mqtt import Bus, BusConfig, BusWill, Subscription, filter_matches
from tests.gateways.helpers import eventually
from tests.gateways.mqtt.brokers import amqtt_broker
from tests.servers import Mosquitto


def test_subscription_queue_drops_oldest_and_counts() -> None:
    sub = Subscription(("a/#",), queue_size=2)
    for i in range(5):
        sub.offer(BusMessage("a/b", str(i).encode()))
    assert sub.dropped == 3
    assert [sub.queue.get_nowait().payload for _ in range(2)] == [b"3", b"4"]


async def round_trip(host: str, port: int) -> None:
    async with Bus(BusConfig(host=host, port=port, client_id="b-pub")) as pub, \
            Bus(BusConfig(host=host, port=port, client_id="b-sub")) as sub_bus, \
            sub_bus.subscribe("sl/v1/+/+/state") as sub:
        await sub_bus.wait_connected(5)
        await pub.publish("sl/v1/tn/sc-1/state", {"x": "Đèn"}, retain=False)
        await pub.publish("sl/v1/tn/sc-1/birth", b"{}")
        async with asyncio.timeout(5):
            message = await anext(sub)
        # a clean session subscribes at QoS 0 (BusConfig.subscribe_qos): delivered as QoS 0
        assert message == BusMessage("sl/v1/tn/sc-1/state", '{"x":"Đèn"}'.encode(), False, 0)
        assert sub.queue.empty()
        conn = pub.connection
        assert conn is not None and conn.transport is not None
        raw = conn.transport.get_extra_info("socket")
        assert raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        # The publishes of one event-loop iteration leave in one write (one segment, one wake-up of the broker).
        sends = conn.sends
        await asyncio.gather(*(pub.publish(f"sl/v1/tn/sc-{i}/state", b"{}") for i in range(50)))
        assert conn.sends - sends <= 3  # the 50 PUBLISHes in one write; PUBACKs may come back in several reads
        got = {(await anext(sub)).topic for _ in range(50)}
        assert len(got) == 50


@pytest.mark.integration
async def test_round_trip_on_mosquitto(mosquitto: Mosquitto) -> None:
    await round_trip(mosquitto.host, mosquitto.port)


async def test_round_trip_on_embedded_amqtt() -> None:
    async with amqtt_broker() as (host, port):
        await round_trip(host, port)


@pytest.mark.integration
async def test_broker_restart_reconnects_resubscribes_and_reruns_hooks(mosquitto: Mosquitto) -> None:
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="b-restart", backoff_initial_s=0.05,
                    backoff_max_s=0.5, publish_timeout_s=10)
    hooks = 0

    async def hook() -> None:
        nonlocal hooks
        hooks += 1

    async with Bus(cfg) as bus, Bus(cfg.model_copy(update={"client_id": "b-restart-pub"})) as pub:
        bus.add_on_connect(hook)
        async with bus.subscribe("t/#") as sub:
            await bus.wait_connected(5)
            await asyncio.to_thread(mosquitto.restart)
            # the subscriber comes back by itself (a clean session: it must resubscribe to see anything)
            await eventually(lambda: bus.connects >= 2 and bus.connected, within_s=10)
            # publish waits for its own reconnection within its timeout
            await pub.publish("t/1", b"after")
            async with asyncio.timeout(10):
                message = await anext(sub)
            assert message.payload == b"after"
            assert bus.connects >= 2 and hooks >= 2


@pytest.mark.integration
async def test_publish_times_out_with_bus_error_when_the_broker_is_gone(mosquitto: Mosquitto) -> None:
    async with Bus(BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="b-gone",
                             publish_timeout_s=0.5)) as bus:
        await bus.wait_connected(5)
        await asyncio.to_thread(mosquitto.stop)
        with pytest.raises(BusError, match="t/x"):
            await bus.publish("t/x", b"1")


@pytest.mark.integration
async def test_last_will_is_published_when_the_client_vanishes(mosquitto: Mosquitto) -> None:
    will = BusWill(topic="sl/v1/tn/gw-1/status", payload=b'{"status":"offline"}')
    async with Bus(BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="b-watch")) as watch, \
            watch.subscribe("sl/v1/tn/gw-1/status") as sub:
        await watch.wait_connected(5)
        victim = Bus(BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="b-victim", will=will,
                               keepalive_s=5))
        async with victim:
            await victim.wait_connected(5)
            conn = victim.connection
            assert conn is not None and conn.transport is not None
            conn.transport.abort()  # vanish without DISCONNECT
            async with asyncio.timeout(10):
                message = await anext(sub)
            assert message.payload == b'{"status":"offline"}' and message.retain is False


@pytest.mark.parametrize(("filter_", "topic", "expected"), [
    ("sl/v1/+/+/state", "sl/v1/tn/sc-1/state", True),
    ("sl/v1/+/+/state", "sl/v1/tn/sc-1/cmd/res", False),
    ("sl/v1/+/+/cmd", "sl/v1/tn/sc-1/cmd/res", False),
    ("sl/v1/#", "sl/v1/tn/sc-1/cmd/res", True),
    ("sl/v1/#", "sl/v1", True),
    ("sl/+", "sl/v1/x", False),
    ("a/b", "a/b", True),
    ("a/b", "a", False),
])
def test_filter_matching(filter_: str, topic: str, expected: bool) -> None:
    assert filter_matches(filter_.split("/"), topic.split("/")) is expected
    assert Subscription((f"$share/g/{filter_}",), 1).matches(topic.split("/")) is expected


def test_a_clean_session_subscribes_at_qos_0_and_a_persistent_one_at_qos_1() -> None:
    assert BusConfig(client_id="c").subscribe_qos == 0
    assert BusConfig(client_id="c", clean_session=False).subscribe_qos == 1
    assert BusConfig(client_id="c", subscription_qos=1).subscribe_qos == 1


async def test_a_refused_subscription_is_asked_again_on_a_new_connection(caplog: pytest.LogCaptureFixture) -> None:
    """NATS answers a SUBSCRIBE with 0x80 while JetStream elects a leader: the Bus must not run deaf to that filter.
    It reconnects (after its backoff) and subscribes every live filter again until the broker grants them."""
    from tests.gateways.mqtt.brokers import CONNACK_OK, scripted_broker

    subacks = iter([b"\x90\x04\x00\x01\x00\x80", b"\x90\x04\x00\x01\x00\x00"])

    def reply(kind: int, body: bytes) -> bytes | None:
        if kind == 10:  # UNSUBSCRIBE (the clean session's exit): UNSUBACK with its packet id
            return b"\xb0\x02" + body[:2]
        return CONNACK_OK if kind == 1 else next(subacks) if kind == 8 else None

    async with scripted_broker(reply) as (port, received):
        config = BusConfig(host="127.0.0.1", port=port, client_id="b-refused", backoff_initial_s=0.05,
                           backoff_max_s=0.2)
        async with Bus(config) as bus, bus.subscribe("a", "b"):
            await eventually(lambda: received.count(8) >= 2 and bus.connected, within_s=10)
            assert received.count(1) == 2  # a second connection, for the refused filter
    assert "bus_subscription_refused client_id=b-refused filter=b code=0x80 (failure) retry=True" in caplog.text


@pytest.mark.integration
@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
async def test_a_topic_subscribed_again_under_a_live_wildcard_brings_its_retained_message_again(
        broker: str, request: pytest.FixtureRequest) -> None:
    """What the API's asks for a missed status rest on (api/listener.py): subscribing to one topic that a live
    wildcard already covers makes the broker send its retained message again, to both subscriptions; leaving the
    narrow one unsubscribes it and keeps the wildcard."""
    async with contextlib.AsyncExitStack() as stack:
        if broker == "mosquitto":
            mosquitto: Mosquitto = request.getfixturevalue("mosquitto")
            host, port = mosquitto.host, mosquitto.port
        else:
            host, port = await stack.enter_async_context(amqtt_broker())
        pub = await stack.enter_async_context(Bus(BusConfig(host=host, port=port, client_id="ask-pub")))
        bus = await stack.enter_async_context(Bus(BusConfig(host=host, port=port, client_id="ask-api")))
        await pub.wait_connected(5)
        await pub.publish("sl/v1/tn/sc-1/status", {"status": "online"}, retain=True)
        wide = await stack.enter_async_context(bus.subscribe("sl/v1/+/+/status"))
        await bus.wait_connected(5)
        async with asyncio.timeout(5):
            assert (await anext(wide)).retain  # the snapshot
        async with bus.subscribe("sl/v1/tn/sc-1/status", queue_size=1) as narrow, asyncio.timeout(5):
            asked, again = await anext(narrow), await anext(wide)
        assert asked.retain and asked.payload == again.payload == b'{"status":"online"}'
        await pub.publish("sl/v1/tn/sc-1/status", {"status": "offline"}, retain=True)
        async with asyncio.timeout(5):
            live = await anext(wide)
        assert live.payload == b'{"status":"offline"}' and not live.retain
        await asyncio.sleep(0.3)
        assert wide.queue.empty()  # one copy: the narrow subscription is gone from the broker too
