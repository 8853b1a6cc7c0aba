"""A whole API served by uvicorn in a background thread (its own event loop, lifespan on), on the fake bus and
clock, for tests that drive it with synchronous clients (schemathesis, benchmarks)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvicorn

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.db import create_engine, migrate, session_factory
from api.models import User
from api.security import Role, hash_password, issue_token
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

PASSWORD = "fuzz-password-123"


@dataclass
class Served:
    url: str
    settings: ApiSettings
    clock: FakeClock
    bus: FakeBus

    def headers(self, role: Role) -> dict[str, str]:
        token, _ = issue_token(self.settings.secret_key, subject=role.value, role=role, typ="access",
                               now=self.clock.now(), ttl_s=self.settings.access_token_ttl_s)
        return {"Authorization": f"Bearer {token}"}


async def _prepare(db_url: str, bus: FakeBus, clock: FakeClock, devices: int, gateway_down: bool) -> None:
    await migrate(db_url)
    engine = create_engine(db_url)
    password_hash = hash_password(PASSWORD)
    async with session_factory(engine)() as session, session.begin():
        for role in Role:
            session.add(User(name=role.value, password_hash=password_hash, role=role.value, active=True,
                             created_at=datetime.now(UTC), failed_logins=0))
    await engine.dispose()
    registry = {f"tsc-{n:03d}": "signal_controller" for n in range(devices)}
    registry.update({f"lc-{n:03d}": "lighting_cabinet" for n in range(devices)})
    if gateway_down:
        registry["tsc-gw"] = "signal_controller"
    await register_devices(db_url, registry)
    now = clock.now()
    for n in range(devices):
        sig, cab = f"tsc-{n:03d}", f"lc-{n:03d}"
        await bus.publish(f"sl/v1/tn/{sig}/birth", signal_birth(now), retain=True)
        await bus.publish(f"sl/v1/tn/{sig}/status", {"status": "online"}, retain=True)
        await bus.publish(f"sl/v1/tn/{sig}/state", signal_state(now), retain=True)
        await bus.publish(f"sl/v1/tn/{cab}/birth", cabinet_birth(now), retain=True)
        await bus.publish(f"sl/v1/tn/{cab}/status", {"status": "online"}, retain=True)
        await bus.publish(f"sl/v1/tn/{cab}/state", cabinet_state(now), retain=True)
    if gateway_down:  # a Modbus signal whose gateway died: its own retained status still says online
        await bus.publish("sl/v1/tn/tsc-gw/birth", signal_birth(now, gateway={"id": "edge01-a", "session": "s1"}),
                          retain=True)
        await bus.publish("sl/v1/tn/tsc-gw/status", {"status": "online"}, retain=True)
        await bus.publish("sl/v1/tn/tsc-gw/state", signal_state(now), retain=True)
        await bus.publish("sl/v1/_gateway/edge01-a/presence", {"status": "offline", "session": "s1"}, retain=True)


@contextmanager
def serve_api(db_url: str, *, devices: int = 1, gateway_down: bool = False,
              settings: dict[str, Any] | None = None) -> Iterator[Served]:
    """Start the API on a free loopback port; stop it on exit. Devices tsc-000.., lc-000.. are retained; with
    `gateway_down`, also tsc-gw behind the gateway edge01-a, whose presence is offline. `settings` are ApiSettings
    fields over the defaults (e.g. map_tile_url)."""
    # Start at the real time: a browser-side client (the web UI in tests/browser) computes `until` from its own clock.
    bus, clock = FakeBus(), FakeClock(start=datetime.now(UTC))
    # its own thread: the caller may already run an event loop (Playwright's sync API does)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _prepare(db_url, bus, clock, devices, gateway_down)).result()
    api_settings = ApiSettings(**{"db_url": db_url, "environment": "development", "login_rate_per_min": 10_000,
                                  **(settings or {})})
    app = create_app(ApiDeps(settings=api_settings, bus=bus, telemetry=FakeTelemetry(), clock=clock))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("API server did not start")
        time.sleep(0.01)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", api_settings, clock, bus)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
