"""The connection's publishing side on a fake transport: PUBLISH frames, QoS 1 futures resolved by PUBACK, the
bounded in-flight window (ours and the broker's Receive Maximum), an MQTT 5 refusal, writes gathered per
event-loop iteration, everything waiting failed when the connection is lost."""

from __future__ import annotations

import asyncio

import pytest

from gateways.mqtt import BusConfig
from gateways.mqtt.codec import frame, publish_frame, utf8
from gateways.mqtt.connection import Connection, InboundMessage, PublishRefusedError
from tests.gateways.mqtt.brokers import CONNACK_OK, FakeTransport


class Inbox:
    def __init__(self) -> None:
        self.inbox: list[InboundMessage] = []
        self.topics: dict[bytes, str] = {}

    def received(self, conn: Connection, n: int) -> None:
        pass


def connected(connack: bytes = CONNACK_OK, **kw: object) -> tuple[Connection, FakeTransport]:
    conn = Connection(BusConfig.model_validate({"client_id": "c", **kw}), Inbox(), 1)
    transport = FakeTransport()
    conn.connection_made(transport)
    conn.data_received(connack)
    return conn, transport


def test_publish_frames() -> None:
    assert publish_frame(utf8("a/b"), b"xy", qos=1, retain=True, packet_id=258, v5=False) == \
        b"\x33\x09\x00\x03a/b\x01\x02xy"
    assert publish_frame(utf8("a"), b"", qos=0, retain=False, packet_id=0, v5=True) == b"\x30\x04\x00\x01a\x00"
    big = publish_frame(utf8("t"), bytes(200), qos=1, retain=False, packet_id=1, v5=False)
    assert big == frame(0x32, b"\x00\x01t\x00\x01" + bytes(200))


async def test_qos1_waits_for_its_puback_and_the_writes_of_one_iteration_leave_together() -> None:
    conn, transport = connected()
    transport.writes.clear()
    tasks = [asyncio.create_task(conn.publish(f"t/{i}", b"x", qos=1, retain=False)) for i in range(3)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(transport.writes) == 1 and transport.writes[0].count(b"\x32\x08") == 3  # one write, three PUBLISHes
    conn.data_received(b"\x40\x02\x00\x02")  # PUBACK of the second
    await asyncio.sleep(0)
    assert [t.done() for t in tasks] == [False, True, False]
    conn.data_received(b"\x40\x02\x00\x01\x40\x02\x00\x03")
    await asyncio.gather(*tasks)


async def test_in_flight_is_bounded_by_ours_and_the_brokers_receive_maximum() -> None:
    conn, transport = connected(max_inflight=2)
    tasks = [asyncio.create_task(conn.publish("t", b"x", qos=1, retain=False)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert sum(w.count(b"\x32\x06") for w in transport.writes) == 2  # the third waits for a slot
    conn.data_received(b"\x40\x02\x00\x01")
    await asyncio.sleep(0.01)
    assert sum(w.count(b"\x32\x06") for w in transport.writes) == 3
    conn.data_received(b"\x40\x02\x00\x02\x40\x02\x00\x03")
    await asyncio.gather(*tasks)
    # MQTT 5: the broker's Receive Maximum (here 1) when it is smaller than ours.
    conn5, transport5 = connected(b"\x20\x06\x00\x00\x03\x21\x00\x01", mqtt_v5=True)
    t1 = asyncio.create_task(conn5.publish("t", b"x", qos=1, retain=False))
    t2 = asyncio.create_task(conn5.publish("t", b"y", qos=1, retain=False))
    await asyncio.sleep(0.01)
    assert sum(w.count(b"\x00\x01t") for w in transport5.writes) == 1
    conn5.data_received(b"\x40\x02\x00\x01")
    await asyncio.sleep(0.01)
    assert sum(w.count(b"\x00\x01t") for w in transport5.writes) == 2
    t1.cancel()
    t2.cancel()


async def test_an_mqtt5_refusal_fails_the_publish_naming_the_reason() -> None:
    conn, _ = connected(b"\x20\x03\x00\x00\x00", mqtt_v5=True)
    task = asyncio.create_task(conn.publish("sl/v1/tn/x/cmd", b"{}", qos=1, retain=False))
    await asyncio.sleep(0.01)
    conn.data_received(b"\x40\x04\x00\x01\x87\x00")  # PUBACK, 0x87 not authorized, no properties
    with pytest.raises(PublishRefusedError, match=r"0x87 \(not authorized\)"):
        await task


async def test_a_lost_connection_fails_what_waits_on_it() -> None:
    conn, _ = connected()
    task = asyncio.create_task(conn.publish("t", b"x", qos=1, retain=False))
    sub = asyncio.create_task(conn.subscribe(["a"]))
    await asyncio.sleep(0.01)
    conn.connection_lost(OSError("reset"))
    for t in (task, sub):
        with pytest.raises(ConnectionError, match="reset"):
            await t
    with pytest.raises(ConnectionError):
        await conn.publish("t", b"x", qos=0, retain=False)
    with pytest.raises(ValueError, match="QoS 2"):
        await conn.publish("t", b"x", qos=2, retain=False)
