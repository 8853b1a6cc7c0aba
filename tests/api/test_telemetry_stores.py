"""The telemetry route on the real stores: the embedded one (SQLite file) and InfluxDB (v1 HTTP API)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import ApiDeps, create_app
from api.config import ApiSettings
from api.db import migrate
from api.security import Role, issue_token
from api.users import create_user
from controllers.devices import DeviceKind
from controllers.telemetry import Sample
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from tests.api.conftest import eventually
from tests.api.fakes import FakeBus, FakeClock, cabinet_birth, register_devices
from tests.servers import InfluxDB


async def _query_through_api(tmp_path: Path, store: Any) -> None:
    clock = FakeClock()
    t0 = clock.now()
    await store.write([Sample(DeviceKind.LIGHTING_CABINET, "tn", "lc-001", t0 + timedelta(seconds=10 * i), i,
                              {"energy_kwh": 100.0 + i, "circuit1_level_pct": 50.0}) for i in range(12)])
    bus = FakeBus()
    await bus.publish("sl/v1/tn/lc-001/birth", cabinet_birth(t0), retain=True)
    settings = ApiSettings(db_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    await migrate(settings.db_url)
    await register_devices(settings.db_url, {"lc-001": "lighting_cabinet"})
    await create_user(settings.db_url, "v", "viewer-password", "viewer")  # a token's subject must be a user
    app = create_app(ApiDeps(settings, bus, store, clock))
    token, _ = issue_token(settings.secret_key, subject="v", role=Role.VIEWER, typ="access", now=t0, ttl_s=600)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api",
            headers={"Authorization": f"Bearer {token}"}) as client:
        await eventually(lambda: app.state.api.listener.handled >= 1)
        params = {"field": "energy_kwh", "start": "2026-11-23T07:00:00Z", "end": "2026-11-23T07:02:00Z"}
        raw = await client.get("/api/v1/devices/lc-001/telemetry", params=params)
        assert raw.status_code == 200, raw.text
        [series] = raw.json()["series"]
        assert [v for _, v in series["points"]] == [100.0 + i for i in range(12)]
        agg = await client.get("/api/v1/devices/lc-001/telemetry",
                               params={**params, "interval_s": "60", "aggregate": "max"})
        assert agg.status_code == 200, agg.text
        [series] = agg.json()["series"]
        assert [v for _, v in series["points"]] == [105.0, 111.0]


async def test_embedded_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "telemetry.sqlite")
    try:
        await _query_through_api(tmp_path, store)
    finally:
        await store.aclose()


@pytest.mark.integration
async def test_influxdb(tmp_path: Path, influxdb: InfluxDB) -> None:
    store = InfluxStore(influxdb.url, influxdb.database)
    try:
        await _query_through_api(tmp_path, store)
    finally:
        await store.aclose()
