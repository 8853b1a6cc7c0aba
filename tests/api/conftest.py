"""A running API on the fake bus and clock, with a user per role, for the API's unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.security import Role
from api.state import ApiState
from api.users import create_user
from tests.api.fakes import FakeBus, FakeClock, cabinet_birth, cabinet_state, signal_birth, signal_state

PASSWORD = "correct-horse-battery"


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    bus: FakeBus
    clock: FakeClock
    db_url: str

    @property
    def state(self) -> ApiState:
        api: ApiState = self.app.state.api
        return api

    async def login(self, role: Role | str) -> dict[str, str]:
        resp = await self.client.post("/api/v1/auth/token", data={"username": str(role), "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    async def settle(self) -> None:
        """Wait until the listener has handled everything published so far (DB writes run in threads)."""
        await eventually(lambda: self.state.listener.handled >= self.expected_received())

    def expected_received(self) -> int:
        return sum(1 for m in self.bus.published if "/cmd" not in m.topic or m.topic.endswith("/cmd/res"))


async def eventually(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `cond` until true; this waits for I/O (aiosqlite threads), never for a timer."""
    async with asyncio.timeout(timeout_s):
        while not cond():  # noqa: ASYNC110 - polls work done in aiosqlite threads, not a timer
            await asyncio.sleep(0.005)


async def publish_fleet(bus: FakeBus, clock: FakeClock) -> None:
    now = clock.now()
    await bus.publish("sl/v1/tn/tsc-001/birth", signal_birth(now), retain=True)
    await bus.publish("sl/v1/tn/tsc-001/status", {"status": "online"}, retain=True)
    await bus.publish("sl/v1/tn/tsc-001/state", signal_state(now), retain=True)
    await bus.publish("sl/v1/tn/lc-001/birth", cabinet_birth(now), retain=True)
    await bus.publish("sl/v1/tn/lc-001/status", {"status": "online"}, retain=True)
    await bus.publish("sl/v1/tn/lc-001/state", cabinet_state(now), retain=True)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    for role in Role:
        await create_user(db_url, role.value, PASSWORD, role.value)
    bus, clock = FakeBus(), FakeClock()
    await publish_fleet(bus, clock)  # retained before the API starts, as on a real broker
    settings = ApiSettings(db_url=db_url, environment="development", command_ttl_s=30, command_result_grace_s=5)
    app = create_app(ApiDeps(settings=settings, bus=bus, telemetry=None, clock=clock))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            h = Harness(app, client, bus, clock, db_url)
            await h.settle()
            yield h
