"""Lighting routes on the fake bus: documents as versions (refused ones never stored, every failure listed),
diff and export, deploys per cabinet (refused at a cabinet where the document does not fit, retried when not
sent, alarmed on failure), circuit overrides with who/until/why, the cabinet's lighting view, and roles."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from api.models import Alarm, CircuitOverride, LightingVersion
from controllers.commands import CommandResult, DeployStage, ErrorCode
from controllers.lighting import LightingV1, encode_lighting
from tests.api.conftest import Harness

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "lighting" / "examples" / "thai-nguyen-city.json"
DOCS = "/api/v1/lighting/documents"
CABINET = "lc-001"


def two_circuits() -> dict[str, Any]:
    """The example for the fake cabinet, which has two circuits: the street and the park."""
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["circuits"] = [{"circuit": 1, "calendar": "city"}, {"circuit": 2, "calendar": "park"}]
    return doc


async def answer(h: Harness, command_id: str, *, final: bool, ok: bool = True, stage: DeployStage | None = None,
                 error: ErrorCode | None = None, message: str | None = None) -> None:
    result = CommandResult(id=command_id, ok=ok, final=final, stage=stage, error=error, message=message)
    await h.bus.publish(f"sl/v1/tn/{CABINET}/cmd/res", result.to_payload())
    await h.settle()


async def deployment(h: Harness, deployment_id: str, want: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            body: dict[str, Any] = (await h.client.get(f"/api/v1/lighting/deployments/{deployment_id}",
                                                       headers=h.token("viewer"))).json()
            if body.get("status") == want:
                return body
            await asyncio.sleep(0.005)  # waits for DB writes in aiosqlite threads, not for a timer


async def test_validate_lists_every_failure(harness: Harness) -> None:
    ok = await harness.client.post("/api/v1/lighting/validate", json=two_circuits(), headers=harness.token("viewer"))
    assert ok.status_code == 200, ok.text
    bad = two_circuits()
    bad["programs"][0]["steps"][1]["level_pct"] = 120
    bad["programs"][3]["photocell"]["off_above_lux"] = 10
    del bad["calendars"][0]["rules"][1]
    resp = await harness.client.post("/api/v1/lighting/validate", json=bad, headers=harness.token("viewer"))
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert {"level_range", "photocell_hysteresis", "calendar_gap"} <= {e["rule"] for e in resp.json()["errors"]}
    for err in resp.json()["errors"]:
        assert set(err) == {"rule", "path", "required", "found", "message"} and err["message"]["vi"]
    for body in ("null", "[]", "{}", "not json"):
        odd = await harness.client.post("/api/v1/lighting/validate", content=body.encode(),
                                        headers={**harness.token("viewer"), "Content-Type": "application/json"})
        assert odd.status_code == 422, (body, odd.text)


async def test_versions_diff_export_and_roles(harness: Harness) -> None:
    eng = harness.token("engineer")
    first = await harness.client.post(f"{DOCS}/city", json=two_circuits(), headers=eng)
    assert first.status_code == 201, first.text
    changed = two_circuits()
    changed["programs"][0]["steps"][1]["level_pct"] = 40
    second = await harness.client.post(f"{DOCS}/city", json=changed, params={"comment": "tiết kiệm"}, headers=eng)
    assert second.json()["version"] == 2
    diff = (await harness.client.get(f"{DOCS}/city/diff", params={"from": 1, "to": 2}, headers=eng)).json()
    assert (diff["document_id"], diff["from"], diff["to"]) == ("city", 1, 2)
    assert [c["path"] for c in diff["changes"]] == ["programs[program=standard].steps"]
    export = await harness.client.get(f"{DOCS}/city/versions/2/export", headers=eng)
    assert export.headers["content-disposition"] == 'attachment; filename="city-v2.json"'
    assert LightingV1.model_validate(export.json()) == LightingV1.model_validate(changed)
    # import the exported file as a new version
    imported = await harness.client.post(f"{DOCS}/city", files={"file": ("city-v2.json", export.content)},
                                         headers=eng)
    assert imported.status_code == 201 and imported.json()["crc32"] == second.json()["crc32"]
    for role in ("crew", "operator", "viewer"):
        denied = await harness.client.post(f"{DOCS}/city", json=two_circuits(), headers=harness.token(role))
        assert denied.status_code == 403, role
    refused = copy.deepcopy(changed)
    refused["programs"][0]["steps"][1]["level_pct"] = 101
    assert (await harness.client.post(f"{DOCS}/city", json=refused, headers=eng)).status_code == 422
    async with harness.state.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(LightingVersion))).scalar_one() == 3
    listing = (await harness.client.get(DOCS, headers=harness.token("viewer"))).json()
    assert listing == [{"document_id": "city", "latest_version": 3}]


async def test_deploy_to_a_cabinet_follows_stages_and_shows_tonight(harness: Harness) -> None:
    eng = harness.token("engineer")
    assert (await harness.client.post(f"{DOCS}/city", json=two_circuits(), headers=eng)).status_code == 201
    resp = await harness.client.post(f"{DOCS}/city/versions/1/deploy", json={"device_ids": [CABINET]}, headers=eng)
    assert resp.status_code == 202, resp.text
    dep = resp.json()["deployments"][0]
    assert dep["status"] == "pending" and dep["attempts"] == 1
    sent = harness.bus.sent_to("cmd")[-1]
    assert sent["name"] == "deploy_program" and sent["args"]["deployment_id"] == dep["id"]
    assert sent["args"]["crc32"] == encode_lighting(LightingV1.model_validate(two_circuits())).crc32
    busy = await harness.client.post(f"{DOCS}/city/versions/1/deploy", json={"device_ids": [CABINET]}, headers=eng)
    assert busy.status_code == 409
    await answer(harness, dep["command_id"], final=False, stage=DeployStage.VERIFYING)
    await deployment(harness, dep["id"], "verifying")
    await answer(harness, dep["command_id"], final=True, stage=DeployStage.ACTIVE)
    await deployment(harness, dep["id"], "active")
    view = (await harness.client.get(f"/api/v1/cabinets/{CABINET}/lighting", headers=harness.token("crew"))).json()
    assert view["program"]["document_id"] == "city" and view["program"]["version"] == 1
    tonight = {c["circuit"]: c for c in view["program"]["circuits"]}
    assert tonight[1]["program"] in ("standard", "weekend") and len(tonight[1]["switches"]) == 3
    # 14:00 local: the whole night is ahead, then the next night's first switch (at most 4)
    assert tonight[1]["next_switches"][:3] == tonight[1]["switches"] and len(tonight[1]["next_switches"]) == 4
    assert [c["status"] for c in view["circuits"]] == ["on", "off"]
    await harness.clock.advance(20 * 3600)  # 10:00 local the next morning: that night's switches are past
    view = (await harness.client.get(f"/api/v1/cabinets/{CABINET}/lighting", headers=harness.token("crew"))).json()
    morning = {c["circuit"]: c for c in view["program"]["circuits"]}[1]
    now = harness.clock.now()
    assert all(datetime.fromisoformat(s["at"]) <= now for s in tonight[1]["switches"])
    assert morning["switches"] == tonight[1]["switches"]  # the night runs noon to noon
    upcoming = morning["next_switches"]
    assert len(upcoming) == 3 and all(datetime.fromisoformat(s["at"]) > now for s in upcoming)
    assert datetime.fromisoformat(upcoming[0]["at"]) - now < timedelta(hours=10)  # this evening's switch-on
    assert upcoming[0]["level_pct"] > 0 and upcoming[2]["level_pct"] == 0  # ... to tomorrow morning's off


async def test_an_answer_that_comes_before_the_deploy_call_returns_is_applied(harness: Harness,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A cabinet may answer before the API is done sending (the demo's Modbus cabinet did, on a busy machine): the
    final answer is handled while `issue` has not returned. The deployment must already name that command, or the
    answer reads as one to an earlier attempt, is dropped, and the deployment stays pending for good."""
    eng = harness.token("engineer")
    assert (await harness.client.post(f"{DOCS}/city", json=two_circuits(), headers=eng)).status_code == 201
    deploys = harness.app.state.lighting.deploys
    publish = harness.bus.publish

    async def answering(topic: str, payload: Any, **kw: Any) -> None:
        await publish(topic, payload, **kw)
        if topic.endswith(f"{CABINET}/cmd"):
            envelope = json.loads(payload) if isinstance(payload, bytes | str) else payload
            await deploys.on_result(CABINET, CommandResult(id=envelope["id"], ok=True, final=True,
                                                           stage=DeployStage.ACTIVE))

    monkeypatch.setattr(harness.bus, "publish", answering)
    resp = await harness.client.post(f"{DOCS}/city/versions/1/deploy", json={"device_ids": [CABINET]}, headers=eng)
    assert resp.status_code == 202, resp.text
    await deployment(harness, resp.json()["deployments"][0]["id"], "active")


async def test_a_document_that_does_not_fit_a_cabinet_is_refused_there_and_never_sent(harness: Harness) -> None:
    eng = harness.token("engineer")
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))     # assigns circuits 1..4; lc-001 has 2
    assert (await harness.client.post(f"{DOCS}/city", json=doc, headers=eng)).status_code == 201
    before = len(harness.bus.sent_to("cmd"))
    resp = await harness.client.post(f"{DOCS}/city/versions/1/deploy", json={"site": "tn"}, headers=eng)
    assert resp.status_code == 202, resp.text
    (dep,) = resp.json()["deployments"]
    assert dep["status"] == "refused" and "circuit(s) [3, 4]" in dep["message"]
    assert len(harness.bus.sent_to("cmd")) == before
    batch = (await harness.client.get(f"/api/v1/lighting/batches/{dep['batch_id']}", headers=eng)).json()
    assert batch["counts"] == {"refused": 1}


async def test_a_busy_cabinet_is_retried_and_a_refusal_raises_an_alarm(harness: Harness) -> None:
    eng = harness.token("engineer")
    assert (await harness.client.post(f"{DOCS}/city", json=two_circuits(), headers=eng)).status_code == 201
    dep = (await harness.client.post(f"{DOCS}/city/versions/1/deploy", json={"device_ids": [CABINET]},
                                     headers=eng)).json()["deployments"][0]
    await answer(harness, dep["command_id"], final=True, ok=False, error=ErrorCode.BUSY)
    retried = await deployment(harness, dep["id"], "pending")
    async with asyncio.timeout(5):
        while retried["command_id"] == dep["command_id"]:    # the retry is sent under a new command id
            retried = await deployment(harness, dep["id"], "pending")
    assert retried["attempts"] == 2
    assert harness.bus.sent_to("cmd")[-1]["id"] == retried["command_id"]
    await answer(harness, retried["command_id"], final=True, ok=False, error=ErrorCode.INVALID_PROGRAM,
                 stage=DeployStage.ROLLED_BACK, message="programs[0].steps[0]: bad")
    failed = await deployment(harness, dep["id"], "rolled_back")
    assert failed["error"] == "invalid_program" and failed["attempts"] == 2
    alarms: list[Alarm] = []
    async with asyncio.timeout(5):      # the alarm follows the deployment's final status
        while not alarms:
            async with harness.state.sessions() as session:
                alarms = list((await session.execute(select(Alarm).where(Alarm.active))).scalars())
            await asyncio.sleep(0.005)  # waits for DB writes in aiosqlite threads, not for a timer
    assert [(a.device_id, a.kind) for a in alarms] == [(CABINET, "program_deploy_failed")]
    assert "city v1: invalid_program" in (alarms[0].detail or "")


async def test_override_carries_who_until_why_and_release(harness: Harness) -> None:
    crew = harness.token("crew")
    resp = await harness.client.put(f"/api/v1/cabinets/{CABINET}/circuits/2/override",
                                    json={"level_pct": 40, "duration_min": 120, "reason": "thay bóng đèn"},
                                    headers=crew)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["set_by"] == "crew" and body["reason"] == "thay bóng đèn" and body["level_pct"] == 40
    sent = harness.bus.sent_to("cmd")[-1]
    assert sent["name"] == "switch" and sent["args"]["circuit"] == 2 and sent["args"]["until"] == body["until"]
    view = (await harness.client.get(f"/api/v1/cabinets/{CABINET}/lighting", headers=crew)).json()
    assert view["circuits"][1]["override"]["until"] == body["until"]
    assert view["overrides"][0]["set_by"] == "crew"
    bad = await harness.client.put(f"/api/v1/cabinets/{CABINET}/circuits/2/override",
                                   json={"level_pct": 140, "duration_min": 60, "reason": "x"}, headers=crew)
    assert bad.status_code == 422
    released = await harness.client.delete(f"/api/v1/cabinets/{CABINET}/circuits/2/override", headers=crew)
    assert released.status_code == 200 and released.json()["released"][0]["status"] == "released"
    assert harness.bus.sent_to("cmd")[-1]["name"] == "release"
    viewer = await harness.client.put(f"/api/v1/cabinets/{CABINET}/circuits/1/override",
                                      json={"level_pct": 0, "duration_min": 30, "reason": "x"},
                                      headers=harness.token("viewer"))
    assert viewer.status_code == 403
    async with harness.state.sessions() as session:
        statuses = list((await session.execute(select(CircuitOverride.status))).scalars())
    assert statuses == ["released"]


async def test_routes_are_in_the_openapi_document(harness: Harness) -> None:
    paths = (await harness.client.get("/openapi.json")).json()["paths"]
    for path in ("/api/v1/lighting/validate", "/api/v1/lighting/documents/{document_id}",
                 "/api/v1/lighting/documents/{document_id}/versions/{version}/deploy",
                 "/api/v1/cabinets/{device_id}/circuits/{circuit}/override", "/api/v1/cabinets/{device_id}/lighting"):
        assert path in paths, path


async def test_circuit_faults_are_alarms_naming_cabinet_and_circuit(harness: Harness) -> None:
    now = harness.clock.now()
    birth = {"ts": "2026-11-23T07:00:00.000Z", "bd_seq": 2, "kind": "lighting_cabinet", "model": "sim-lc",
             "firmware": "1.0", "capabilities": ["switch"], "transport": "mqtt", "circuits": 2,
             "loads": [{"circuit": 1, "luminaires": 20, "rated_w": 100}, {"circuit": 2, "luminaires": 12,
                                                                          "rated_w": 150}]}
    await harness.bus.publish(f"sl/v1/tn/{CABINET}/birth", birth, retain=True)
    full_2 = 12 * 150 / (230 * 0.95)

    async def report(seq: int, current_2: float, breaker_1: bool) -> None:
        circuits = [{"circuit": 1, "on": not breaker_1, "level_pct": 0 if breaker_1 else 100,
                     "current_a": 0 if breaker_1 else 2000 / (230 * 0.95), "breaker_tripped": breaker_1,
                     "program_level_pct": 100},
                    {"circuit": 2, "on": True, "level_pct": 100, "current_a": current_2, "program_level_pct": 100}]
        await harness.bus.publish(f"sl/v1/tn/{CABINET}/state", {
            "ts": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "seq": seq, "kind": "lighting_cabinet",
            "values": {"circuits": circuits, "mains_ok": True, "door_open": False,
                       "alarms": ["breaker_trip", "lamp_failure"]}}, retain=True)
        await harness.settle()

    await report(2, full_2 * 8 / 12, True)
    resp = await harness.client.get("/api/v1/alarms", headers=harness.token("crew"))
    active = {(a["kind"], a["circuit"]): a for a in resp.json() if a["active"]}
    assert set(active) == {("breaker_trip", 1), ("lamp_failure", 2)}
    lamp = active[("lamp_failure", 2)]
    assert lamp["device_id"] == CABINET and lamp["label"]["vi"] == "Hỏng đèn · mạch 2"
    assert "~4 of 12 luminaires out" in lamp["detail"]
    await report(3, full_2, False)          # repaired: both clear, nothing raised for the cabinet as a whole
    async with harness.state.sessions() as session:
        rows = list((await session.execute(select(Alarm).where(Alarm.device_id == CABINET))).scalars())
    assert sorted((a.kind, a.circuit, a.active) for a in rows) == [("breaker_trip", 1, False),
                                                                   ("lamp_failure", 2, False)]


async def test_after_a_cabinet_restart_its_overrides_are_reconciled_with_audit(harness: Harness) -> None:
    crew = harness.token("crew")
    held = await harness.client.put(f"/api/v1/cabinets/{CABINET}/circuits/2/override",
                                    json={"level_pct": 40, "duration_min": 120, "reason": "thay bóng đèn"},
                                    headers=crew)
    assert held.status_code == 200, held.text
    commands_before = len(harness.bus.sent_to("cmd"))
    reconciler = harness.app.state.lighting.overrides
    now = harness.clock.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    birth = {"ts": now, "bd_seq": 7, "kind": "lighting_cabinet", "model": "sim-lc", "firmware": "1.0",
             "capabilities": ["switch"], "transport": "mqtt", "circuits": 3}

    async def restart(seq: int, circuits: list[dict[str, Any]]) -> None:
        birth["bd_seq"] = int(birth["bd_seq"]) + 1     # each (re)connect is a new birth
        await harness.bus.publish(f"sl/v1/tn/{CABINET}/birth", birth, retain=True)
        await harness.bus.publish(f"sl/v1/tn/{CABINET}/state", {
            "ts": now, "seq": seq, "kind": "lighting_cabinet", "values": {"circuits": circuits}}, retain=True)
        await harness.settle()

    # 1. it restarted and runs its program on circuit 2: the crew's override goes again, same level and until;
    #    circuit 3 holds an override the center never gave: released
    done, judged = reconciler.reconciled, reconciler.judged
    await restart(0, [{"circuit": 1, "on": False, "level_pct": 0, "control": "program"},
                      {"circuit": 2, "on": True, "level_pct": 100, "control": "program"},
                      {"circuit": 3, "on": True, "level_pct": 100, "control": "override"}])
    for _ in range(400):
        if reconciler.judged > judged:
            break
        await asyncio.sleep(0.005)  # the reconciler's DB work runs in aiosqlite threads
    assert reconciler.reconciled == done + 2
    sent = harness.bus.sent_to("cmd")[commands_before:]
    assert [(c["name"], c["args"].get("circuit"), c["args"].get("level_pct"), c["args"].get("until"))
            for c in sent] == [("switch", 2, 40, held.json()["until"]), ("release", 3, None, None)]
    assert all(c["issued_by"] == "system" for c in sent)
    async with harness.state.sessions() as session:
        from api.models import AuditEntry
        entries = list((await session.execute(select(AuditEntry).where(
            AuditEntry.action.like("lighting.override.%")).order_by(AuditEntry.id))).scalars())
        row = (await session.execute(select(CircuitOverride))).scalar_one()
    assert [(e.action, e.actor, e.outcome, (e.detail or {})["circuit"]) for e in entries] == [
        ("lighting.override.resend", "system", "requested", 2), ("lighting.override.clear", "system", "requested", 3)]
    assert row.status == "active" and row.command_id == sent[0]["id"], "the override follows its newest command"
    # another API replica saw the same birth and state: the birth is claimed, it sends and audits nothing
    from api.lighting_overrides import OverrideReconciler
    replica = OverrideReconciler(harness.state.sessions, harness.bus, harness.clock, harness.state.dispatcher)
    for suffix in ("birth", "state"):
        assert await replica.handle(harness.bus.retained[f"sl/v1/tn/{CABINET}/{suffix}"]) == []
    assert replica.left == 1 and len(harness.bus.sent_to("cmd")) == commands_before + 2

    # 2. a later state (not after a birth) is never judged: it may race a crew's command in flight
    await harness.bus.publish(f"sl/v1/tn/{CABINET}/state", {
        "ts": now, "seq": 1, "kind": "lighting_cabinet", "values": {"circuits": [
            {"circuit": 2, "on": True, "level_pct": 100, "control": "program"}]}}, retain=True)
    await harness.settle()
    # 3. restarted again, agreeing now: nothing sent
    await restart(2, [{"circuit": 2, "on": True, "level_pct": 40, "control": "override"},
                      {"circuit": 3, "on": False, "level_pct": 0, "control": "program"}])
    for _ in range(400):
        if reconciler.judged > judged + 1:
            break
        await asyncio.sleep(0.005)
    assert reconciler.judged == judged + 2, "the second birth's first state was judged"
    assert len(harness.bus.sent_to("cmd")) == commands_before + 2
