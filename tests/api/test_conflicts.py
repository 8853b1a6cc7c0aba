"""Who may acknowledge what, duplicate creates, concurrent deploys and retried commands: each answers with a clear
4xx (403, 409, or the first command again), never a 500, never an overwrite, never a second execution."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.models import Alarm, Deployment, User
from tests.api.conftest import Harness, open_harness
from tests.api.fakes import rfc3339
from tests.api.plan_fixtures import BASE_URL, add_intersection, example_plan

PARALLEL = 6


async def _alarm(h: Harness, device_id: str, kind: str) -> int:
    async with h.state.sessions() as session:
        row = Alarm(device_id=device_id, site="tn", kind=kind, severity="major", active=True,
                    raised_at=h.clock.now())
        session.add(row)
        await session.commit()
        return row.id


async def test_crew_acknowledges_lighting_alarms_only(harness: Harness) -> None:
    signal = await _alarm(harness, "tsc-001", "conflict_flash")
    lighting = await _alarm(harness, "lc-001", "lamp_failure")
    unknown = await _alarm(harness, "dev-gone", "comm_loss")
    crew = harness.token("crew")
    refused = await harness.client.post(f"/api/v1/alarms/{signal}/ack", headers=crew)
    assert refused.status_code == 403 and "lighting alarms only" in refused.json()["detail"], refused.text
    assert (await harness.client.post(f"/api/v1/alarms/{unknown}/ack", headers=crew)).status_code == 403
    assert (await harness.client.post(f"/api/v1/alarms/{lighting}/ack", headers=crew)).status_code == 200
    ok = await harness.client.post(f"/api/v1/alarms/{signal}/ack", headers=harness.token("operator"))
    assert ok.status_code == 200 and ok.json()["acked_by"] == "operator"


def _statuses(answers: list[httpx.Response]) -> list[int]:
    return sorted(a.status_code for a in answers)


CREATES = [
    ("/api/v1/users", {"name": "lan", "password": "first-password-1", "role": "crew"}),
    ("/api/v1/tokens", {"name": "rig-a", "role": "viewer"}),
    ("/api/v1/intersections", {"id": "tn-900", "site": "tn", "name": "Ngã tư mới"}),
    ("/api/v1/sites", {"id": "hn", "name": "Hà Nội"}),
]


async def _duplicates(h: Harness) -> None:
    admin = h.token("admin")
    for path, body in CREATES:
        answers = await asyncio.gather(*[h.client.post(path, headers=admin, json=body) for _ in range(PARALLEL)])
        assert _statuses(answers) == [201] + [409] * (PARALLEL - 1), (path, [a.text for a in answers])
        again = await h.client.post(path, headers=admin, json=body)
        assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


async def test_concurrent_duplicate_creates_are_409_on_sqlite(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as h:
        await _duplicates(h)


@pytest.mark.integration
async def test_concurrent_duplicate_creates_are_409_on_postgresql(postgres_url: str) -> None:
    async with open_harness(postgres_url) as h:
        await _duplicates(h)


async def test_a_duplicate_user_is_never_overwritten(harness: Harness) -> None:
    admin = harness.token("admin")
    resp = await harness.client.post("/api/v1/users", headers=admin,
                                     json={"name": "engineer", "password": "takeover-password", "role": "admin"})
    assert resp.status_code == 409
    async with harness.state.sessions() as session:
        user = (await session.execute(select(User).where(User.name == "engineer"))).scalar_one()
    assert (user.role, user.token_version) == ("engineer", 0)
    login = await harness.client.post("/api/v1/auth/token",
                                      data={"username": "engineer", "password": "takeover-password"})
    assert login.status_code == 401


async def _concurrent_deploys(h: Harness) -> None:
    await add_intersection(h)
    engineer = h.token("engineer")
    assert (await h.client.post(BASE_URL, json=example_plan(), headers=engineer)).status_code == 201
    answers = await asyncio.gather(*[h.client.post(f"{BASE_URL}/1/deploy", headers=engineer)
                                     for _ in range(PARALLEL)])
    assert _statuses(answers) == [202] + [409] * (PARALLEL - 1), [a.text for a in answers]
    assert len([c for c in h.bus.sent_to("cmd") if c["name"] == "deploy_plan"]) == 1
    async with h.state.sessions() as session:
        assert len(list((await session.execute(select(Deployment.id))).scalars())) == 1


async def test_a_second_deploy_in_flight_is_409_on_sqlite(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as h:
        await _concurrent_deploys(h)


@pytest.mark.integration
async def test_a_second_deploy_in_flight_is_409_on_postgresql(postgres_url: str) -> None:
    async with open_harness(postgres_url) as h:
        await _concurrent_deploys(h)


def _flash(h: Harness, minutes: int = 30) -> dict[str, Any]:
    return {"name": "flash", "args": {"until": rfc3339(h.clock.now() + timedelta(minutes=minutes))}}


async def test_a_retried_command_with_its_idempotency_key_runs_once(harness: Harness) -> None:
    operator = harness.token("operator")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    body = _flash(harness)
    first = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=operator | key, json=body)
    assert first.status_code == 202, first.text
    retry = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=operator | key, json=body)
    assert retry.status_code == 202 and retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert [c["id"] for c in harness.bus.sent_to("cmd")] == [first.json()["id"]]
    reused = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=operator | key,
                                       json=_flash(harness, 40))
    assert reused.status_code == 422 and reused.json()["errors"][0]["path"] == "header.Idempotency-Key"
    # Keys are per issuer: another user's identical key is another command.
    other = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=harness.token("engineer") | key,
                                      json=body)
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]


async def test_concurrent_retries_with_one_key_send_one_command(harness: Harness) -> None:
    operator = harness.token("operator") | {"Idempotency-Key": "phone-queue-0001"}
    body = _flash(harness)
    answers = await asyncio.gather(*[harness.client.post("/api/v1/devices/tsc-001/commands", headers=operator,
                                                         json=body) for _ in range(PARALLEL)])
    assert _statuses(answers) == [202] * PARALLEL, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(harness.bus.sent_to("cmd")) == 1


async def test_a_bad_idempotency_key_is_422(harness: Harness) -> None:
    resp = await harness.client.post("/api/v1/devices/tsc-001/commands", json=_flash(harness),
                                     headers=harness.token("operator") | {"Idempotency-Key": "has space"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["path"].startswith("header.")
