"""Citizens' reports on a real DB: no token needed, matched to the nearest cabinet, a reference to look up that shows
the status only, rate limits per address and per area (429 + Retry-After), hostile input refused by field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from api.citizen_reports import area_cell, distance_m
from tests.api.conftest import Harness, open_harness
from tests.api.images import png_bytes

# Two cabinets 400 m apart on a street of Thái Nguyên.
NEAR = {"lat": 21.5942, "lon": 105.8482}
CABINETS = [("lc-north", 21.5960, 105.8482), ("lc-south", 21.5924, 105.8482)]


async def place_cabinets(h: Harness) -> None:
    manifest = {"format": "signalight.manifest/v1", "site": "tn", "devices": [
        {"id": d, "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "location": {"lat": lat, "lon": lon}}
        for d, lat, lon in CABINETS]}
    resp = await h.client.post("/api/v1/devices/import", json=manifest, headers=h.token("engineer"))
    assert resp.status_code == 200, resp.text


def report(**over: Any) -> dict[str, Any]:
    return {"lat": 21.5950, "lon": 105.8482, "category": "dark_street", "text": "Đường tối  từ tối qua", **over}


async def test_report_is_matched_to_the_nearest_cabinet_and_reviewed_by_a_dispatcher(harness: Harness) -> None:
    h = harness
    await place_cabinets(h)
    made = await h.client.post("/api/v1/public/reports", json=report())  # no Authorization at all
    assert made.status_code == 201, made.text
    body = made.json()
    assert re.fullmatch(r"PA-[2-9A-HJ-NP-Z]{8}", body["reference"])
    assert body["status"] == "received" and body["status_label"]["vi"].startswith("Đã tiếp nhận")
    orders = (await h.client.get("/api/v1/work-orders?state=review", headers=h.token("operator"))).json()
    assert len(orders) == 1
    order = orders[0]
    expected = distance_m(21.5950, 105.8482, 21.5960, 105.8482)
    assert (order["device_id"], order["source"], order["reference"]) == ("lc-north", "citizen", body["reference"])
    assert order["distance_m"] == pytest.approx(expected, abs=0.5) and 100 < expected < 120
    assert order["description"] == "Đường tối từ tối qua"
    assert order["actions"] == ["approve", "assign", "cancel"]
    assigned = await h.client.post(f"/api/v1/work-orders/{order['id']}/transitions",
                                   json={"action": "assign", "assignee": "crew"}, headers=h.token("operator"))
    assert assigned.status_code == 200 and assigned.json()["state"] == "assigned"
    looked = await h.client.get(f"/api/v1/public/reports/{body['reference'].lower()}")
    assert looked.status_code == 200
    assert looked.json()["status"] == "accepted"
    assert set(looked.json()) == {"reference", "status", "status_label", "category", "created_at", "updated_at"}
    assert '"crew"' not in looked.text and "Đường tối từ" not in looked.text and "203.0" not in looked.text


async def test_far_from_any_cabinet_still_becomes_an_order_without_one(harness: Harness) -> None:
    h = harness
    await place_cabinets(h)
    made = await h.client.post("/api/v1/public/reports", json=report(lat=21.61, category="damaged_pole"))
    assert made.status_code == 201
    order = (await h.client.get("/api/v1/work-orders", headers=h.token("viewer"))).json()[0]
    assert order["device_id"] is None and order["state"] == "review"
    assert order["label"] == {"vi": "Cột đèn hư hỏng", "en": "Damaged pole"}


async def test_unknown_reference_is_404_and_anonymous_cannot_read_orders(harness: Harness) -> None:
    h = harness
    assert (await h.client.get("/api/v1/public/reports/PA-22222222")).status_code == 404
    malformed = await h.client.get("/api/v1/public/reports/PA-1'OR'1")
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["path"] == "path.reference"
    assert (await h.client.get("/api/v1/work-orders")).status_code == 401


async def test_rate_limit_per_address_answers_429_with_retry_after(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", report_per_addr=2,
                            report_window_s=600) as h:
        for i in range(2):
            assert (await h.client.post("/api/v1/public/reports", json=report(lat=21.5 + i * 0.1))).status_code == 201
            await h.clock.advance(60)
        refused = await h.client.post("/api/v1/public/reports", json=report(lat=21.9))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "480"  # the first report leaves the window 600 s after it
        assert refused.json()["message"]["vi"].startswith("Đã có quá nhiều báo cáo")
        assert len((await h.client.get("/api/v1/work-orders", headers=h.token("viewer"))).json()) == 2
        await h.clock.advance(481)
        assert (await h.client.post("/api/v1/public/reports", json=report(lat=21.9))).status_code == 201


async def test_rate_limit_per_area_holds_across_addresses(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", report_per_area=2,
                            trusted_proxies=["127.0.0.1"]) as h:
        client_ip = iter(f"203.0.113.{n}" for n in range(1, 10))
        sent = []
        for _ in range(3):
            sent.append(await h.client.post("/api/v1/public/reports", json=report(),
                                            headers={"X-Forwarded-For": next(client_ip)}))
        assert [r.status_code for r in sent] == [201, 201, 429]
        assert int(sent[2].headers["retry-after"]) > 0
        other_area = await h.client.post("/api/v1/public/reports", json=report(lat=21.60),
                                         headers={"X-Forwarded-For": next(client_ip)})
        assert other_area.status_code == 201
        assert area_cell(21.5950, 105.8482) != area_cell(21.60, 105.8482)


@pytest.mark.parametrize(("raw", "path"), [
    ('{"lat": NaN, "lon": 105.8, "category": "other"}', "body.lat"),
    ('{"lat": 21.5, "lon": Infinity, "category": "other"}', "body.lon"),
    ('{"lat": 91, "lon": 105.8, "category": "other"}', "body.lat"),
    ('{"lat": 21.5, "lon": 105.8, "category": "turn_on_signal"}', "body.category"),
    ('{"lat": 21.5, "lon": 105.8, "category": "other", "text": "' + "x" * 501 + '"}', "body.text"),
    ('{"lat": 21.5, "lon": 105.8, "category": "other", "text": {"a": [[[1]]]}}', "body.text"),
    ('{"lat": 21.5, "lon": 105.8, "category": "other", "command": {"name": "switch"}}', "body.command"),
    ('{"lat": "21.5; DROP TABLE", "lon": 105.8, "category": "other"}', "body.lat"),
    ('{"lat": 21.5, "lon": 105.8, "category": "other", "text": "abc\\u202edcba\\u001b[31m"}', "body.text"),
    ('[1, 2, 3]', "body"),
])
async def test_hostile_report_is_422_naming_the_field_and_stores_nothing(harness: Harness, raw: str,
                                                                         path: str) -> None:
    h = harness
    resp = await h.client.post("/api/v1/public/reports", content=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["path"] == path
    assert (await h.client.get("/api/v1/work-orders", headers=h.token("viewer"))).json() == []


async def test_deeply_nested_and_huge_bodies_are_refused_before_parsing(harness: Harness) -> None:
    h = harness
    deep = '{"lat": 21.5, "lon": 105.8, "category": "other", "text": ' + "[" * 200 + "]" * 200 + "}"
    resp = await h.client.post("/api/v1/public/reports", content=deep, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "nested" in resp.json()["detail"]
    huge = await h.client.post("/api/v1/public/reports", content=b'{"text": "' + b"x" * 2_000_000 + b'"}',
                               headers={"Content-Type": "application/json"})
    assert huge.status_code == 413


async def test_one_photo_per_report_judged_by_content(harness: Harness) -> None:
    h = harness
    ref = (await h.client.post("/api/v1/public/reports", json=report())).json()["reference"]
    wrong = await h.client.put(f"/api/v1/public/reports/{ref}/photo", content=b"MZ\x90\x00 not an image",
                               headers={"Content-Type": "image/jpeg"})
    assert wrong.status_code == 415
    ok = await h.client.put(f"/api/v1/public/reports/{ref}/photo", content=png_bytes(),
                            headers={"Content-Type": "image/png"})
    assert ok.status_code == 200, ok.text
    second = await h.client.put(f"/api/v1/public/reports/{ref}/photo", content=png_bytes(),
                                headers={"Content-Type": "image/png"})
    assert second.status_code == 409
    order = (await h.client.get("/api/v1/work-orders", headers=h.token("viewer"))).json()[0]
    detail = (await h.client.get(f"/api/v1/work-orders/{order['id']}", headers=h.token("viewer"))).json()
    assert [p["uploaded_by"] for p in detail["photos"]] == ["citizen"]


async def test_public_page_needs_no_token_and_keeps_the_page_csp(harness: Harness) -> None:
    resp = await harness.client.get("/report")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert '<script type="module" src="/static/report.js">' in resp.text


async def test_reports_on_postgresql(postgres_url: str) -> None:
    async with open_harness(postgres_url, report_per_addr=1) as h:
        await place_cabinets(h)
        first = await h.client.post("/api/v1/public/reports", json=report(lat=21.5920))
        assert first.status_code == 201
        assert (await h.client.post("/api/v1/public/reports", json=report())).status_code == 429
        order = (await h.client.get("/api/v1/work-orders?state=review&device=lc-south",
                                    headers=h.token("viewer"))).json()
        assert [o["reference"] for o in order] == [first.json()["reference"]]
