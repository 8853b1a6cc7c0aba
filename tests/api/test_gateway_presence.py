"""Devices behind a gateway (topic contract v1, "Gateways"): offline while their gateway is, in the device list and
detail, the stream and the comm_loss alarm; back when the gateway announces them again; the same after a restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from api.app import ApiDeps, create_app
from api.hub import StreamFilter
from api.state import ApiState
from tests.api.conftest import Harness, eventually
from tests.api.fakes import FakeBus, signal_birth, signal_state

GW = "sl/v1/_gateway/edge01-a/presence"


def presence(status: str, session: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "session": session, **extra}


async def modbus_signal(bus: FakeBus, harness: Harness, device: str, session: str) -> None:
    """A Modbus signal controller as a gateway publishes it: birth naming the gateway, status, state."""
    if harness.state.cache.get(device) is None:
        await harness.register({device: "signal_controller"})
    now = harness.clock.now()
    await bus.publish(f"sl/v1/tn/{device}/birth", signal_birth(now, gateway={"id": "edge01-a", "session": session}),
                      retain=True)
    await bus.publish(f"sl/v1/tn/{device}/status", {"status": "online"}, retain=True)
    await bus.publish(f"sl/v1/tn/{device}/state", signal_state(now), retain=True)


async def device(harness: Harness, device_id: str) -> dict[str, Any]:
    resp = await harness.client.get(f"/api/v1/devices/{device_id}", headers=harness.token("viewer"))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def comm_loss(harness: Harness, device_id: str, active: bool | None = None) -> list[dict[str, Any]]:
    params: dict[str, str] = {"device": device_id, "kind": "comm_loss"}
    if active is not None:
        params["active"] = str(active).lower()
    resp = await harness.client.get("/api/v1/alarms", params=params, headers=harness.token("viewer"))
    got: list[dict[str, Any]] = resp.json()
    return got


async def test_gateway_offline_makes_its_devices_offline_then_its_return_restores_them(harness: Harness) -> None:
    bus = harness.bus
    await bus.publish(GW, presence("online", "s1", ts="2026-11-23T07:00:00.000Z"), retain=True)
    await modbus_signal(bus, harness, "tsc-101", "s1")
    await harness.settle()
    assert (await device(harness, "tsc-101"))["status"] == "online"
    assert (await device(harness, "tsc-101"))["gateway"] == "edge01-a"

    async with harness.state.hub.subscribe(StreamFilter()) as sub:
        # The gateway is killed: only its Last Will arrives; the device's own retained status still says online.
        await bus.publish(GW, presence("offline", "s1", reason="connection lost"), retain=True)
        await harness.settle()
        events = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    dev = await device(harness, "tsc-101")
    assert (dev["status"], dev["status_reason"], dev["gateway"]) == ("offline", "gateway_offline", "edge01-a")
    listed = (await harness.client.get("/api/v1/devices", params={"status": "offline"},
                                       headers=harness.token("viewer"))).json()
    assert [d["id"] for d in listed] == ["tsc-101"]  # the MQTT devices (no gateway) stay online
    [alarm] = await comm_loss(harness, "tsc-101", active=True)
    assert alarm["detail"] == "gateway_offline: edge01-a"
    assert [(e.type, e.device, e.data.get("reason") or e.data.get("kind")) for e in events if e is not None] == [
        ("status", "tsc-101", "gateway_offline"), ("alarm", "tsc-101", "comm_loss")]

    # The gateway restarts (a new session): its device is not back until the new process announces it.
    await bus.publish(GW, presence("online", "s2"), retain=True)
    await harness.settle()
    dev = await device(harness, "tsc-101")
    assert (dev["status"], dev["status_reason"]) == ("offline", "gateway_restarted")
    assert len(await comm_loss(harness, "tsc-101", active=True)) == 1
    await modbus_signal(bus, harness, "tsc-101", "s2")
    await harness.settle()
    dev = await device(harness, "tsc-101")
    assert (dev["status"], dev["status_reason"]) == ("online", None)
    assert await comm_loss(harness, "tsc-101", active=True) == []
    assert len(await comm_loss(harness, "tsc-101")) == 1  # one alarm over the whole outage, now cleared


async def test_a_gateway_reconnecting_with_its_session_restores_its_devices_at_once(harness: Harness) -> None:
    await harness.bus.publish(GW, presence("online", "s1"), retain=True)
    await modbus_signal(harness.bus, harness, "tsc-101", "s1")
    await harness.bus.publish(GW, presence("offline", "s1"), retain=True)
    await harness.settle()
    assert (await device(harness, "tsc-101"))["status"] == "offline"
    await harness.bus.publish(GW, presence("online", "s1"), retain=True)  # a network cut healed: same process
    await harness.settle()
    assert (await device(harness, "tsc-101"))["status"] == "online"
    assert await comm_loss(harness, "tsc-101", active=True) == []


async def test_own_offline_and_mqtt_devices_are_unchanged(harness: Harness) -> None:
    await harness.bus.publish(GW, presence("online", "s1"), retain=True)
    await modbus_signal(harness.bus, harness, "tsc-101", "s1")
    await harness.bus.publish("sl/v1/tn/tsc-101/status", {"status": "offline", "reason": "modbus timeout"},
                              retain=True)
    await harness.settle()
    dev = await device(harness, "tsc-101")
    assert (dev["status"], dev["status_reason"]) == ("offline", "modbus timeout")
    assert (await comm_loss(harness, "tsc-101", active=True))[0]["detail"] == "modbus timeout"
    # A presence of another gateway changes nothing for devices that are not behind it.
    await harness.bus.publish("sl/v1/_gateway/edge02/presence", presence("offline", "x"), retain=True)
    await harness.settle()
    assert (await device(harness, "lc-001"))["status"] == "online"
    assert (await device(harness, "lc-001"))["gateway"] is None


async def test_malformed_presence_is_refused_and_changes_nothing(harness: Harness) -> None:
    await harness.bus.publish(GW, presence("online", "s1"), retain=True)
    await modbus_signal(harness.bus, harness, "tsc-101", "s1")
    await harness.settle()
    refused = harness.state.listener.refused
    for topic, payload in [(GW, b'{"status": "offline"}'), (GW, b"offline"),
                           (GW, b'{"status": "gone", "session": "s1"}'),
                           ("sl/v1/_gateway/Edge-A/presence", b'{"status": "offline", "session": "s1"}'),
                           ("sl/v1/_gateway/edge01-a/status", b'{"status": "offline", "session": "s1"}')]:
        await harness.bus.publish(topic, payload)
    await harness.settle()
    # The last one matches the device filter sl/v1/+/+/status: delivered, and refused as no device's.
    assert harness.state.listener.refused == refused + 5
    assert (await device(harness, "tsc-101"))["status"] == "online"
    assert await comm_loss(harness, "tsc-101") == []


@asynccontextmanager
async def restarted(harness: Harness) -> AsyncIterator[tuple[ApiState, httpx.AsyncClient]]:
    """A second API process on the same config DB and broker (the retained messages), as after a restart."""
    app = create_app(ApiDeps(settings=harness.state.settings, bus=harness.bus, telemetry=harness.telemetry,
                             clock=harness.clock))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api2.test") as client:
        state: ApiState = app.state.api
        retained = sum(1 for m in harness.bus.retained.values() if "/cmd" not in m.topic)
        await eventually(lambda: state.listener.handled >= retained)
        yield state, client


async def test_after_an_api_restart_retained_messages_in_any_order_give_the_same_picture(harness: Harness) -> None:
    bus = harness.bus
    # The device's retained messages come before the gateway's presence on purpose (the worst order).
    await modbus_signal(bus, harness, "tsc-101", "s1")
    await bus.publish(GW, presence("online", "s1"), retain=True)
    await harness.settle()
    await bus.publish(GW, presence("offline", "s1", reason="connection lost"), retain=True)
    await harness.settle()
    alarms_before = await comm_loss(harness, "tsc-101")
    assert len(alarms_before) == 1 and alarms_before[0]["active"]

    async with restarted(harness) as (state, client):
        headers = harness.token("viewer")
        dev = (await client.get("/api/v1/devices/tsc-101", headers=headers)).json()
        assert (dev["status"], dev["status_reason"]) == ("offline", "gateway_offline")
        # No flap while the retained messages arrived: the same single alarm, never cleared and raised again.
        after = (await client.get("/api/v1/alarms", params={"device": "tsc-101", "kind": "comm_loss"},
                                  headers=headers)).json()
        assert [(a["id"], a["active"]) for a in after] == [(alarms_before[0]["id"], True)]
        # The gateway comes back and republishes: the restarted API follows live.
        await bus.publish(GW, presence("online", "s2"), retain=True)
        await modbus_signal(bus, harness, "tsc-101", "s2")
        live = state.cache.get("tsc-101")
        assert live is not None
        await eventually(lambda: live.status == "online" and not state.alarms.active_kinds("tsc-101"))
        dev = (await client.get("/api/v1/devices/tsc-101", headers=headers)).json()
        assert (dev["status"], dev["status_reason"], dev["alarms"]) == ("online", None, [])


async def test_a_db_failure_for_one_device_never_stops_the_others(harness: Harness) -> None:
    from sqlalchemy.exc import OperationalError

    await harness.bus.publish(GW, presence("online", "s1"), retain=True)
    await modbus_signal(harness.bus, harness, "tsc-101", "s1")
    await modbus_signal(harness.bus, harness, "tsc-102", "s1")
    await harness.settle()
    listener = harness.state.listener
    original = listener._upsert

    async def broken_for_101(dev: Any, now: Any, *, seen: bool = True) -> None:
        if dev.id == "tsc-101":
            raise OperationalError("UPDATE devices", {}, Exception("database is locked"))
        await original(dev, now, seen=seen)

    listener._upsert = broken_for_101  # type: ignore[method-assign]
    await harness.bus.publish(GW, presence("offline", "s1"), retain=True)
    await harness.settle()
    listener._upsert = original  # type: ignore[method-assign]
    assert listener.failed == 1
    assert (await device(harness, "tsc-101"))["status"] == "offline"  # the live cache has it
    dev = await device(harness, "tsc-102")
    assert (dev["status"], dev["alarms"]) == ("offline", ["comm_loss"])
