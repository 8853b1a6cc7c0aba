"""Alarms: derived from status, state and events; raised once; acknowledged by a named user; cleared."""

from __future__ import annotations

from controllers.alarms import AlarmKind, from_event, from_state, from_status
from tests.api.conftest import Harness
from tests.api.fakes import cabinet_state, rfc3339, signal_state


def test_status_verdicts() -> None:
    assert from_status("offline").changes(set()) == ({AlarmKind.COMM_LOSS}, set())
    assert from_status("online").changes({AlarmKind.COMM_LOSS}) == (set(), {AlarmKind.COMM_LOSS})
    assert from_status("offline").changes({AlarmKind.COMM_LOSS}) == (set(), set()), "raised once"
    assert from_status("offline", "gateway_offline: gw").detail == {AlarmKind.COMM_LOSS: "gateway_offline: gw"}
    assert from_status("online", "ignored").detail is None


def test_state_verdicts() -> None:
    conflict = from_state("signal_controller", signal_state_values(mode="flash", flash_cause="conflict"))
    assert conflict.changes(set()) == ({AlarmKind.CONFLICT_FLASH}, set())
    normal = from_state("signal_controller", signal_state_values())
    assert normal.changes({AlarmKind.CONFLICT_FLASH, AlarmKind.COMM_LOSS}) == (set(), {AlarmKind.CONFLICT_FLASH})
    reported = from_state("lighting_cabinet", {"circuits": [{"circuit": 1, "on": True, "level_pct": 100,
                                                             "breaker_tripped": True}],
                                               "alarms": ["lamp_failure", "door_open"]})
    # circuit faults are raised per circuit (controllers.lighting.faults), never for the whole cabinet
    assert reported.changes(set()) == ({AlarmKind.DOOR_OPEN}, set())
    partial = from_state("lighting_cabinet", {"circuits": []})
    assert partial.changes({AlarmKind.DOOR_OPEN, AlarmKind.LAMP_FAILURE}) == (set(), set()), \
        "a state without door_open or an alarms list says nothing about them"


def test_event_verdicts() -> None:
    ts = "2026-11-23T07:00:00.000Z"
    door = from_event({"ts": ts, "seq": 1, "alarm": "door_open", "active": True, "detail": "cabinet A"})
    assert door is not None and door.changes(set()) == ({AlarmKind.DOOR_OPEN}, set())
    power = from_event({"ts": ts, "seq": 2, "code": 182, "param": 0})
    assert power is not None and power.changes(set()) == ({AlarmKind.POWER_FAIL}, set())
    restored = from_event({"ts": ts, "seq": 3, "code": 184, "param": 0})
    assert restored is not None and restored.changes({AlarmKind.POWER_FAIL}) == (set(), {AlarmKind.POWER_FAIL})
    assert from_event({"ts": ts, "seq": 4, "code": 1, "param": 2}) is None


def signal_state_values(**kw: str) -> dict[str, object]:
    from datetime import UTC, datetime

    values: dict[str, object] = signal_state(datetime(2026, 11, 23, tzinfo=UTC), **kw)["values"]
    return values


async def test_alarm_raised_once_acked_and_cleared(harness: Harness) -> None:
    viewer, crew, operator = (await harness.login("viewer"), await harness.login("crew"),
                              await harness.login("operator"))
    now = harness.clock.now()
    for seq in (2, 3):  # the same condition twice: one alarm
        await harness.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(now, seq=seq, door_open=True), retain=True)
    await harness.settle()
    alarms = (await harness.client.get("/api/v1/alarms", params={"active": "true"}, headers=viewer)).json()
    assert [(a["device_id"], a["kind"], a["severity"]) for a in alarms] == [("lc-001", "door_open", "major")]
    alarm = alarms[0]
    assert alarm["label"] == {"vi": "Cửa tủ mở", "en": "Cabinet door open"}
    dev = (await harness.client.get("/api/v1/devices/lc-001", headers=viewer)).json()
    assert dev["alarms"] == ["door_open"]

    assert (await harness.client.post(f"/api/v1/alarms/{alarm['id']}/ack", headers=viewer)).status_code == 403
    too_long = await harness.client.post(f"/api/v1/alarms/{alarm['id']}/ack", headers=crew, json={"note": "x" * 501})
    assert too_long.status_code == 422, "a refused note changes nothing"
    acked = await harness.client.post(f"/api/v1/alarms/{alarm['id']}/ack", headers=crew,
                                      json={"note": "cửa bị cạy, đã khoá lại"})
    assert acked.status_code == 200 and acked.json()["acked_by"] == "crew"
    assert acked.json()["ack_note"] == "cửa bị cạy, đã khoá lại"
    again = await harness.client.post(f"/api/v1/alarms/{alarm['id']}/ack", headers=operator)
    assert again.status_code == 409 and "crew" in again.json()["detail"]
    assert (await harness.client.post("/api/v1/alarms/999999/ack", headers=crew)).status_code == 404

    await harness.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(now, seq=4, door_open=False), retain=True)
    await harness.settle()
    cleared = (await harness.client.get(f"/api/v1/alarms/{alarm['id']}", headers=viewer)).json()
    assert cleared["active"] is False and cleared["cleared_at"] is not None
    assert (await harness.client.get("/api/v1/alarms", params={"active": "true"}, headers=viewer)).json() == []
    trail = (await harness.client.get("/api/v1/audit", params={"action": "alarm."},
                                      headers=harness.token("admin"))).json()
    assert [(a["action"], a["actor"]) for a in reversed(trail)] == [
        ("alarm.raise", "system"), ("alarm.ack", "crew"), ("alarm.clear", "system")]

    await harness.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(now, seq=5, door_open=True), retain=True)
    await harness.settle()
    reopened = (await harness.client.get("/api/v1/alarms", params={"active": "true"}, headers=viewer)).json()
    assert len(reopened) == 1 and reopened[0]["id"] != alarm["id"] and reopened[0]["acked_by"] is None


async def test_comm_loss_from_status_and_filters(harness: Harness) -> None:
    viewer = await harness.login("viewer")
    await harness.bus.publish("sl/v1/tn/tsc-001/status", {"status": "offline", "reason": "modbus timeout"},
                              retain=True)
    await harness.bus.publish("sl/v1/tn/tsc-001/event", {"ts": rfc3339(harness.clock.now()), "seq": 9,
                                                         "alarm": "detector_fault", "active": True, "detail": "det 3"})
    await harness.settle()
    got = (await harness.client.get("/api/v1/alarms", params={"device": "tsc-001", "kind": "comm_loss"},
                                    headers=viewer)).json()
    assert len(got) == 1 and got[0]["label"]["en"] == "Communication loss"
    minor = (await harness.client.get("/api/v1/alarms", params={"severity": "minor"}, headers=viewer)).json()
    assert [(a["kind"], a["detail"]) for a in minor] == [("detector_fault", "det 3")]
    devices = (await harness.client.get("/api/v1/devices", params={"status": "offline"}, headers=viewer)).json()
    assert [d["id"] for d in devices] == ["tsc-001"]
    await harness.bus.publish("sl/v1/tn/tsc-001/status", {"status": "online"}, retain=True)
    await harness.settle()
    active = (await harness.client.get("/api/v1/alarms", params={"active": "true"}, headers=viewer)).json()
    assert [a["kind"] for a in active] == ["detector_fault"]


async def test_active_alarms_survive_restart(harness: Harness) -> None:
    await harness.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(harness.clock.now(), seq=7, door_open=True),
                              retain=True)
    await harness.settle()
    store = harness.state.alarms
    await store.load()
    assert store.active_kinds("lc-001") == {AlarmKind.DOOR_OPEN}
