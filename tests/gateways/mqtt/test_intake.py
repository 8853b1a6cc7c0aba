"""The lean MQTT intake: the frame parser (split frames, several per chunk, remaining lengths of 1 to 4 bytes,
MQTT 5 properties, malformed frames drop the connection), batched generation-bound acks; and on real brokers:
redelivery of unacked messages on a persistent session, broker restart, flow control without loss, refused
connections and subscriptions, shared subscriptions, keepalive, clean disconnect, the embedded amqtt broker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

import aiomqtt
import pytest

from gateways.mqtt import BusConfig, BusWill
from gateways.mqtt.codec import (
    ProtocolError,
    connect_frame,
    decode_varint,
    encode_varint,
    frame,
    parse_properties,
    puback_frames,
    subscribe_frame,
)
from gateways.mqtt.connection import BrokerRefusedError, Connection, InboundMessage
from gateways.mqtt.intake import MqttIntake
from tests.gateways.helpers import eventually
from tests.gateways.mqtt.brokers import CONNACK_OK, CONNACK_OK_V5, FakeTransport, amqtt_broker, scripted_broker
from tests.servers import Mosquitto


# --- frames ------------------------------------------------------------------------------------------------------
def publish(topic: str, payload: bytes, *, mid: int = 0, qos: int = 1, retain: bool = False,
            properties: bytes | None = None) -> bytes:
    """A PUBLISH frame as a broker sends it (`properties`: MQTT 5, already length-prefixed)."""
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (mid.to_bytes(2, "big") if qos else b"")
    body += (properties or b"") + payload
    return frame(0x30 | (qos << 1) | int(retain), body)


def connection(*, v5: bool = False, manual_ack: bool = True, generation: int = 1,
               max_pending: int = 1_000_000) -> tuple[MqttIntake, Connection, FakeTransport]:
    """An intake with one (fake) connection that got its CONNACK."""
    cfg = BusConfig(host="127.0.0.1", port=1, client_id="t", mqtt_v5=v5, manual_ack=manual_ack)
    intake = MqttIntake(cfg, ["sl/#"], max_pending=max_pending)
    conn = Connection(cfg, intake, generation, name="mqtt_intake")
    transport = FakeTransport()
    conn.connection_made(transport)
    intake._keeper.conn = conn
    conn.data_received(CONNACK_OK_V5 if v5 else CONNACK_OK)
    assert conn.connack.done() and not transport.aborted
    return intake, conn, transport


def taken(intake: MqttIntake) -> list[tuple[str, bytes, bool, int, int]]:
    out = [(m.topic, m.payload, m.retain, m.qos, m.mid) for m in intake.inbox]
    intake.inbox = []
    return out


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455])
def test_variable_byte_integers_of_1_to_4_bytes(value: int) -> None:
    encoded = encode_varint(value)
    assert len(encoded) == 1 + (value > 127) + (value > 16_383) + (value > 2_097_151)
    assert decode_varint(b"\x30" + encoded + b"rest", 1) == (value, 1 + len(encoded))
    assert decode_varint(b"\x30" + encoded[:-1], 1) is None  # incomplete: wait for more bytes
    with pytest.raises(ValueError):
        encode_varint(268_435_456)
    with pytest.raises(ProtocolError, match="longer than 4 bytes"):
        decode_varint(b"\xff\xff\xff\xff\x01", 0)


async def test_several_frames_in_one_chunk_in_order() -> None:
    intake, conn, _ = connection()
    conn.data_received(publish("a/1", b"x", mid=1) + publish("a/2", b"", qos=0) + b"\xd0\x00"  # PINGRESP
                       + publish("a/3", b"z" * 300, mid=65535, retain=True))
    assert taken(intake) == [("a/1", b"x", False, 1, 1), ("a/2", b"", False, 0, 0),
                             ("a/3", b"z" * 300, True, 1, 65535)]
    assert all(m.generation == 1 for m in intake.inbox)


async def test_frames_split_at_every_byte_are_joined() -> None:
    stream = publish("sl/v1/tn/sc-1/telemetry", b'{"a":1}' * 40, mid=7) + publish("b", b"2", mid=8)
    for cut in range(1, len(stream)):
        intake, conn, transport = connection()
        conn.data_received(stream[:cut])
        conn.data_received(stream[cut:])
        assert taken(intake) == [("sl/v1/tn/sc-1/telemetry", b'{"a":1}' * 40, False, 1, 7), ("b", b"2", False, 1, 8)]
        assert not transport.aborted
    intake, conn, _ = connection()
    for byte in stream:  # one byte at a time
        conn.data_received(bytes([byte]))
    assert [m[4] for m in taken(intake)] == [7, 8]


@pytest.mark.parametrize(("size", "length_bytes"), [(10, 1), (200, 2), (20_000, 3), (2_100_000, 4)])
async def test_remaining_lengths_of_1_to_4_bytes(size: int, length_bytes: int) -> None:
    intake, conn, _ = connection()
    data = publish("t", bytes(size), mid=3)
    assert decode_varint(data, 1) == (len(data) - 1 - length_bytes, 1 + length_bytes)
    for i in range(0, len(data), 65_536):  # as the event loop hands it over
        conn.data_received(data[i:i + 65_536])
    assert taken(intake) == [("t", bytes(size), False, 1, 3)]


async def test_mqtt5_publish_properties_are_skipped() -> None:
    intake, conn, _ = connection(v5=True)
    props = (b"\x02" + (60).to_bytes(4, "big")  # message expiry interval
             + b"\x03" + (16).to_bytes(2, "big") + b"application/json"  # content type
             + b"\x26" + b"\x00\x01k" + b"\x00\x01v")  # user property
    conn.data_received(publish("a", b"p1", mid=1, properties=encode_varint(len(props)) + props)
                       + publish("b", b"p2", mid=2, properties=b"\x00")
                       + publish("c", b"p3", qos=0, properties=b"\xc8\x01\x26\x00\x01k\x00\xc2" + bytes(194)))
    assert taken(intake) == [("a", b"p1", False, 1, 1), ("b", b"p2", False, 1, 2), ("c", b"p3", False, 0, 0)]


def test_parse_properties_reads_every_type() -> None:
    props = (b"\x11\x00\x00\x0e\x10" + b"\x21\x27\x10" + b"\x1f\x00\x02no" + b"\x0b\x81\x01" + b"\x01\x01"
             + b"\x09\x00\x02\x00\x01" + b"\x26\x00\x01a\x00\x01b" + b"\x26\x00\x01c\x00\x01d")
    parsed, end = parse_properties(encode_varint(len(props)) + props + b"tail", 0)
    assert parsed == {0x11: 3600, 0x21: 10_000, 0x1F: "no", 0x0B: 129, 0x01: 1, 0x09: b"\x00\x01",
                      0x26: [("a", "b"), ("c", "d")]}
    assert end == len(props) + 1
    with pytest.raises(ProtocolError, match="unknown property"):
        parse_properties(b"\x02\x7f\x00", 0)


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x32\xff\xff\xff\xff\x01", "longer than 4 bytes"),
    (publish("t", b"x", mid=1, qos=2), "QoS 2"),
    (b"\x32\x05\x00\x09abc", "topic longer than the packet"),
    (b"\x30\x03\x00\x00x", "without a topic name"),
    (b"\x32\x03\x00\x01a", "header longer than the packet"),
    (b"\x10\x00", "unexpected packet type 1"),
    (b"\x20\x02\x00\x00", "second CONNACK"),
    (b"\x32\x06\x00\x02\xff\xfe\x00\x01", "not valid UTF-8"),
])
async def test_a_malformed_frame_drops_the_connection_with_a_clear_log(
        data: bytes, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    intake, conn, transport = connection()
    conn.data_received(publish("ok", b"1", mid=1) + data + publish("after", b"2", mid=2))
    assert transport.aborted
    assert [m[0] for m in taken(intake)] == ["ok"]  # what came before is delivered, nothing after
    assert "mqtt_intake_protocol_error client_id=t" in caplog.text and reason in caplog.text
    conn.connection_lost(None)
    with pytest.raises(ConnectionError, match=reason):
        conn.closed.result()


async def test_publish_before_connack_is_a_protocol_error() -> None:
    cfg = BusConfig(host="127.0.0.1", port=1, client_id="t")
    conn = Connection(cfg, MqttIntake(cfg, ["a"]), 1)
    transport = FakeTransport()
    conn.connection_made(transport)
    conn.data_received(publish("a", b"1", mid=1))
    assert transport.aborted and conn.error is not None and "before CONNACK" in conn.error


async def test_a_connack_after_the_connect_was_given_up_ends_the_connection() -> None:
    """Besides the abort at the timeout (below, on a real socket): a CONNACK that reaches a connection whose
    CONNECT was given up ends it, rather than reviving the session there."""
    cfg = BusConfig(host="127.0.0.1", port=1, client_id="t")
    conn = Connection(cfg, MqttIntake(cfg, ["a"]), 1)
    transport = FakeTransport()
    conn.connection_made(transport)
    conn.connack.cancel()  # what the connect timeout does to the awaited CONNACK
    conn.data_received(CONNACK_OK + publish("a", b"1", mid=1))
    assert transport.aborted and conn.error is not None and "CONNACK after the connection was given up" in conn.error
    assert not any(w.startswith(b"\x40") for w in transport.writes)  # no PUBACK


async def test_acks_go_out_in_one_write_and_only_to_the_connection_that_delivered() -> None:
    intake, conn, transport = connection(generation=4)
    conn.data_received(b"".join(publish("a", b"", mid=m) for m in range(1, 6)) + publish("q0", b"", qos=0))
    messages = list(intake.inbox)
    transport.writes.clear()
    old = InboundMessage("a", b"", False, 1, 99, 3)  # delivered by an earlier connection
    intake.ack([*messages, old])
    conn.flush()  # writes of one event-loop iteration leave together, at its end
    assert transport.writes == [puback_frames([1, 2, 3, 4, 5])]
    assert transport.writes[0] == b"".join(b"\x40\x02\x00" + bytes([m]) for m in range(1, 6))
    assert intake.acked == 5
    intake._keeper.conn = None  # the connection dropped: its messages are no longer acked (the broker redelivers)
    intake.ack(messages)
    conn.flush()
    assert len(transport.writes) == 1


async def test_without_manual_ack_qos1_is_acked_on_receipt_per_chunk() -> None:
    _, conn, transport = connection(manual_ack=False)
    transport.writes.clear()
    conn.data_received(publish("a", b"", mid=1) + publish("b", b"", qos=0) + publish("c", b"", mid=2))
    conn.flush()
    assert transport.writes == [puback_frames([1, 2])]


async def test_flow_control_pauses_reading_and_resumes_when_the_consumer_catches_up() -> None:
    intake, conn, transport = connection(max_pending=10)
    intake.max_batch = 4
    conn.data_received(b"".join(publish("a", b"%d" % i, mid=i + 1) for i in range(12)))
    assert transport.paused and intake.pauses == 1 and len(intake.inbox) == 12
    got = [await anext(intake), await anext(intake)]  # 8 in hand or taken: still above half the bound
    assert transport.paused
    got.append(await anext(intake))
    assert not transport.paused  # the consumer came back with the backlog under half the bound
    assert [m.payload for b in got for m in b] == [b"%d" % i for i in range(12)]


def test_connect_and_subscribe_frames() -> None:
    cfg = BusConfig(host="h", port=1, client_id="rec", username="u", password="p", keepalive_s=30,
                    clean_session=False, will=BusWill(topic="w", payload=b"gone", retain=False))
    v3 = connect_frame(cfg)
    assert v3 == frame(0x10, b"\x00\x04MQTT\x04" + bytes([0x80 | 0x40 | 0x08 | 0x04]) + b"\x00\x1e"
                       + b"\x00\x03rec" + b"\x00\x01w\x00\x04gone" + b"\x00\x01u\x00\x01p")
    v5 = connect_frame(cfg.model_copy(update={"mqtt_v5": True, "will": None, "username": None, "password": None,
                                              "session_expiry_s": 3600, "receive_maximum": 500}))
    assert v5 == frame(0x10, b"\x00\x04MQTT\x05\x00\x00\x1e" + b"\x08\x11\x00\x00\x0e\x10\x21\x01\xf4"
                       + b"\x00\x03rec")
    clean_v5 = connect_frame(BusConfig(host="h", port=1, client_id="c", mqtt_v5=True))
    assert clean_v5[9] == 0x02 and b"\x11\x00\x00\x00\x00" in clean_v5  # Clean Start, session expiry 0
    assert subscribe_frame(1, ["a/#", "$share/g/b"], v5=False) == frame(0x82, b"\x00\x01\x00\x03a/#\x01"
                                                                        b"\x00\x0a$share/g/b\x01")
    assert subscribe_frame(1, ["a"], v5=True) == frame(0x82, b"\x00\x01\x00\x00\x01a\x01")


def fast(port: int, **kw: Any) -> BusConfig:
    return BusConfig(host="127.0.0.1", port=port, client_id="intake-t", backoff_initial_s=0.05, backoff_max_s=0.2,
                     connect_timeout_s=5, **kw)


@pytest.mark.parametrize(("v5", "connack", "expected"), [
    (False, b"\x20\x02\x00\x05", "0x05 (not authorized)"),
    (False, b"\x20\x02\x00\x04", "0x04 (bad user name or password)"),
    (True, b"\x20\x0e\x00\x87\x0b\x1f\x00\x08no entry", "0x87 (not authorized): no entry"),
    # a 3.1.1-only broker (NATS) answers an MQTT 5 CONNECT with a 3.1.1 return code: named as one, not "unknown"
    (True, b"\x20\x02\x00\x01", "0x01 (unacceptable protocol version) (the broker speaks MQTT 3.1.1 only"),
])
async def test_a_connack_refusal_ends_the_intake_with_the_reason(v5: bool, connack: bytes, expected: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    async with scripted_broker(lambda kind, _: connack if kind == 1 else None) as (port, _), \
            MqttIntake(fast(port, mqtt_v5=v5), ["a"]) as intake:
        with pytest.raises(BrokerRefusedError, match=expected.replace("(", r"\(").replace(")", r"\)")):
            async with asyncio.timeout(5):
                await anext(intake)
        assert f"mqtt_intake_refused client_id=intake-t broker=mqtt://127.0.0.1:{port}" in caplog.text


@pytest.mark.integration
@pytest.mark.parametrize(("v5", "expected"), [(False, r"0x05 \(not authorized\)"), (True, r"0x87 \(not authorized\)")])
async def test_a_real_broker_refusing_anonymous_clients(tmp_path_factory: pytest.TempPathFactory, v5: bool,
                                                        expected: str) -> None:
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto-closed"))
    broker.conf_path.write_text(broker.conf_path.read_text().replace("allow_anonymous true", "allow_anonymous false"))
    broker.start()
    try:
        async with MqttIntake(fast(broker.port, mqtt_v5=v5), ["t/#"]) as intake:
            with pytest.raises(BrokerRefusedError, match=f"broker refused the connection: {expected}"):
                await intake.wait_connected(5)
    finally:
        broker.stop()


async def test_server_unavailable_is_retried_not_fatal() -> None:
    answers = iter([b"\x20\x02\x00\x03", b"\x20\x02\x00\x03", CONNACK_OK])

    def reply(kind: int, body: bytes) -> bytes | None:
        if kind == 1:
            return next(answers)
        return b"\x90\x03\x00\x01\x01" if kind == 8 else None

    async with scripted_broker(reply) as (port, _), MqttIntake(fast(port), ["a"]) as intake:
        await intake.wait_connected(5)
        assert intake.connects == 1


@pytest.mark.parametrize(("v5", "suback", "expected"), [
    (True, b"\x90\x05\x00\x01\x00\x01\x9e", r"subscription to b: 0x9e \(shared subscriptions not supported\)"),
    (True, b"\x90\x05\x00\x01\x00\x01\x87", r"subscription to b: 0x87 \(not authorized\)"),
])
async def test_a_suback_refusal_for_good_ends_the_intake_naming_the_filter(v5: bool, suback: bytes,
                                                                           expected: str) -> None:
    def reply(kind: int, body: bytes) -> bytes | None:
        return {1: CONNACK_OK_V5 if v5 else CONNACK_OK, 8: suback}.get(kind)

    async with scripted_broker(reply) as (port, _), MqttIntake(fast(port, mqtt_v5=v5), ["a", "b"]) as intake:
        with pytest.raises(BrokerRefusedError, match=expected):
            await intake.wait_connected(5)


async def test_a_3_1_1_suback_failure_is_logged_and_asked_again_on_a_new_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    """0x80 is 3.1.1's only failure code: NATS answers it while JetStream elects a leader. The intake must neither
    end nor run without the subscription: it reconnects and subscribes again until the broker grants it."""
    subacks = iter([b"\x90\x04\x00\x01\x01\x80", b"\x90\x04\x00\x01\x80\x80", b"\x90\x04\x00\x01\x01\x01"])

    def reply(kind: int, body: bytes) -> bytes | None:
        return CONNACK_OK if kind == 1 else next(subacks) if kind == 8 else None

    async with scripted_broker(reply) as (port, received), MqttIntake(fast(port), ["a", "b"]) as intake:
        await intake.wait_connected(10)
        assert intake.connects == 1
        assert received.count(8) == 3 and received.count(1) == 3  # three connections, three SUBSCRIBEs
    assert "mqtt_intake_subscription_refused client_id=intake-t filter=b code=0x80 (failure) retry=True" in caplog.text


async def test_a_connect_answered_late_is_hung_up_and_acknowledges_nothing() -> None:
    """A broker electing leaders (NATS) may answer a CONNECT after the client gave up on it and failed over. The
    connection given up must be closed at once: left open (aiomqtt 2.5.1 leaves paho's socket open and read), a late
    CONNACK brings the persistent session back to it, and the QoS 1 messages the broker then sends it are
    acknowledged and lost, as the cluster suite's witness once lost some. Here the first endpoint answers only
    after the intake's timeout, with a CONNACK and a QoS 1 PUBLISH: the intake has closed that socket by then, and
    it runs on the second endpoint."""
    got_connect, answered = asyncio.Event(), asyncio.Event()
    late: dict[str, Any] = {}

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readexactly(2)  # a CONNECT: type, then a one-byte length (a short client id)
        await reader.readexactly(head[1])
        got_connect.set()
        await asyncio.sleep(0.8)  # past the intake's 0.3 s
        writer.write(CONNACK_OK + publish("a", b"late", mid=7))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        answered.set()
        try:  # what came back: a PUBACK would be b"\x40..."; a closed socket reads b"" (or resets)
            late["reply"] = await asyncio.wait_for(reader.read(1024), 2)
        except ConnectionError:
            late["reply"] = b""
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    slow_port = server.sockets[0].getsockname()[1]
    try:
        async with scripted_broker(lambda kind, _: {1: CONNACK_OK, 8: b"\x90\x03\x00\x01\x01"}.get(kind)) as (
                port, received):
            cfg = fast(port).model_copy(update={
                "urls": (f"mqtt://127.0.0.1:{slow_port}", f"mqtt://127.0.0.1:{port}"), "connect_timeout_s": 0.3})
            async with MqttIntake(cfg, ["a"]) as intake:
                await asyncio.wait_for(got_connect.wait(), 5)
                await intake.wait_connected(5)
                await asyncio.wait_for(answered.wait(), 5)
                await eventually(lambda: "reply" in late, within_s=5)
                assert late["reply"] == b"", f"the connection given up answered: {late['reply']!r}"
                assert intake.connects == 1 and received[:2] == [1, 8]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_silent_broker_is_detected_and_reconnected(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    def reply(kind: int, body: bytes) -> bytes | None:
        return {1: CONNACK_OK, 8: b"\x90\x03\x00\x01\x01"}.get(kind)  # never a PINGRESP

    async with scripted_broker(reply) as (port, received):
        cfg = fast(port).model_copy(update={"keepalive_s": 1})  # below the model's floor, for a quick test
        async with MqttIntake(cfg, ["a"]) as intake:
            await eventually(lambda: intake.connects >= 2, within_s=10)
        assert 12 in received  # PINGREQ
        assert "mqtt_intake_dead_connection client_id=intake-t error=nothing received for" in caplog.text


async def test_exit_sends_a_clean_disconnect() -> None:
    async with scripted_broker(lambda kind, _: {1: CONNACK_OK, 8: b"\x90\x03\x00\x01\x01"}.get(kind)) as (
            port, received):
        async with MqttIntake(fast(port), ["a"]) as intake:
            await intake.wait_connected(5)
            conn = intake.connection
            sock = conn.transport.get_extra_info("socket") if conn and conn.transport else None
            assert sock is not None and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        await eventually(lambda: received[-1:] == [14])
        assert received == [1, 8, 14]


# --- real brokers ------------------------------------------------------------------------------------------------
async def collect(intake: MqttIntake, n: int, *, ack: bool = True, within_s: float = 10) -> list[InboundMessage]:
    got: list[InboundMessage] = []
    async with asyncio.timeout(within_s):
        async for batch in intake:
            got.extend(batch)
            if ack:
                intake.ack(batch)
            if len(got) >= n:
                return got
    raise AssertionError("unreachable")


@pytest.mark.integration
@pytest.mark.parametrize("v5", [False, True])
async def test_unacked_messages_are_redelivered_after_a_reconnect(mosquitto: Mosquitto, v5: bool) -> None:
    cfg = fast(mosquitto.port, clean_session=False, manual_ack=True, mqtt_v5=v5)
    async with MqttIntake(cfg, ["t/#"]) as intake:
        await intake.wait_connected(5)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for i in range(20):
                await pub.publish("t/x", b"%d" % i, qos=1)
        got = await collect(intake, 20, ack=False)
        intake.ack(got[:10])
        await asyncio.sleep(0.2)  # the acks reach the broker before the clean disconnect
    async with MqttIntake(cfg, ["t/#"]) as intake:
        again = await collect(intake, 10)
        await asyncio.sleep(0.3)
        assert not intake.inbox
    assert [m.payload for m in again] == [b"%d" % i for i in range(10, 20)]


@pytest.mark.integration
async def test_acks_of_a_dropped_connection_are_not_sent_and_the_broker_redelivers(mosquitto: Mosquitto) -> None:
    cfg = fast(mosquitto.port, clean_session=False, manual_ack=True)
    async with MqttIntake(cfg, ["t/#"]) as intake:
        await intake.wait_connected(5)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for i in range(5):
                await pub.publish("t/x", b"%d" % i, qos=1)
        first = await collect(intake, 5, ack=False)
        assert intake.connection is not None and intake.connection.transport is not None
        intake.connection.transport.abort()  # the link drops before the consumer acks
        await eventually(lambda: intake.connects == 2, within_s=10)
        again = await collect(intake, 5)
        intake.ack(first)  # late: belongs to the dead connection, so nothing is sent for it
        assert intake.acked == 5
    assert [m.payload for m in again] == [m.payload for m in first]
    assert all(m.generation > first[0].generation for m in again)


@pytest.mark.integration
async def test_broker_restart_reconnects_and_resubscribes(mosquitto: Mosquitto) -> None:
    cfg = fast(mosquitto.port)  # a clean session: only a new SUBSCRIBE brings messages after the restart
    async with MqttIntake(cfg, ["t/#"]) as intake:
        await intake.wait_connected(5)
        await asyncio.to_thread(mosquitto.restart)
        await eventually(lambda: intake.connects >= 2 and intake.connected, within_s=10)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await pub.publish("t/after", b"1", qos=1)
        (message,) = await collect(intake, 1)
        assert message.topic == "t/after"


@pytest.mark.integration
async def test_flow_control_loses_nothing(mosquitto: Mosquitto) -> None:
    cfg = fast(mosquitto.port, clean_session=False, manual_ack=True)
    async with MqttIntake(cfg, ["t/#"], max_pending=50, max_batch=20) as intake:
        await intake.wait_connected(5)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, max_inflight_messages=1000) as pub:
        await asyncio.gather(*(pub.publish("t/x", b"%d" % i, qos=1) for i in range(3000)))
    async with MqttIntake(cfg, ["t/#"], max_pending=50, max_batch=20) as intake:
        got: list[InboundMessage] = []
        async with asyncio.timeout(30):
            async for batch in intake:
                assert len(batch) <= 20
                got.extend(batch)
                intake.ack(batch)
                await asyncio.sleep(0.001)  # a slow consumer
                if len(got) >= 3000:
                    break
        assert intake.pauses >= 1
    assert sorted(int(m.payload) for m in got) == list(range(3000))


@pytest.mark.integration
async def test_a_shared_subscription_splits_messages_between_intakes(mosquitto: Mosquitto) -> None:
    cfg = fast(mosquitto.port, mqtt_v5=True, manual_ack=True)
    a = MqttIntake(cfg.model_copy(update={"client_id": "share-a"}), ["$share/g/t/#"])
    b = MqttIntake(cfg.model_copy(update={"client_id": "share-b"}), ["$share/g/t/#"])
    got: dict[str, list[bytes]] = {"a": [], "b": []}

    async def consume(name: str, intake: MqttIntake) -> None:
        async for batch in intake:
            got[name].extend(m.payload for m in batch)
            intake.ack(batch)

    async with a, b:
        await a.wait_connected(5)
        await b.wait_connected(5)
        tasks = [asyncio.create_task(consume("a", a)), asyncio.create_task(consume("b", b))]
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            for i in range(200):
                await pub.publish(f"t/{i % 7}", b"%d" % i, qos=1)
        await eventually(lambda: len(got["a"]) + len(got["b"]) >= 200, within_s=10)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert got["a"] and got["b"]
    assert sorted(int(p) for p in got["a"] + got["b"]) == list(range(200))


@pytest.mark.integration
async def test_a_clean_exit_does_not_fire_the_will(mosquitto: Mosquitto) -> None:
    will = BusWill(topic="w/status", payload=b"offline", retain=False)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as watch:
        await watch.subscribe("w/#", qos=1)
        async with MqttIntake(fast(mosquitto.port, will=will, keepalive_s=5), ["t/#"]) as intake:
            await intake.wait_connected(5)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(1):
                await anext(aiter(watch.messages))
        async with MqttIntake(fast(mosquitto.port, will=will, keepalive_s=5), ["t/#"]) as intake:
            await intake.wait_connected(5)
            assert intake.connection is not None and intake.connection.transport is not None
            intake.connection.transport.abort()  # vanishing without DISCONNECT: the broker publishes the will
            async with asyncio.timeout(5):
                message = await anext(aiter(watch.messages))
            assert message.payload == b"offline"


async def test_on_the_embedded_amqtt_broker() -> None:

    async with amqtt_broker() as (host, port):
        cfg = BusConfig(host=host, port=port, client_id="intake-amqtt", clean_session=False, manual_ack=True)
        async with MqttIntake(cfg, ["t/#"]) as intake:
            await intake.wait_connected(5)
            async with aiomqtt.Client(host, port) as pub:
                await pub.publish("t/retained", b"r", qos=1, retain=True)
                for i in range(50):
                    await pub.publish("t/x", b"%d" % i, qos=1)
            got = await collect(intake, 51)
        assert sorted(m.payload for m in got if m.topic == "t/x") == sorted(b"%d" % i for i in range(50))
