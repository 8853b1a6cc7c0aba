"""Refresh rotation is atomic: many requests racing with one refresh token get exactly one new pair, and the reuse
revokes the whole login (the winner's new refresh token included), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.api.conftest import PASSWORD, Harness, open_harness

RACERS = 10


async def _race(h: Harness) -> None:
    login = await h.client.post("/api/v1/auth/token", data={"username": "operator", "password": PASSWORD})
    refresh = login.json()["refresh_token"]
    answers = await asyncio.gather(*[h.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
                                     for _ in range(RACERS)])
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [401] * (RACERS - 1), [a.text for a in answers]
    [winner] = [a for a in answers if a.status_code == 200]
    assert all("already used" in a.json()["detail"] or "revoked" in a.json()["detail"]
               for a in answers if a.status_code == 401)
    after = await h.client.post("/api/v1/auth/refresh", json={"refresh_token": winner.json()["refresh_token"]})
    assert after.status_code == 401 and "revoked" in after.json()["detail"], after.text


async def test_concurrent_reuse_on_sqlite(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as h:
        await _race(h)


@pytest.mark.integration
async def test_concurrent_reuse_on_postgresql(postgres_url: str) -> None:
    async with open_harness(postgres_url) as h:
        await _race(h)
