"""Manual control with a backup timer on the fake bus and clock: the API sends short untils, renews them every
backup_s/3, stops at the operator's until, releases on request, resumes persisted sessions, checks roles and input."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from api.models import AuditEntry, ControlSession
from controllers.clock import from_rfc3339, to_rfc3339
from tests.api.conftest import Harness, eventually
from tests.api.fakes import signal_state
from tests.api.plan_fixtures import CONTROLLER, INTERSECTION, add_intersection

URL = f"/api/v1/intersections/{INTERSECTION}/control"


def _signal_cmds(h: Harness, name: str) -> list[dict[str, Any]]:
    return [c for c in h.bus.sent_to("cmd") if c["name"] == name]


async def _run_for(h: Harness, seconds: int) -> None:
    for _ in range(seconds):
        await h.clock.advance(1)


async def test_flash_renewed_every_third_until_the_operator_until(harness: Harness) -> None:
    await add_intersection(harness)
    start = harness.clock.now()
    until = start + timedelta(seconds=100)
    resp = await harness.client.post(URL, json={"action": "flash", "until": to_rfc3339(until), "backup_s": 30},
                                     headers=harness.token("operator"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "active"
    first = _signal_cmds(harness, "flash")
    assert len(first) == 1
    assert from_rfc3339(first[0]["args"]["until"]) == start + timedelta(seconds=30), "only the backup period"
    await _run_for(harness, 31)
    sent = _signal_cmds(harness, "flash")
    assert len(sent) == 4, "renewed at 10, 20, 30 s"
    renewed_until = [from_rfc3339(c["args"]["until"]) - start for c in sent]
    assert renewed_until == [timedelta(seconds=s) for s in (30, 40, 50, 60)]
    await _run_for(harness, 80)
    sent = _signal_cmds(harness, "flash")
    assert max(from_rfc3339(c["args"]["until"]) for c in sent) == until, "the last renewal stops at until"
    assert all(from_rfc3339(c["args"]["until"]) <= until for c in sent)
    count = len(sent)
    await _run_for(harness, 30)
    assert len(_signal_cmds(harness, "flash")) == count, "no renewal after until"
    state = await harness.client.get(URL, headers=harness.token("viewer"))
    assert state.json() == {"active": None}
    async with harness.state.sessions() as session:
        row = (await session.execute(select(ControlSession))).scalar_one()
        assert row.status == "ended"
        outcomes = [a.outcome for a in (await session.execute(
            select(AuditEntry).where(AuditEntry.action == "control.flash"))).scalars()]
    assert outcomes == ["started", "ended"]


async def test_hold_then_release(harness: Harness) -> None:
    await add_intersection(harness)
    until = harness.clock.now() + timedelta(hours=1)
    resp = await harness.client.post(URL, json={"action": "hold_pattern", "pattern": 2, "until": to_rfc3339(until)},
                                     headers=harness.token("operator"))
    assert resp.status_code == 202, resp.text
    assert resp.json()["backup_s"] == harness.state.settings.control_backup_s
    hold = _signal_cmds(harness, "hold_pattern")
    assert hold[0]["args"]["pattern"] == 2
    released = await harness.client.delete(URL, headers=harness.token("operator"))
    assert released.status_code == 200
    assert released.json()["released"]["status"] == "released"
    assert len(_signal_cmds(harness, "release")) == 1
    await _run_for(harness, int(harness.state.settings.control_backup_s))
    assert len(_signal_cmds(harness, "hold_pattern")) == 1, "a released session is not renewed"


async def test_new_session_supersedes_and_release_action(harness: Harness) -> None:
    await add_intersection(harness)
    until = to_rfc3339(harness.clock.now() + timedelta(hours=1))
    ops = harness.token("operator")
    await harness.client.post(URL, json={"action": "free", "until": until}, headers=ops)
    await harness.client.post(URL, json={"action": "flash", "until": until}, headers=ops)
    async with harness.state.sessions() as session:
        statuses = sorted((r.action, r.status) for r in (await session.execute(select(ControlSession))).scalars())
    assert statuses == [("flash", "active"), ("free", "superseded")]
    resp = await harness.client.post(URL, json={"action": "release"}, headers=ops)
    assert resp.status_code == 202 and resp.json()["released"]["action"] == "flash"


async def test_persisted_session_resumes_renewing(harness: Harness) -> None:
    """A session left by a stopped API (only in the DB) is renewed by this one: nothing is held in memory."""
    await add_intersection(harness)
    now = harness.clock.now()
    async with harness.state.sessions() as session:
        session.add(ControlSession(id=str(uuid.uuid4()), intersection_id=INTERSECTION, device_id=CONTROLLER,
                                   action="flash", until=now + timedelta(minutes=10), backup_s=60, status="active",
                                   created_by="operator", created_at=now - timedelta(minutes=5),
                                   next_renew_at=now - timedelta(seconds=3), renewals=7))
        await session.commit()
    await harness.clock.advance(1)
    await eventually(lambda: len(_signal_cmds(harness, "flash")) == 1)
    assert from_rfc3339(_signal_cmds(harness, "flash")[0]["args"]["until"]) == now + timedelta(seconds=61)


async def test_bad_input_and_roles(harness: Harness) -> None:
    await add_intersection(harness)
    ops = harness.token("operator")
    future = to_rfc3339(harness.clock.now() + timedelta(minutes=5))
    past = to_rfc3339(harness.clock.now() - timedelta(minutes=5))
    cases = [{"action": "hold_pattern", "until": future}, {"action": "flash"}, {"action": "flash", "until": past},
             {"action": "flash", "until": future, "pattern": 3}, {"action": "dance", "until": future},
             {"action": "flash", "until": future, "backup_s": 1},
             {"action": "flash", "until": to_rfc3339(harness.clock.now() + timedelta(days=40))}]
    for body in cases:
        resp = await harness.client.post(URL, json=body, headers=ops)
        assert resp.status_code == 422, (body, resp.text)
    assert not harness.bus.sent_to("cmd"), "bad input sends nothing"
    for role, status in (("viewer", 403), ("crew", 403), ("operator", 202), ("engineer", 202)):
        resp = await harness.client.post(URL, json={"action": "flash", "until": future}, headers=harness.token(role))
        assert resp.status_code == status, role
    assert (await harness.client.delete(URL, headers=harness.token("viewer"))).status_code == 403
    missing = await harness.client.post("/api/v1/intersections/nope/control", json={"action": "release"},
                                        headers=ops)
    assert missing.status_code == 404


async def test_release_through_the_device_command_route_ends_the_hold(harness: Harness) -> None:
    await add_intersection(harness)
    until = harness.clock.now() + timedelta(hours=1)
    resp = await harness.client.post(URL, json={"action": "hold_pattern", "pattern": 2, "until": to_rfc3339(until),
                                                "reason": "lễ hội"}, headers=harness.token("operator"))
    assert resp.status_code == 202, resp.text
    released = await harness.client.post(f"/api/v1/devices/{CONTROLLER}/commands",
                                         json={"name": "release", "args": {}}, headers=harness.token("operator"))
    assert released.status_code == 202, released.text
    assert (await harness.client.get(URL, headers=harness.token("viewer"))).json() == {"active": None}
    await _run_for(harness, int(harness.state.settings.control_backup_s))
    assert len(_signal_cmds(harness, "hold_pattern")) == 1, "the released hold is not renewed behind the operator"
    async with harness.state.sessions() as session:
        row = (await session.execute(select(ControlSession))).scalar_one()
        assert row.status == "released"
        started = (await session.execute(select(AuditEntry).where(AuditEntry.action == "control.hold_pattern",
                                                                  AuditEntry.outcome == "started"))).scalar_one()
    assert started.detail["reason"] == "lễ hội"


async def test_a_one_off_device_command_supersedes_the_session(harness: Harness) -> None:
    await add_intersection(harness)
    until = harness.clock.now() + timedelta(hours=1)
    await harness.client.post(URL, json={"action": "hold_pattern", "pattern": 2, "until": to_rfc3339(until)},
                              headers=harness.token("operator"))
    flash = await harness.client.post(f"/api/v1/devices/{CONTROLLER}/commands",
                                      json={"name": "flash", "args": {"until": to_rfc3339(until)}},
                                      headers=harness.token("operator"))
    assert flash.status_code == 202, flash.text
    await _run_for(harness, int(harness.state.settings.control_backup_s))
    assert len(_signal_cmds(harness, "hold_pattern")) == 1, "the superseded hold is not renewed over the flash"


async def _conflict_flash(h: Harness) -> None:
    await h.bus.publish(f"sl/v1/tn/{CONTROLLER}/state", signal_state(h.clock.now(), seq=2, mode="flash",
                                                                      flash_cause="conflict"), retain=True)
    await eventually(lambda: (h.state.cache.get(CONTROLLER).state or {}).get("values", {}).get("flash_cause")
                     == "conflict")


async def test_a_conflict_flash_cannot_be_released_by_any_route(harness: Harness) -> None:
    await add_intersection(harness)
    await _conflict_flash(harness)
    for method, url, body in (("DELETE", URL, None), ("POST", URL, {"action": "release"}),
                              ("POST", f"/api/v1/devices/{CONTROLLER}/commands", {"name": "release", "args": {}})):
        resp = await harness.client.request(method, url, json=body, headers=harness.token("engineer"))
        assert resp.status_code == 409, (url, resp.text)
        assert "conflict flash" in resp.json()["detail"]
    assert _signal_cmds(harness, "release") == [], "nothing sent: it would report success and change nothing"


async def test_reset_conflict_is_for_engineers_with_a_reason(harness: Harness) -> None:
    await add_intersection(harness)
    await _conflict_flash(harness)
    url = f"/api/v1/intersections/{INTERSECTION}/reset-conflict"
    refused = await harness.client.post(url, json={"reason": "đã thay rơ-le"}, headers=harness.token("operator"))
    assert refused.status_code == 403
    missing = await harness.client.post(url, json={}, headers=harness.token("engineer"))
    assert missing.status_code == 422
    sent = await harness.client.post(url, json={"reason": "đã thay rơ-le"}, headers=harness.token("engineer"))
    assert sent.status_code == 202, sent.text
    assert len(_signal_cmds(harness, "reset_conflict")) == 1
    async with harness.state.sessions() as session:
        entry = (await session.execute(select(AuditEntry).where(
            AuditEntry.action == "control.reset_conflict"))).scalar_one()
    assert entry.detail["reason"] == "đã thay rơ-le" and entry.actor == "engineer"
