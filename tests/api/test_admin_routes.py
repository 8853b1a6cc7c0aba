"""Users, API tokens, intersections, audit, telemetry, limits, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import ValidationError

from api.config import ApiSettings
from tests.api.conftest import PASSWORD, Harness


async def test_users_admin_flow(harness: Harness) -> None:
    admin = harness.token("admin")
    created = await harness.client.post("/api/v1/users", headers=admin,
                                        json={"name": "lan", "password": "mật-khẩu-dài", "role": "crew"})
    assert created.status_code == 201 and created.json()["role"] == "crew"
    dup = await harness.client.post("/api/v1/users", headers=admin,
                                    json={"name": "lan", "password": "another-long-one", "role": "crew"})
    assert dup.status_code == 409
    short = await harness.client.post("/api/v1/users", headers=admin,
                                      json={"name": "minh", "password": "short", "role": "crew"})
    assert short.status_code == 422 and short.json()["errors"][0]["path"] == "body.password"
    login = await harness.client.post("/api/v1/auth/token", data={"username": "lan", "password": "mật-khẩu-dài"})
    assert login.status_code == 200 and login.json()["role"] == "crew"
    disabled = await harness.client.patch("/api/v1/users/lan", headers=admin, json={"active": False})
    assert disabled.json()["active"] is False
    refused = await harness.client.post("/api/v1/auth/token", data={"username": "lan", "password": "mật-khẩu-dài"})
    assert refused.status_code == 401
    self_demote = await harness.client.patch("/api/v1/users/admin", headers=admin, json={"role": "viewer"})
    assert self_demote.status_code == 409
    audit = (await harness.client.get("/api/v1/audit", params={"action": "user."}, headers=admin)).json()
    assert [a["action"] for a in audit] == ["user.update", "user.create"]
    assert "password" not in str(audit[1]["detail"]) or audit[1]["detail"] == {"role": "crew"}


async def test_api_token_for_machines(harness: Harness) -> None:
    admin = harness.token("admin")
    created = await harness.client.post("/api/v1/tokens", headers=admin, json={"name": "hil-rig", "role": "operator"})
    assert created.status_code == 201
    token = created.json()["token"]
    rig = {"Authorization": f"Bearer {token}"}
    assert (await harness.client.get("/api/v1/devices", headers=rig)).status_code == 200
    cmd = await harness.client.post("/api/v1/devices/tsc-001/commands", headers=rig, json={"name": "release"})
    assert cmd.status_code == 202
    assert harness.bus.sent_to("cmd")[0]["issued_by"] == "token:hil-rig"
    assert (await harness.client.get("/api/v1/users", headers=rig)).status_code == 403
    listed = (await harness.client.get("/api/v1/tokens", headers=admin)).json()
    assert listed[0]["prefix"] == token[:8] and "token" not in listed[0] and listed[0]["last_used_at"]
    await harness.client.delete(f"/api/v1/tokens/{listed[0]['id']}", headers=admin)
    assert (await harness.client.get("/api/v1/devices", headers=rig)).status_code == 401
    expiring = (await harness.client.post("/api/v1/tokens", headers=admin,
                                          json={"name": "short", "role": "viewer", "ttl_days": 1})).json()["token"]
    await harness.clock.advance(86400 + 1)
    resp = await harness.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {expiring}"})
    assert resp.status_code == 401


async def test_intersections_and_sites(harness: Harness) -> None:
    engineer, viewer = harness.token("engineer"), harness.token("viewer")
    site = await harness.client.post("/api/v1/sites", headers=engineer,
                                     json={"id": "tn", "name": "Thái Nguyên", "lat": 21.59, "lon": 105.85})
    assert site.status_code == 201
    bad_tz = await harness.client.post("/api/v1/sites", headers=engineer,
                                       json={"id": "x", "name": "X", "timezone": "Mars/Olympus"})
    assert bad_tz.status_code == 422 and bad_tz.json()["errors"][0]["path"] == "body.timezone"
    body = {"id": "tn-001", "site": "tn", "name": "Ngã tư Đồng Quang", "lat": 21.594, "lon": 105.848,
            "controller_id": "tsc-001",
            "approaches": [{"name": "Bắc", "bearing_deg": 180, "speed_kph": 50, "lanes": 2, "phases": [2]}]}
    created = await harness.client.post("/api/v1/intersections", headers=engineer, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["controller"]["status"] == "online"
    assert (await harness.client.post("/api/v1/intersections", headers=engineer, json=body)).status_code == 409
    bad = await harness.client.post("/api/v1/intersections", headers=engineer,
                                    json={**body, "id": "tn-002", "approaches": [{"name": "N", "bearing_deg": 400}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "body.approaches.0.bearing_deg"
    patched = await harness.client.patch("/api/v1/intersections/tn-001", headers=engineer,
                                         json={"name": "Ngã tư Đồng Quang (mới)"})
    assert patched.json()["name"] == "Ngã tư Đồng Quang (mới)" and patched.json()["lat"] == 21.594
    listed = (await harness.client.get("/api/v1/intersections", params={"site": "tn"}, headers=viewer)).json()
    assert [i["id"] for i in listed] == ["tn-001"]


async def test_telemetry_route(harness: Harness) -> None:
    viewer = harness.token("viewer")
    t0 = harness.clock.now()
    harness.telemetry.samples[("lc-001", "energy_kwh")] = [(t0 + timedelta(minutes=m), 10.0 + m) for m in range(3)]
    params = {"field": "energy_kwh", "start": "2026-11-23T06:00:00Z", "end": "2026-11-23T08:00:00Z",
              "interval_s": "60", "aggregate": "max"}
    resp = await harness.client.get("/api/v1/devices/lc-001/telemetry", params=params, headers=viewer)
    assert resp.status_code == 200, resp.text
    [series] = resp.json()["series"]
    assert series["unit"] == "kWh" and series["points"][0] == ["2026-11-23T07:00:00.000Z", 10.0]
    call = harness.telemetry.calls[-1]
    assert (call["kind"], call["interval_s"], call["aggregate"]) == ("lighting_cabinet", 60.0, "max")
    backwards = await harness.client.get("/api/v1/devices/lc-001/telemetry", headers=viewer,
                                         params={**params, "start": "2026-11-23T09:00:00Z"})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["path"] == "query.end"
    too_many = await harness.client.get("/api/v1/devices/lc-001/telemetry", headers=viewer,
                                        params={**params, "start": "2020-01-01T00:00:00Z", "interval_s": "1"})
    assert too_many.status_code == 422
    naive = await harness.client.get("/api/v1/devices/lc-001/telemetry", headers=viewer,
                                     params={**params, "start": "2026-11-23T06:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["path"] == "query.start"
    harness.telemetry.fail = True
    down = await harness.client.get("/api/v1/devices/lc-001/telemetry", params=params, headers=viewer)
    assert down.status_code == 503 and "Retry-After" in down.headers
    unknown = await harness.client.get("/api/v1/devices/nope/telemetry", params=params, headers=viewer)
    assert unknown.status_code == 404


async def test_body_limit_413(harness: Harness) -> None:
    admin = harness.token("admin")
    big = {"name": "x", "role": "viewer", "padding": "x" * 2_000_000}
    resp = await harness.client.post("/api/v1/tokens", headers=admin, json=big)
    assert resp.status_code == 413 and resp.headers["content-type"].startswith("application/problem+json")


async def test_chunked_body_limit_413(harness: Harness) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "rig", "role": "viewer", "pad": "'
        for _ in range(30):
            yield b"x" * 50_000
        yield b'"}'

    resp = await harness.client.post("/api/v1/tokens", content=chunks(),
                                     headers={**harness.token("admin"), "Content-Type": "application/json"})
    assert resp.status_code == 413


async def test_null_for_a_required_field_is_422(harness: Harness) -> None:
    engineer = harness.token("engineer")
    await harness.client.post("/api/v1/intersections", headers=engineer, json={"id": "i1", "site": "tn", "name": "A"})
    resp = await harness.client.patch("/api/v1/intersections/i1", headers=engineer, json={"name": None})
    assert resp.status_code == 422 and resp.json()["errors"][0]["path"] == "body.name"


async def test_login_lockout_and_rate_limit(harness: Harness) -> None:
    for _ in range(harness.state.settings.login_max_failures):
        resp = await harness.client.post("/api/v1/auth/token", data={"username": "viewer", "password": "nope"})
        assert resp.status_code == 401
    locked = await harness.client.post("/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    await harness.clock.advance(harness.state.settings.login_lockout_s + 1)
    assert (await harness.client.post("/api/v1/auth/token",
                                      data={"username": "viewer", "password": PASSWORD})).status_code == 200
    limiter = harness.state.login_limiter
    for _ in range(limiter.limit):
        limiter.hit("127.0.0.1", harness.clock.monotonic())
    limited = await harness.client.post("/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD})
    assert limited.status_code == 429 and "address" in limited.json()["detail"]


async def test_refresh_token(harness: Harness) -> None:
    pair = (await harness.client.post("/api/v1/auth/token", data={"username": "operator", "password": PASSWORD}))
    refresh = pair.json()["refresh_token"]
    await harness.clock.advance(harness.state.settings.access_token_ttl_s + 1)
    new = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert new.status_code == 200
    ok = await harness.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {new.json()['access_token']}"})
    assert ok.status_code == 200
    as_access = await harness.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {refresh}"})
    assert as_access.status_code == 401, "a refresh token is not an access token"
    wrong_way = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": new.json()["access_token"]})
    assert wrong_way.status_code == 401
    # Rotation: the first refresh token is used up; presenting it again revokes the whole login.
    reuse = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
    after = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": new.json()["refresh_token"]})
    assert after.status_code == 401 and "revoked" in after.json()["detail"]


async def test_logout_revokes_refresh(harness: Harness) -> None:
    pair = (await harness.client.post("/api/v1/auth/token",
                                      data={"username": "viewer", "password": PASSWORD})).json()
    assert (await harness.client.post("/api/v1/auth/logout",
                                      json={"refresh_token": pair["refresh_token"]})).status_code == 204
    resp = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert resp.status_code == 401


async def test_readyz_and_metrics(harness: Harness) -> None:
    ready = await harness.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"db": "ok", "bus": "ok"}
    await harness.client.get("/api/v1/devices", headers=harness.token("viewer"))
    text = (await harness.client.get("/metrics")).text
    assert 'signalight_api_devices{status="online"} 2.0' in text
    assert 'signalight_api_requests_total{method="GET",route="/api/v1/devices",status="200"} 1.0' in text


def test_settings_refuse_weak_secrets() -> None:
    with pytest.raises(ValidationError, match="must be set"):
        ApiSettings(environment="production")
    with pytest.raises(ValidationError, match="placeholder"):
        ApiSettings(environment="production", secret_key="changethis")
    with pytest.raises(ValidationError, match="at least 32"):
        ApiSettings(environment="production", secret_key="short-but-not-placeholder")
    with pytest.raises(ValidationError, match="time zone"):
        ApiSettings(timezone="Asia/Hanoi-ish")
    assert ApiSettings(environment="production", secret_key="k" * 40).environment == "production"
    assert ApiSettings(environment="demo").secret_key


async def test_nul_characters_are_422_not_500(harness: Harness) -> None:
    admin = harness.token("admin")
    query = await harness.client.get("/api/v1/audit", params={"actor": "a\x00b"}, headers=admin)
    assert query.status_code == 422 and "NUL" in query.json()["detail"]
    body = await harness.client.post("/api/v1/sites", content=b'{"id": "x", "name": "a\\u0000b"}',
                                     headers={**admin, "Content-Type": "application/json"})
    assert body.status_code == 422
    form = await harness.client.post("/api/v1/auth/token", content=b"username=a%00&password=x",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 422
    odd_user = await harness.client.post("/api/v1/auth/token", data={"username": "ü" * 300, "password": "x"})
    assert odd_user.status_code == 401


async def test_import_fleet_manifest(harness: Harness) -> None:
    engineer, viewer = harness.token("engineer"), harness.token("viewer")
    manifest = {"format": "signalight.manifest/v1", "site": "tn", "devices": [
        {"id": "tsc-001", "site": "tn", "kind": "signal_controller", "transport": "modbus", "host": "10.0.0.5",
         "port": 502, "unit_id": 1, "profile": "signal-controller-v1", "shard": "gw-a", "name": "Ngã tư A",
         "location": {"lat": 21.59, "lon": 105.85}},
        {"id": "lc-077", "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "client_id": "lc-077"}]}
    assert (await harness.client.post("/api/v1/devices/import", json=manifest, headers=viewer)).status_code == 403
    resp = await harness.client.post("/api/v1/devices/import", json=manifest, headers=engineer)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"created": ["lc-077"], "updated": ["tsc-001"]}
    dev = (await harness.client.get("/api/v1/devices/tsc-001", headers=viewer)).json()
    assert (dev["endpoint"], dev["profile"], dev["gateway_shard"]) == ("modbus://10.0.0.5:502/1",
                                                                       "signal-controller-v1", "gw-a")
    assert dev["status"] == "online", "what the bus said is kept"
    new = (await harness.client.get("/api/v1/devices/lc-077", headers=viewer)).json()
    assert (new["status"], new["endpoint"]) == ("unknown", "mqtt:lc-077")
    bad = {**manifest, "devices": [{"id": "X!", "site": "tn", "kind": "lamp", "transport": "modbus"}]}
    refused = await harness.client.post("/api/v1/devices/import", json=bad, headers=engineer)
    assert refused.status_code == 422
    paths = {e["path"] for e in refused.json()["errors"]}
    assert {"body.devices.0.id", "body.devices.0.kind"} <= paths
    clash = {**manifest, "devices": [{**manifest["devices"][1], "id": "tsc-001"}]}
    assert (await harness.client.post("/api/v1/devices/import", json=clash, headers=engineer)).status_code == 409


async def test_values_the_database_cannot_hold_are_422(harness: Harness) -> None:
    from sqlalchemy.exc import DBAPIError

    class DataError(Exception):  # the name asyncpg and psycopg give it
        pass

    @harness.app.get("/test-overflow")
    async def overflow() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    @harness.app.get("/test-dataerror")
    async def data_error() -> None:
        raise DBAPIError("SELECT", {}, DataError("value out of int32 range"))

    @harness.app.get("/test-connection")
    async def connection() -> None:
        raise DBAPIError("SELECT", {}, ConnectionError("gone"))

    assert (await harness.client.get("/test-overflow")).status_code == 422
    assert (await harness.client.get("/test-dataerror")).status_code == 422
    failure = await harness.client.get("/test-connection")  # a real failure stays a 500, logged
    assert failure.status_code == 500 and failure.json()["detail"] == "internal error; it has been logged"
