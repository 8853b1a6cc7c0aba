"""Births are the registry's business, and a cmd/res counts only for a command pending on that device."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from tests.api.conftest import Harness
from tests.api.fakes import cabinet_birth, cabinet_state, signal_birth


async def alarms(harness: Harness, device: str, kind: str) -> list[dict[str, Any]]:
    resp = await harness.client.get("/api/v1/alarms", params={"device": device, "kind": kind, "active": "true"},
                                    headers=harness.token("viewer"))
    got: list[dict[str, Any]] = resp.json()
    return got


async def test_a_birth_of_an_unknown_device_creates_nothing_raises_an_alarm_and_waits_for_import(
        harness: Harness) -> None:
    now = harness.clock.now()
    await harness.bus.publish("sl/v1/tn/phantom-1/birth", cabinet_birth(now), retain=True)
    await harness.bus.publish("sl/v1/tn/phantom-1/status", {"status": "online"}, retain=True)
    await harness.bus.publish("sl/v1/tn/phantom-1/state", cabinet_state(now), retain=True)
    await harness.settle()
    viewer = harness.token("viewer")
    assert (await harness.client.get("/api/v1/devices/phantom-1", headers=viewer)).status_code == 404
    listed = (await harness.client.get("/api/v1/devices", headers=viewer)).json()
    assert "phantom-1" not in {d["id"] for d in listed}
    [alarm] = await alarms(harness, "phantom-1", "unknown_device")
    assert alarm["severity"] == "major"
    operator = harness.token("operator")
    cmd = await harness.client.post("/api/v1/devices/phantom-1/commands", headers=operator,
                                    json={"name": "release", "args": {}})
    assert cmd.status_code == 404, "no command goes to a device the registry does not know"

    # An engineer imports it: what it said before shows at once, and the alarm clears.
    await harness.register({"phantom-1": "lighting_cabinet"})
    await harness.settle()
    dev = (await harness.client.get("/api/v1/devices/phantom-1", headers=viewer)).json()
    assert dev["status"] == "online" and dev["birth"]["circuits"] == 2 and dev["state"] is not None
    assert await alarms(harness, "phantom-1", "unknown_device") == []


async def test_a_birth_cannot_rename_move_or_shrink_a_registered_device(harness: Harness) -> None:
    viewer = harness.token("viewer")
    manifest = {"format": "signalight.manifest/v1", "site": "tn", "devices": [
        {"id": "lc-001", "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "name": "Tủ Phan Đình Phùng",
         "location": {"lat": 21.59, "lon": 105.85}}]}
    resp = await harness.client.post("/api/v1/devices/import", json=manifest, headers=harness.token("engineer"))
    assert resp.status_code == 200
    now = harness.clock.now()
    forged = {**cabinet_birth(now), "name": "Hijacked", "location": {"lat": 10.0, "lon": 106.0}, "circuits": 1}
    await harness.bus.publish("sl/v1/tn/lc-001/birth", forged, retain=True)
    await harness.settle()
    dev = (await harness.client.get("/api/v1/devices/lc-001", headers=viewer)).json()
    assert dev["name"] == "Tủ Phan Đình Phùng"
    assert dev["birth"]["location"] == {"lat": 21.59, "lon": 105.85} and dev["birth"]["circuits"] == 2
    [alarm] = await alarms(harness, "lc-001", "registry_mismatch")
    assert all(f in alarm["detail"] for f in ("name", "location", "circuits"))

    # Another site's topic claiming a registered device changes nothing of it.
    await harness.bus.publish("sl/v1/other/tsc-001/birth", signal_birth(now, name="elsewhere"), retain=True)
    await harness.settle()
    assert (await harness.client.get("/api/v1/devices/tsc-001", headers=viewer)).json()["site"] == "tn"

    # A birth agreeing with the registry clears the alarm.
    await harness.bus.publish("sl/v1/tn/lc-001/birth", {**cabinet_birth(now), "name": "Tủ Phan Đình Phùng",
                                                        "location": {"lat": 21.59, "lon": 105.85}}, retain=True)
    await harness.settle()
    assert await alarms(harness, "lc-001", "registry_mismatch") == []


async def test_a_result_counts_only_for_a_command_pending_on_that_device(harness: Harness) -> None:
    operator = harness.token("operator")
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=operator,
                                     json={"name": "release", "args": {}})
    assert resp.status_code == 202, resp.text
    command_id = resp.json()["id"]
    sent = harness.bus.published[-1]
    assert sent.topic == "sl/v1/tn/tsc-001/cmd" and {"kid", "sig", "target"} <= set(json.loads(sent.payload))
    dispatcher = harness.state.dispatcher
    # From another device's channel, and for an id nobody issued: ignored, counted.
    await harness.bus.publish("sl/v1/tn/lc-001/cmd/res", {"id": command_id, "ok": True})
    await harness.bus.publish("sl/v1/tn/tsc-001/cmd/res", {"id": "made-up-command-id", "ok": True})
    await harness.settle()
    assert dispatcher.refused_results == 2
    status = (await harness.client.get(f"/api/v1/commands/{command_id}", headers=operator)).json()["status"]
    assert status == "pending"
    await harness.bus.publish("sl/v1/tn/tsc-001/cmd/res", {"id": command_id, "ok": True})
    await harness.settle()
    assert (await harness.client.get(f"/api/v1/commands/{command_id}", headers=operator)).json()["status"] == \
        "succeeded"
    # Once final, a second (forged) answer changes nothing.
    await harness.bus.publish("sl/v1/tn/tsc-001/cmd/res", {"id": command_id, "ok": False, "error": "refused"})
    await harness.settle()
    assert (await harness.client.get(f"/api/v1/commands/{command_id}", headers=operator)).json()["status"] == \
        "succeeded" and dispatcher.refused_results == 3
    metrics = (await harness.client.get("/metrics")).text
    assert 'signalight_api_commands_total{event="result_refused"} 3.0' in metrics


async def test_hostile_payloads_leave_the_listener_running(harness: Harness) -> None:
    listener = harness.state.listener
    refused = listener.refused
    for topic in ("sl/v1/tn/tsc-001/state", "sl/v1/tn/tsc-001/birth", "sl/v1/tn/tsc-001/cmd/res",
                  "sl/v1/_gateway/gw-x/presence", "sl/v1/tn/tsc-001/event"):
        for payload in (b"[" * 2000 + b"]" * 2000, b"\xff\xfe", b'{"seq": NaN}', b"9" * 5000):
            await harness.bus.publish(topic, payload)
    await harness.settle()
    assert listener.refused == refused + 20
    now = harness.clock.now()
    await harness.bus.publish("sl/v1/tn/tsc-001/birth", signal_birth(now), retain=True)
    await harness.settle()
    assert harness.state.cache.get("tsc-001") is not None


async def test_a_poison_message_redelivered_is_logged_once_and_counted_every_time(
        harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    listener = harness.state.listener
    refused = listener.refused
    for _ in range(3):  # as a retained message is redelivered on every reconnect
        await harness.bus.publish("sl/v1/tn/tsc-001/state", b"[" * 2000 + b"]" * 2000, retain=True)
    await harness.settle()
    assert listener.refused == refused + 3
    warnings = [r.getMessage() for r in caplog.records
                if r.msg.startswith("bus_payload_refused ") and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "too_deep" in warnings[0]


async def test_a_flood_of_made_up_devices_is_bounded(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.listener

    monkeypatch.setattr(api.listener, "UNKNOWN_KEPT", 3)
    now = harness.clock.now()
    for n in range(6):
        await harness.bus.publish(f"sl/v1/tn/fake-{n}/birth", cabinet_birth(now), retain=True)
    await harness.settle()
    resp = await harness.client.get("/api/v1/alarms", params={"kind": "unknown_device", "active": "true"},
                                    headers=harness.token("viewer"))
    assert len(resp.json()) == 3 and harness.state.listener.unknown_dropped == 3
