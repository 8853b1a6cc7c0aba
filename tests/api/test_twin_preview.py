"""Plan previews: the candidate against the running plan in a worker process (fake runners of our interface; the
real SUMO runner has its own end-to-end test), the job's life as rows, the queue's bound, 501 and 422."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from api.config import ApiSettings
from api.db import create_engine, session_factory
from api.hub import EventHub
from api.models import AuditEntry, PreviewJob
from api.twin_jobs import PreviewJobs
from tests.api.conftest import Harness, open_harness
from tests.api.fakes import FakeClock
from tests.api.plan_fixtures import BASE_URL, INTERSECTION, add_intersection, example_plan, invalid_plan, with_cycle
from tests.api.twin_setup import geometry, put_detectors_and_geometry

BODY = {"start": "2026-12-02T07:10:00", "duration_s": 600, "seeds": [1, 2]}


async def _setup(h: Harness, *, versions: int = 2, geometry: bool = True) -> None:
    await add_intersection(h)
    if geometry:
        await put_detectors_and_geometry(h)
    for v in range(versions):
        r = await h.client.post(BASE_URL, json=with_cycle(example_plan(), 1, 120 - 20 * v),
                                headers=h.token("engineer"))
        assert r.status_code == 201, r.text


async def _job(h: Harness, job_id: str) -> dict[str, Any]:
    r = await h.client.get(f"/api/v1/previews/{job_id}", headers=h.token("viewer"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _until_finished(h: Harness, job_id: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def finished() -> bool:
        seen.append(await _job(h, job_id))
        return seen[-1]["state"] not in ("queued", "running")

    async def poll() -> None:
        while not await finished():  # noqa: ASYNC110 - waits for a worker process, not a timer
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), 60)
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress), progress
    return seen[-1]


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
                            twin_runner="tests.api.twin_fakes:run_figures") as h:
        yield h


async def test_preview_compares_candidate_with_previous_version_in_a_worker(fake: Harness) -> None:
    h = fake
    await _setup(h)
    r = await h.client.post(f"{BASE_URL}/2/preview", json=BODY, headers=h.token("engineer"))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["baseline"] == "previous" and job["baseline_version"] == 1
    assert job["demand_sources"] == {INTERSECTION: "default"}
    request = job["request"]
    assert request["start_local"] == "07:00" and request["seeds"] == [1, 2] and request["duration_s"] == 600
    inter = request["intersections"][0]
    assert sorted(inter["plans"]) == ["candidate", "running"]
    assert inter["plans"]["candidate"]["patterns"][0]["cycle_s"] == 100
    assert inter["plans"]["running"]["patterns"][0]["cycle_s"] == 120
    assert inter["patterns"] == {"candidate": 1, "running": 1}  # Wednesday 07:00: day plan 1 runs pattern 1
    done = await _until_finished(h, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0, done
    by_variant = {v["variant"]: v["intersections"][0] for v in done["result"]["variants"]}
    cand = {(m["leg"], m["movement"]): m["delay_s"] for m in by_variant["candidate"]["movements"]}
    run = {(m["leg"], m["movement"]): m["delay_s"] for m in by_variant["running"]["movements"]}
    assert cand.keys() == run.keys() and len(cand) == 12
    assert all(run[k]["mean"] - cand[k]["mean"] == pytest.approx(5.0) for k in cand)  # (120 − 100) / 4
    assert all(c["high"] - c["low"] == pytest.approx(1) and c["n"] == 2 for c in cand.values())
    listed = (await h.client.get(f"/api/v1/intersections/{INTERSECTION}/previews", params={"version": 2},
                                 headers=h.token("viewer"))).json()
    assert [j["id"] for j in listed] == [job["id"]]
    async with h.state.sessions() as session:
        audits = list((await session.execute(select(AuditEntry).where(AuditEntry.action == "plan.preview"))).scalars())
    assert [(a.actor, a.detail and a.detail["job"]) for a in audits] == [("engineer", job["id"])]


async def test_draft_preview_runs_the_unsaved_plan_or_refuses_it_like_a_save(fake: Harness) -> None:
    """The editor previews the plan it holds: same validator as a save (a refusal names the rule and place, queues
    nothing), same role, compared with the newest saved version when nothing is deployed."""
    h = fake
    await _setup(h, versions=2)
    url, eng = f"{BASE_URL}/draft/preview", h.token("engineer")
    refused = invalid_plan()
    r = await h.client.post(url, json={**BODY, "plan": refused}, headers=eng)
    assert r.status_code == 422, r.text
    problem = r.json()
    saved = await h.client.post(BASE_URL, json=refused, headers=eng)  # what a save says of the same plan
    assert saved.status_code == 422
    assert problem["errors"] == saved.json()["errors"] and problem["errors"], problem
    first = problem["errors"][0]
    assert f"{first['rule']} at {first['path']}" in problem["detail"] and "nothing queued" in problem["detail"]
    r = await h.client.post(url, json={**BODY, "plan": {**example_plan(), "intersection_id": "tn-009"}}, headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "intersection_id", r.text
    assert (await h.client.post(url, json=BODY, headers=eng)).status_code == 422  # no plan at all
    assert (await h.client.post(url, json={**BODY, "plan": example_plan()},
                                headers=h.token("operator"))).status_code == 403
    async with h.state.sessions() as session:
        assert not list((await session.execute(select(PreviewJob))).scalars())  # nothing queued by any refusal
    draft = with_cycle(example_plan(), 1, 110)
    r = await h.client.post(url, json={**BODY, "plan": draft}, headers=eng)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["version"] is None and job["baseline"] == "previous" and job["baseline_version"] == 2, job
    plans = job["request"]["intersections"][0]["plans"]
    assert plans["candidate"]["patterns"][0]["cycle_s"] == 110 and plans["running"]["patterns"][0]["cycle_s"] == 100
    done = await _until_finished(h, job["id"])
    assert done["state"] == "done", done
    async with h.state.sessions() as session:
        audit = (await session.execute(select(AuditEntry).where(AuditEntry.action == "plan.preview"))).scalar_one()
    assert audit.detail is not None and audit.detail["draft"] is True and audit.detail["job"] == job["id"]


async def test_refusals_roles_and_corridor_naming_missing_geometry(fake: Harness) -> None:
    h = fake
    await _setup(h, versions=1, geometry=False)
    eng = h.token("engineer")
    r = await h.client.post(f"{BASE_URL}/1/preview", json=BODY, headers=eng)
    assert r.status_code == 422 and "no twin geometry for tn-001" in r.json()["detail"]
    await put_detectors_and_geometry(h)
    assert (await h.client.post(f"{BASE_URL}/1/preview", json=BODY, headers=h.token("operator"))).status_code == 403
    assert (await h.client.post(f"{BASE_URL}/9/preview", json=BODY, headers=eng)).status_code == 404
    for bad in ({"seeds": []}, {"duration_s": 10}, {"start": "noon"}, {"seeds": [1], "extra": 1}):
        r = await h.client.post(f"{BASE_URL}/1/preview", json=bad, headers=eng)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["path"].startswith("body"), r.text
    r = await h.client.post(f"{BASE_URL}/1/preview", headers=eng)  # no body: defaults, runs alone
    assert r.status_code == 202 and r.json()["baseline"] == "none", r.text
    assert sorted(r.json()["request"]["intersections"][0]["plans"]) == ["candidate"]
    await _until_finished(h, r.json()["id"])

    corridor = {"intersections": [{"intersection_id": INTERSECTION, "version": 1},
                                  {"intersection_id": "tn-002", "version": 1}],
                "links": [{"from_id": INTERSECTION, "from_leg": "E", "to_id": "tn-002", "to_leg": "W",
                           "distance_m": 300}]}
    r = await h.client.post("/api/v1/corridors/preview", json=corridor, headers=eng)
    assert r.status_code == 404 and "tn-002" in r.text
    async with h.state.sessions() as session:
        from api.models import Intersection
        now = h.clock.now()
        session.add(Intersection(id="tn-002", site="tn", name="B", approaches=[], created_at=now, updated_at=now))
        await session.commit()
    r = await h.client.post("/api/v1/corridors/preview", json=corridor, headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["intersection_id"] == "tn-002", r.text
    bare = geometry()
    for a in bare["approaches"]:
        a["detectors"] = []
    assert (await h.client.put("/api/v1/intersections/tn-002/geometry", json=bare, headers=eng)).status_code == 200
    r = await h.client.post("/api/v1/corridors/preview", json={**corridor, "links": [
        {**corridor["links"][0], "from_leg": "X"}]}, headers=eng)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.links.0" and "no leg X" in r.text
    r = await h.client.post("/api/v1/plans".replace("plans", "intersections/tn-002/plans"),
                            json={**example_plan(), "intersection_id": "tn-002"}, headers=eng)
    assert r.status_code == 201, r.text
    r = await h.client.post("/api/v1/corridors/preview", json={**corridor, **BODY}, headers=eng)
    assert r.status_code == 202, r.text
    request = r.json()["request"]
    assert [i["intersection_id"] for i in request["intersections"]] == [INTERSECTION, "tn-002"]
    assert request["links"][0]["distance_m"] == 300
    done = await _until_finished(h, r.json()["id"])
    assert done["state"] == "done" and len(done["result"]["variants"][0]["intersections"]) == 2


@pytest.mark.parametrize(("runner", "status", "error"), [
    ("tests.api.no_such_runner:run", 501, None),
    ("tests.api.twin_fakes:run_unavailable", 202, "twin_unavailable"),
    ("tests.api.twin_fakes:run_error", 202, "twin_error")])
async def test_twin_absent_or_failing(tmp_path: Path, runner: str, status: int, error: str | None) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", twin_runner=runner) as h:
        await _setup(h, versions=1)
        r = await h.client.post(f"{BASE_URL}/1/preview", json=BODY, headers=h.token("engineer"))
        assert r.status_code == status, r.text
        if status == 501:
            assert "pip install 'signalight[twin]'" in r.json()["detail"]
            return
        done = await _until_finished(h, r.json()["id"])
        assert done["state"] == "failed" and done["error"] == error and done["result"] is None
        assert ("signalight[twin]" if error == "twin_unavailable" else "netconvert refused") in done["message"]


async def test_queue_bound_and_shutdown_cancels(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    async with open_harness(url, twin_runner="tests.api.twin_fakes:run_blocking", twin_queue=1) as h:
        await _setup(h, versions=1)
        eng = h.token("engineer")
        first = (await h.client.post(f"{BASE_URL}/1/preview", json=BODY, headers=eng)).json()

        async def running() -> bool:
            job = await _job(h, first["id"])
            return job["state"] == "running" and job["progress"] == 0.25
        async with asyncio.timeout(60):
            while not await running():  # noqa: ASYNC110 - waits for the worker process to start
                await asyncio.sleep(0.05)
        second = await h.client.post(f"{BASE_URL}/1/preview", json=BODY, headers=eng)
        assert second.status_code == 202
        third = await h.client.post(f"{BASE_URL}/1/preview", json=BODY, headers=eng)
        assert third.status_code == 503 and third.headers["Retry-After"] == "60", third.text
        procs = list(h.app.state.previews._procs.values())
        assert len(procs) == 1 and procs[0].is_alive()
    assert not procs[0].is_alive()  # killed at shutdown
    engine = create_engine(url)  # the next API process on this DB marks what was left queued as interrupted
    try:
        sessions = session_factory(engine)
        await PreviewJobs(sessions, EventHub(), FakeClock(), ApiSettings(db_url=url), "tn").recover()
        async with sessions() as session:
            rows = {r.id: r for r in (await session.execute(select(PreviewJob))).scalars()}
    finally:
        await engine.dispose()
    assert len(rows) == 2  # the refused one was never stored
    assert rows[first["id"]].state == "cancelled" and rows[first["id"]].error == "shutdown"
    assert rows[second.json()["id"]].state == "failed" and rows[second.json()["id"]].error == "interrupted"
