"""A running API on the fake bus and clock, with a user per role, for the API's unit tests."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.db import create_engine, migrate, session_factory
from api.models import User
from api.security import Role, hash_password, issue_token
from api.state import ApiState
from tests.api.fakes import (
    FakeBus,
    FakeClock,
    FakeTelemetry,
    cabinet_birth,
    cabinet_state,
    register_devices,
    signal_birth,
    signal_state,
)

PASSWORD = "correct-horse-battery"


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    bus: FakeBus
    clock: FakeClock
    db_url: str
    telemetry: FakeTelemetry

    @property
    def state(self) -> ApiState:
        api: ApiState = self.app.state.api
        return api

    async def login(self, role: Role | str) -> dict[str, str]:
        resp = await self.client.post("/api/v1/auth/token", data={"username": str(role), "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def token(self, role: Role | str) -> dict[str, str]:
        """Headers with an access token minted directly (the password flow has its own tests; argon2 is slow)."""
        role = Role(role)
        token, _ = issue_token(self.state.settings.secret_key, subject=role.value, role=role, typ="access",
                               now=self.clock.now(), ttl_s=self.state.settings.access_token_ttl_s)
        return {"Authorization": f"Bearer {token}"}

    async def register(self, devices: dict[str, str], site: str = "tn") -> None:
        """Import devices `{id: kind}` into the registry through the API (births create no device)."""
        manifest = {"format": "signalight.manifest/v1", "site": site, "devices": [
            {"id": d, "site": site, "kind": kind, "transport": "mqtt"} for d, kind in devices.items()]}
        resp = await self.client.post("/api/v1/devices/import", json=manifest, headers=self.token("engineer"))
        assert resp.status_code == 200, resp.text

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


#: The devices the harness's registry holds (publish_fleet's).
FLEET = {"tsc-001": "signal_controller", "lc-001": "lighting_cabinet"}


async def publish_fleet(bus: FakeBus, clock: FakeClock) -> None:
    now = clock.now()
    await bus.publish("sl/v1/tn/tsc-001/birth", signal_birth(now), retain=True)
    await bus.publish("sl/v1/tn/tsc-001/status", {"status": "online"}, retain=True)
    await bus.publish("sl/v1/tn/tsc-001/state", signal_state(now), retain=True)
    await bus.publish("sl/v1/tn/lc-001/birth", cabinet_birth(now), retain=True)
    await bus.publish("sl/v1/tn/lc-001/status", {"status": "online"}, retain=True)
    await bus.publish("sl/v1/tn/lc-001/state", cabinet_state(now), retain=True)


#: A SQLite database migrated to head once per test process; a new SQLite database of a harness starts as its copy.
_migrated_sqlite: list[Path] = []


async def _migrate_fresh(db_url: str) -> None:
    """Migrate `db_url` to head. A SQLite file that does not exist yet becomes a copy of one migrated to head in
    this process (the same bytes the migrations would write, at a fraction of their cost per test); anything else
    (PostgreSQL, an existing file) is migrated."""
    url = make_url(db_url)
    path = Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None
    if path is None or url.database == ":memory:" or path.exists():
        await migrate(db_url)
        return
    if not _migrated_sqlite:
        folder = Path(tempfile.mkdtemp(prefix="signalight-api-template-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "head.db"
        await migrate(str(url.set(database=str(template))))
        _migrated_sqlite.append(template)
    _copy_database(_migrated_sqlite[0], path)


def _copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):  # its engine is disposed: normally the main file only
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


@contextlib.asynccontextmanager
async def open_harness(db_url: str, **settings: Any) -> AsyncIterator[Harness]:
    """The API on `db_url` (SQLite or PostgreSQL) with a user per role (password PASSWORD), the fleet retained on
    the fake bus, and `settings` over the test defaults."""
    await _migrate_fresh(db_url)
    engine = create_engine(db_url)
    async with session_factory(engine)() as session, session.begin():
        for role in Role:  # one argon2 hash for all (it costs ~0.25 s on a busy machine)
            session.add(User(name=role.value, password_hash=_password_hash(), role=role.value, active=True,
                             created_at=datetime.now(UTC), failed_logins=0))
    await engine.dispose()
    await register_devices(db_url, FLEET)
    bus, clock = FakeBus(), FakeClock()
    await publish_fleet(bus, clock)  # retained before the API starts, as on a real broker
    api_settings = ApiSettings(**{"db_url": db_url, "environment": "development", "command_ttl_s": 30,
                                  "command_result_grace_s": 5, **settings})
    telemetry = FakeTelemetry()
    app = create_app(ApiDeps(settings=api_settings, bus=bus, telemetry=telemetry, clock=clock))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            h = Harness(app, client, bus, clock, db_url, telemetry)
            await h.settle()
            yield h


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as h:
        yield h


@pytest.fixture(autouse=True)
def _log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Emit every API log record: a bad `extra` key (one LogRecord reserves) fails only when the level is on."""
    caplog.set_level(logging.DEBUG, logger="api")
