"""Work orders on a real DB (SQLite, and PostgreSQL where races matter): from an alarm to resolved, illegal steps,
who works what, photos judged by content, the alarm left to the device."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from api.db import create_engine, session_factory
from api.models import AuditEntry, WorkOrderPhoto
from api.security import Role
from tests.api.conftest import Harness, open_harness
from tests.api.fakes import cabinet_state
from tests.api.images import png_bytes


async def raise_door_alarm(h: Harness) -> dict[str, Any]:
    await h.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(h.clock.now(), seq=2, door_open=True), retain=True)
    await h.settle()
    alarms = (await h.client.get("/api/v1/alarms?active=true&device=lc-001", headers=h.token("viewer"))).json()
    assert [a["kind"] for a in alarms] == ["door_open"]
    alarm: dict[str, Any] = alarms[0]
    return alarm


async def step(h: Harness, order_id: int, role: str, action: str, **extra: Any) -> Any:
    return await h.client.post(f"/api/v1/work-orders/{order_id}/transitions", json={"action": action, **extra},
                               headers=h.token(role))


async def test_alarm_to_resolved_keeps_history_and_leaves_the_alarm_to_the_device(harness: Harness) -> None:
    h = harness
    alarm = await raise_door_alarm(h)
    made = await h.client.post("/api/v1/work-orders", json={"alarm_id": alarm["id"], "assignee": "crew"},
                               headers=h.token("operator"))
    assert made.status_code == 201, made.text
    order = made.json()
    assert (order["state"], order["device_id"], order["alarm_id"], order["assignee"]) == (
        "assigned", "lc-001", alarm["id"], "crew")
    assert order["label"] == {"vi": "Cửa tủ mở", "en": "Cabinet door open"}
    linked = (await h.client.get(f"/api/v1/alarms/{alarm['id']}", headers=h.token("viewer"))).json()
    assert linked["work_order_id"] == order["id"]
    again = await h.client.post("/api/v1/work-orders", json={"alarm_id": alarm["id"]}, headers=h.token("operator"))
    assert again.status_code == 409 and again.json()["work_order_id"] == order["id"]

    crew_view = (await h.client.get(f"/api/v1/work-orders/{order['id']}", headers=h.token("crew"))).json()
    assert crew_view["actions"] == ["accept"]
    for action in ("accept", "travel", "arrive"):
        await h.clock.advance(60)
        resp = await step(h, order["id"], "crew", action)
        assert resp.status_code == 200, resp.text
    photo = await h.client.post(f"/api/v1/work-orders/{order['id']}/photos", content=png_bytes(),
                                headers={**h.token("crew"), "Content-Type": "image/png"})
    assert photo.status_code == 201, photo.text
    done = await step(h, order["id"], "crew", "resolve", note="thay khoá cửa tủ")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "resolved" and body["note"] == "thay khoá cửa tủ"
    assert body["alarm_active"] is True, "the device still reports the door open: the alarm stays"
    assert [(e["action"], e["from_state"], e["to_state"], e["actor"]) for e in body["history"]] == [
        ("create", None, "open", "operator"), ("assign", "open", "assigned", "operator"),
        ("accept", "assigned", "accepted", "crew"), ("travel", "accepted", "traveling", "crew"),
        ("arrive", "traveling", "on_site", "crew"), ("resolve", "on_site", "resolved", "crew")]
    assert body["history"][2]["ts"] < body["history"][3]["ts"]
    assert len(body["photos"]) == 1
    served = await h.client.get(body["photos"][0]["href"], headers=h.token("viewer"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == png_bytes()
    still = (await h.client.get(f"/api/v1/alarms/{alarm['id']}", headers=h.token("viewer"))).json()
    assert still["active"] is True and still["cleared_at"] is None
    history = (await h.client.get("/api/v1/work-orders?device=lc-001", headers=h.token("viewer"))).json()
    assert [o["id"] for o in history] == [order["id"]]
    audit = (await h.client.get("/api/v1/audit?target=work_order:" + str(order["id"]),
                                headers=h.token("engineer"))).json()
    actions = {e["action"] for e in audit}
    assert {"work_order.create", "work_order.accept", "work_order.resolve", "work_order.photo"} <= actions


async def test_illegal_step_is_409_in_both_languages_and_changes_nothing(harness: Harness) -> None:
    h = harness
    order = (await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "Kiểm tra tủ"},
                                 headers=h.token("engineer"))).json()
    resp = await step(h, order["id"], "operator", "resolve", note="x")
    assert resp.status_code == 409
    problem = resp.json()
    assert problem["state"] == "open" and problem["action"] == "resolve"
    assert problem["allowed"] == ["assign", "cancel"]
    assert problem["message"] == {"vi": "Không thể «Đã xử lý» khi lệnh công tác đang ở trạng thái «Mới»",
                                  "en": "Cannot “Resolve” a work order that is “Open”"}
    after = (await h.client.get(f"/api/v1/work-orders/{order['id']}", headers=h.token("viewer"))).json()
    assert after["state"] == "open" and len(after["history"]) == 1


async def test_crew_cannot_dispatch_nor_work_someone_elses_order(harness: Harness) -> None:
    h = harness
    made = await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "x"},
                               headers=h.token("crew"))
    assert made.status_code == 403
    order = (await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "x",
                                                               "assignee": "operator"},
                                 headers=h.token("operator"))).json()
    assert (await step(h, order["id"], "crew", "accept")).status_code == 403
    cancel = await step(h, order["id"], "crew", "cancel", reason="no")
    assert cancel.status_code == 403
    assert (await step(h, order["id"], "viewer", "accept")).status_code == 403
    unknown = await step(h, order["id"], "engineer", "assign", assignee="nobody")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["path"] == "body.assignee"
    missing = await step(h, order["id"], "engineer", "cancel")
    assert missing.status_code == 422 and missing.json()["errors"][0]["path"] == "body.reason"


async def test_cannot_fix_needs_a_reason_and_a_dispatcher_reopens(harness: Harness) -> None:
    h = harness
    order = (await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "x", "crew": "Đội 1"},
                                 headers=h.token("operator"))).json()
    assert (await step(h, order["id"], "crew", "accept")).json()["assignee"] == "crew"
    assert (await step(h, order["id"], "crew", "cannot_fix")).status_code == 422
    done = await step(h, order["id"], "crew", "cannot_fix", reason="cần xe thang")
    assert done.json()["state"] == "cannot_fix" and done.json()["reason"] == "cần xe thang"
    assert (await step(h, order["id"], "crew", "reopen", reason="x")).status_code == 409
    reopened = await step(h, order["id"], "operator", "reopen", reason="có xe thang")
    assert reopened.json()["state"] == "open" and reopened.json()["assignee"] is None


async def test_stale_expected_state_is_409(harness: Harness) -> None:
    h = harness
    order = (await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "x",
                                                               "assignee": "crew"},
                                 headers=h.token("operator"))).json()
    assert (await step(h, order["id"], "crew", "accept", expected_state="assigned")).status_code == 200
    stale = await step(h, order["id"], "crew", "travel", expected_state="assigned")
    assert stale.status_code == 409 and stale.json()["state"] == "accepted"


@pytest.mark.parametrize(("body", "content_type", "status"), [
    (b"GIF89a" + b"\x00" * 100, "image/png", 415),  # a GIF calling itself PNG
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/jpeg", 415),
    (b"", "image/jpeg", 415),
    (png_bytes(extra=6000), "image/png", 413),  # over the harness's 4 kB photo limit
])
async def test_refused_photo_stores_nothing(tmp_path: Any, body: bytes, content_type: str, status: int) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", photo_max_bytes=4096) as h:
        order = (await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "x"},
                                     headers=h.token("operator"))).json()
        resp = await h.client.post(f"/api/v1/work-orders/{order['id']}/photos", content=body,
                                   headers={**h.token("operator"), "Content-Type": content_type})
        assert resp.status_code == status, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        engine = create_engine(h.db_url)
        async with session_factory(engine)() as session:
            assert (await session.execute(select(func.count()).select_from(WorkOrderPhoto))).scalar_one() == 0
            audited = (await session.execute(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "work_order.photo"))).scalar_one()
        await engine.dispose()
        assert audited == 0


async def test_racing_phones_move_an_order_once_on_postgresql(postgres_url: str) -> None:
    async with open_harness(postgres_url) as h:
        order = (await h.client.post("/api/v1/work-orders", json={"device_id": "lc-001", "title": "x",
                                                                   "assignee": "crew"},
                                     headers=h.token("operator"))).json()
        results = await asyncio.gather(*(step(h, order["id"], Role.CREW.value, "accept") for _ in range(4)))
        assert sorted(r.status_code for r in results) == [200, 409, 409, 409]
        final = (await h.client.get(f"/api/v1/work-orders/{order['id']}", headers=h.token("viewer"))).json()
        assert [e["action"] for e in final["history"]] == ["create", "assign", "accept"]
        alarm = await raise_door_alarm(h)
        twice = await asyncio.gather(*(h.client.post("/api/v1/work-orders", json={"alarm_id": alarm["id"]},
                                                     headers=h.token("operator")) for _ in range(3)))
        assert sorted(r.status_code for r in twice) == [201, 409, 409]
