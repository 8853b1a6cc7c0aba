"""An API on a telemetry store with two intersections, for the event and measures route tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.db import create_engine, migrate, session_factory
from api.models import Intersection
from api.security import Role, issue_token
from api.users import create_user
from tests.api.fakes import FakeBus, FakeClock

#: The key these tests' API signs and checks tokens with (each ApiSettings() makes a random one otherwise).
TEST_SECRET = "events-route-tests-" + "k" * 40


@asynccontextmanager
async def events_api(tmp_path: Path, store: Any, clock: FakeClock,
                     controller: str = "tsc-001") -> AsyncIterator[httpx.AsyncClient]:
    """An API on `store` with intersection `int-1` run by `controller` and `int-2` without one, called as a
    viewer; users `v` (viewer) and `e` (engineer) exist, tokens are signed with `TEST_SECRET`."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    await migrate(db_url)
    engine = create_engine(db_url)
    now = clock.now()
    async with session_factory(engine)() as session, session.begin():
        session.add(Intersection(id="int-1", site="tn", name="Main & 1st", controller_id=controller, approaches=[],
                                 created_at=now, updated_at=now))
        session.add(Intersection(id="int-2", site="tn", name="Main & 2nd", controller_id=None, approaches=[],
                                 created_at=now, updated_at=now))
    await engine.dispose()
    await create_user(db_url, "v", "viewer-password", "viewer")  # a token's subject must be a user
    await create_user(db_url, "e", "engineer-password", "engineer")
    app = create_app(ApiDeps(ApiSettings(db_url=db_url, secret_key=TEST_SECRET), FakeBus(), store, clock))
    token, _ = issue_token(TEST_SECRET, subject="v", role=Role.VIEWER, typ="access", now=now, ttl_s=600)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api",
            headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
