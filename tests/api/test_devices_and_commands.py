"""The API on a fake bus: live device list, commands persisted then published, results, expiry, auth."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api.models import AuditEntry, Command
from controllers.commands import CommandResult
from tests.api.conftest import Harness, eventually
from tests.api.fakes import rfc3339, signal_state


async def test_device_list_comes_from_retained_state(harness: Harness) -> None:
    headers = await harness.login("viewer")
    resp = await harness.client.get("/api/v1/devices", headers=headers)
    assert resp.status_code == 200, resp.text
    devices = {d["id"]: d for d in resp.json()}
    assert set(devices) == {"tsc-001", "lc-001"}
    tsc = devices["tsc-001"]
    assert tsc["status"] == "online" and tsc["kind"] == "signal_controller" and tsc["site"] == "tn"
    assert tsc["state"]["values"]["phases"]["2"] == "green"
    assert tsc["name"] == "Ngã tư Hoàng Văn Thụ"
    only_cabinets = await harness.client.get("/api/v1/devices", params={"kind": "lighting_cabinet"}, headers=headers)
    assert [d["id"] for d in only_cabinets.json()] == ["lc-001"]
    one = await harness.client.get("/api/v1/devices/lc-001", headers=headers)
    assert one.json()["state"]["values"]["circuits"][0]["on"] is True


async def test_state_update_is_live(harness: Harness) -> None:
    headers = await harness.login("viewer")
    await harness.bus.publish("sl/v1/tn/tsc-001/state", signal_state(harness.clock.now(), seq=2, mode="flash"),
                              retain=True)
    await harness.settle()
    resp = await harness.client.get("/api/v1/devices/tsc-001", headers=headers)
    assert resp.json()["state"]["values"]["mode"] == "flash"


async def test_unknown_device_is_404_problem(harness: Harness) -> None:
    headers = await harness.login("operator")
    resp = await harness.client.get("/api/v1/devices/nope", headers=headers)
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("application/problem+json")
    post = await harness.client.post("/api/v1/devices/nope/commands", json={"name": "release"}, headers=headers)
    assert post.status_code == 404


async def test_command_persisted_before_publish_then_succeeds(harness: Harness) -> None:
    headers = await harness.login("operator")
    seen_in_db: list[str] = []
    original = harness.bus.publish

    async def publish_checking_db(topic: str, payload: object, **kw: object) -> None:
        if topic.endswith("/cmd"):
            async with harness.state.sessions() as session:
                row = await session.get(Command, payload["id"])  # type: ignore[index]
                seen_in_db.append(row.status if row else "missing")
        await original(topic, payload, **kw)  # type: ignore[arg-type]

    harness.bus.publish = publish_checking_db  # type: ignore[method-assign]
    until = rfc3339(harness.clock.now() + timedelta(minutes=30))
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands",
                                     json={"name": "flash", "args": {"until": until}}, headers=headers)
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "pending"
    assert seen_in_db == ["pending"]
    [cmd] = harness.bus.sent_to("cmd")
    assert cmd["id"] == body["id"] and cmd["name"] == "flash" and cmd["issued_by"] == "operator"
    assert cmd["args"] == {"until": until}

    result = CommandResult(id=body["id"], ok=True, state={"mode": "flash"})
    await harness.bus.publish("sl/v1/tn/tsc-001/cmd/res", result.to_payload())
    await harness.settle()
    got = await harness.client.get(body["href"], headers=headers)
    assert got.status_code == 200
    assert got.json()["status"] == "succeeded" and got.json()["result"] == {"mode": "flash"}
    async with harness.state.sessions() as session:
        audit = (await session.execute(select(AuditEntry).where(AuditEntry.action == "command.flash"))).scalars()
        [entry] = list(audit)
    assert entry.actor == "operator" and entry.target == "tsc-001" and entry.outcome == "sent"


async def test_failed_result_is_recorded(harness: Harness) -> None:
    headers = await harness.login("crew")
    until = rfc3339(harness.clock.now() + timedelta(minutes=10))
    resp = await harness.client.post("/api/v1/devices/lc-001/commands", headers=headers,
                                     json={"name": "switch", "args": {"circuit": 2, "level_pct": 50, "until": until}})
    assert resp.status_code == 202, resp.text
    cid = resp.json()["id"]
    await harness.bus.publish("sl/v1/tn/lc-001/cmd/res",
                              {"id": cid, "ok": False, "error": "refused", "message": "breaker tripped"})
    await harness.settle()
    got = (await harness.client.get(f"/api/v1/commands/{cid}", headers=headers)).json()
    assert (got["status"], got["error"], got["message"]) == ("failed", "refused", "breaker tripped")
    listed = (await harness.client.get("/api/v1/commands", params={"device": "lc-001", "status": "failed"},
                                       headers=headers)).json()
    assert [c["id"] for c in listed] == [cid]
    assert (await harness.client.get("/api/v1/commands", params={"status": "pending"}, headers=headers)).json() == []


async def test_unanswered_command_expires_by_the_clock(harness: Harness) -> None:
    headers = await harness.login("operator")
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands", json={"name": "release"}, headers=headers)
    cid = resp.json()["id"]
    await harness.clock.advance(30)  # at expires_at: still within the grace for a late result
    assert harness.state.dispatcher.expired == 0
    await harness.clock.advance(6)
    await eventually(lambda: harness.state.dispatcher.expired == 1)
    got = (await harness.client.get(f"/api/v1/commands/{cid}", headers=headers)).json()
    assert got["status"] == "expired"
    trail = (await harness.client.get("/api/v1/audit", params={"target": "tsc-001"},
                                      headers=harness.token("admin"))).json()
    assert [(a["action"], a["outcome"]) for a in reversed(trail)] == [("command.release", "sent"),
                                                                      ("command.release.result", "expired")]


async def test_wrong_args_are_422_naming_the_field(harness: Harness) -> None:
    headers = await harness.login("operator")
    resp = await harness.client.post("/api/v1/devices/lc-001/commands", headers=headers,
                                     json={"name": "switch", "args": {"circuit": 99, "level_pct": 50,
                                                                      "until": "2026-11-23T10:00:00Z"}})
    assert resp.status_code == 422
    problem = resp.json()
    assert [e["path"] for e in problem["errors"]] == ["body.args.circuit"]
    wrong_name = await harness.client.post("/api/v1/devices/lc-001/commands", headers=headers,
                                           json={"name": "flash", "args": {"until": "2026-11-23T10:00:00Z"}})
    assert wrong_name.status_code == 422 and wrong_name.json()["errors"][0]["path"] == "body.name"
    naive = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=headers,
                                      json={"name": "flash", "args": {"until": "2026-11-23T10:00:00"}})
    assert naive.status_code == 422 and naive.json()["errors"][0]["path"] == "body.args.until"
    unknown = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=headers,
                                        json={"name": "explode", "args": {}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["path"] == "body.name"
    missing = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=headers,
                                        json={"name": "hold_pattern", "args": {"until": "2026-11-23T10:00:00Z"}})
    assert [e["path"] for e in missing.json()["errors"]] == ["body.args.pattern"]
    past = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=headers,
                                     json={"name": "flash", "args": {"until": "2026-11-23T06:59:00Z"}})
    assert past.status_code == 422 and "future" in past.json()["errors"][0]["message"]
    no_such_circuit = await harness.client.post("/api/v1/devices/lc-001/commands", headers=headers, json={
        "name": "switch", "args": {"circuit": 3, "level_pct": 0, "until": "2026-11-23T10:00:00Z"}})
    assert no_such_circuit.status_code == 422
    assert no_such_circuit.json()["errors"][0] == {"path": "body.args.circuit", "type": "value_error",
                                                   "message": "this cabinet has circuits 1..2"}
    assert harness.bus.sent_to("cmd") == []


async def test_bus_down_command_is_stored_failed_and_503(harness: Harness) -> None:
    headers = await harness.login("operator")
    harness.bus.fail_publish = True
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands", json={"name": "release"}, headers=headers)
    assert resp.status_code == 503
    cid = resp.json()["command_id"]
    got = (await harness.client.get(f"/api/v1/commands/{cid}", headers=headers)).json()
    assert (got["status"], got["error"]) == ("failed", "not_sent")


async def test_auth_401_without_token_and_403_wrong_role(harness: Harness) -> None:
    resp = await harness.client.get("/api/v1/devices")
    assert resp.status_code == 401 and resp.headers["www-authenticate"].startswith("Bearer")
    bad = await harness.client.get("/api/v1/devices", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    viewer = await harness.login("viewer")
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands", json={"name": "release"}, headers=viewer)
    assert resp.status_code == 403
    crew = await harness.login("crew")
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands", json={"name": "release"}, headers=crew)
    assert resp.status_code == 403, "a lighting crew may not command signals"
    assert harness.bus.sent_to("cmd") == []


async def test_wrong_password_401_and_token_expiry(harness: Harness) -> None:
    resp = await harness.client.post("/api/v1/auth/token", data={"username": "admin", "password": "wrong"})
    assert resp.status_code == 401
    headers = await harness.login("admin")
    await harness.clock.advance(harness.state.settings.access_token_ttl_s + 1)
    resp = await harness.client.get("/api/v1/devices", headers=headers)
    assert resp.status_code == 401 and "expired" in resp.json()["detail"]


async def test_malformed_bus_payload_changes_nothing(harness: Harness) -> None:
    await harness.bus.publish("sl/v1/tn/tsc-001/state", b'{"kind": "signal_controller"}', retain=True)
    await harness.bus.publish("sl/v1/tn/tsc-001/state", b"not json", retain=True)
    await harness.settle()
    assert harness.state.listener.refused == 2
    assert harness.state.cache.get("tsc-001").state["values"]["mode"] == "coordinated"  # type: ignore[union-attr]


async def test_healthz_and_status_page(harness: Harness) -> None:
    assert (await harness.client.get("/healthz")).json()["status"] == "ok"
    page = await harness.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    script = await harness.client.get("/static/app.js")
    assert script.status_code == 200 and "fetch(" in script.text
    assert (await harness.client.get("/docs")).status_code == 200


async def test_db_failure_on_one_message_keeps_the_subscription(harness: Harness) -> None:
    from sqlalchemy.exc import OperationalError

    listener = harness.state.listener
    original = listener._upsert
    await harness.register({"tsc-009": "signal_controller"})

    async def broken(*args: object) -> None:
        raise OperationalError("UPDATE devices", {}, Exception("database is locked"))

    listener._upsert = broken  # type: ignore[method-assign]
    now = harness.clock.now()
    from tests.api.fakes import signal_birth

    await harness.bus.publish("sl/v1/tn/tsc-009/birth", signal_birth(now), retain=True)
    await harness.bus.publish("sl/v1/tn/tsc-009/state", signal_state(now), retain=True)
    await harness.settle()
    live = harness.state.cache.get("tsc-009")
    assert listener.failed == 1 and live is not None and live.birth is not None
    listener._upsert = original  # type: ignore[method-assign]
    headers = await harness.login("operator")
    resp = await harness.client.post("/api/v1/devices/tsc-009/commands", json={"name": "release"}, headers=headers)
    assert resp.status_code == 202, "a live device whose birth was never written can still be commanded"
