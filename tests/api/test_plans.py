"""Plan routes: validate, versions (JSON and file import), refused plans never stored, get, export, diff, roles."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from api.models import AuditEntry, PlanVersion
from tests.api.conftest import Harness
from tests.api.plan_fixtures import (
    EXAMPLES,
    INTERSECTION,
    add_intersection,
    example_plan,
    invalid_plan,
    with_cycle,
)

BASE = f"/api/v1/intersections/{INTERSECTION}/plans"


async def test_validate_ok_and_refused(harness: Harness) -> None:
    headers = harness.token("viewer")
    ok = await harness.client.post("/api/v1/plans/validate", json=example_plan(), headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"ok": True, "warnings": []}
    bad = await harness.client.post("/api/v1/plans/validate", json=invalid_plan(), headers=headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    errors = bad.json()["errors"]
    assert {"yellow_min", "ring_sum", "schedule_ref"} <= {e["rule"] for e in errors}
    for err in errors:
        assert set(err) == {"rule", "path", "required", "found", "message"}
        assert err["message"]["vi"] and err["message"]["en"]


async def test_validate_a_t_junction_and_a_plan_with_warnings(harness: Harness) -> None:
    headers = harness.token("viewer")
    t_junction = json.loads((EXAMPLES / "tn-014-t-junction.json").read_text(encoding="utf-8"))
    ok = await harness.client.post("/api/v1/plans/validate", json=t_junction, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"ok": True, "warnings": []}
    t_junction["phases"][0]["passage_s"] = 0
    warned = await harness.client.post("/api/v1/plans/validate", json=t_junction, headers=headers)
    assert warned.status_code == 200, warned.text  # warnings never refuse
    assert [w["rule"] for w in warned.json()["warnings"]] == ["passage_zero"]


@pytest.mark.parametrize("body", ["null", "[]", "3", '"plan"', "{}", '{"phases": "x"}', "not json", ""])
async def test_validate_never_500(harness: Harness, body: str) -> None:
    resp = await harness.client.post("/api/v1/plans/validate", content=body.encode(),
                                     headers={**harness.token("viewer"), "Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"], "the problem names what is wrong"


async def test_versions_created_listed_and_read(harness: Harness) -> None:
    await add_intersection(harness)
    eng = harness.token("engineer")
    first = await harness.client.post(BASE, json=example_plan(), params={"comment": "khởi tạo"}, headers=eng)
    assert first.status_code == 201, first.text
    assert first.json()["version"] == 1 and first.json()["warnings"] == []
    second = await harness.client.post(BASE, json=with_cycle(example_plan(), 1, 130), headers=eng)
    assert second.json()["version"] == 2
    assert second.json()["crc32"] != first.json()["crc32"]
    listing = await harness.client.get(BASE, headers=harness.token("viewer"))
    assert listing.status_code == 200
    assert [v["version"] for v in listing.json()["versions"]] == [2, 1], "newest first"
    assert listing.json()["active_version"] is None
    one = await harness.client.get(f"{BASE}/1", headers=harness.token("viewer"))
    body = one.json()
    assert body["author"] == "engineer" and body["comment"] == "khởi tạo" and body["created_at"]
    assert body["plan"]["patterns"][0]["cycle_s"] == 120
    assert (await harness.client.get(f"{BASE}/9", headers=eng)).status_code == 404
    async with harness.state.sessions() as session:
        audited = (await session.execute(select(AuditEntry).where(AuditEntry.action == "plan.create"))).scalars()
        assert [a.detail["version"] for a in audited if a.detail] == [1, 2]


async def test_refused_plan_not_stored(harness: Harness) -> None:
    await add_intersection(harness)
    resp = await harness.client.post(BASE, json=invalid_plan(), headers=harness.token("engineer"))
    assert resp.status_code == 422
    assert "yellow_min" in {e["rule"] for e in resp.json()["errors"]}
    other = example_plan() | {"intersection_id": "tn-999"}
    wrong = await harness.client.post(BASE, json=other, headers=harness.token("engineer"))
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["rule"] == "intersection_id"
    async with harness.state.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(PlanVersion))).scalar_one() == 0


async def test_unknown_intersection_404(harness: Harness) -> None:
    resp = await harness.client.post(BASE, json=example_plan(), headers=harness.token("engineer"))
    assert resp.status_code == 404


async def test_export_then_import_as_file(harness: Harness) -> None:
    await add_intersection(harness)
    eng = harness.token("engineer")
    await harness.client.post(BASE, json=example_plan(), headers=eng)
    exported = await harness.client.get(f"{BASE}/1/export", headers=eng)
    assert exported.status_code == 200
    assert 'filename="tn-001-v1.json"' in exported.headers["content-disposition"]
    imported = await harness.client.post(BASE, files={"file": ("tn-001-v1.json", exported.content,
                                                              "application/json")}, headers=eng)
    assert imported.status_code == 201, imported.text
    assert imported.json()["version"] == 2
    assert imported.json()["crc32"] == (
        await harness.client.get(f"{BASE}/1", headers=eng)).json()["crc32"], "same plan, same CRC"
    broken = await harness.client.post(BASE, files={"file": ("x.json", b"{nope", "application/json")}, headers=eng)
    assert broken.status_code == 422
    refused = await harness.client.post(BASE, files={"file": ("bad.json", json.dumps(invalid_plan()).encode(),
                                                             "application/json")}, headers=eng)
    assert refused.status_code == 422


async def test_diff_between_versions(harness: Harness) -> None:
    await add_intersection(harness)
    eng = harness.token("engineer")
    await harness.client.post(BASE, json=example_plan(), headers=eng)
    await harness.client.post(BASE, json=with_cycle(example_plan(), 1, 130), headers=eng)
    resp = await harness.client.get(f"{BASE}/diff", params={"from": 1, "to": 2}, headers=harness.token("viewer"))
    assert resp.status_code == 200, resp.text
    paths = {c["path"]: c for c in resp.json()["changes"]}
    assert paths["patterns[pattern=1].cycle_s"]["old"] == 120 and paths["patterns[pattern=1].cycle_s"]["new"] == 130
    assert "patterns[pattern=1].splits_s.2" in paths
    assert all(c["text"] for c in resp.json()["changes"])
    missing = await harness.client.get(f"{BASE}/diff", params={"from": 1, "to": 7}, headers=eng)
    assert missing.status_code == 404


async def test_roles(harness: Harness) -> None:
    await add_intersection(harness)
    for role, status in (("viewer", 403), ("operator", 403), ("crew", 403), ("engineer", 201), ("admin", 201)):
        resp = await harness.client.post(BASE, json=example_plan(), headers=harness.token(role))
        assert resp.status_code == status, (role, resp.text)
    assert (await harness.client.get(BASE)).status_code == 401
    deploy = await harness.client.post(f"{BASE}/1/deploy", headers=harness.token("viewer"))
    assert deploy.status_code == 403
    deploy = await harness.client.post(f"{BASE}/1/deploy", headers=harness.token("operator"))
    assert deploy.status_code == 403
