"""The API on real parts: Mosquitto through the project's aiomqtt bus, and PostgreSQL. A test plays the device."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import jsonschema
import pytest

from api.app import ApiDeps, create_app
from api.command_signing import CommandSigner
from api.config import ApiSettings
from api.db import migrate
from api.security import Role, issue_token
from api.users import create_user
from contracts import mqtt_schema_path
from controllers.command_auth import CommandRefused, check_command
from gateways.command_keys import TrustedKeys
from gateways.mqtt import Bus, BusConfig
from tests.api.fakes import (
    FakeClock,
    FakeTelemetry,
    cabinet_birth,
    cabinet_state,
    register_devices,
    rfc3339,
    signal_birth,
    signal_state,
)
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


async def eventually(check: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    """Poll an async `check` until it returns a truthy value (waits on the broker and the DB, not on a timer)."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


async def test_api_on_mosquitto_and_postgresql(mosquitto: Mosquitto, postgres_url: str) -> None:
    clock = FakeClock()
    cmd_schema = json.loads(mqtt_schema_path("cmd").read_text())
    device = Bus(BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="test-device"))
    api_bus = Bus(BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="test-api", publish_timeout_s=2))
    settings = ApiSettings(db_url=postgres_url, environment="production", secret_key="k" * 40)
    signer = CommandSigner.generate()
    keys = TrustedKeys({signer.kid: signer.public_raw})
    app = create_app(ApiDeps(settings=settings, bus=api_bus, telemetry=FakeTelemetry(), clock=clock, signer=signer))
    await migrate(postgres_url)
    await register_devices(postgres_url, {"tsc-101": "signal_controller", "lc-101": "lighting_cabinet"})
    await create_user(postgres_url, "op", "operator-password", "operator")  # a token's subject must be a user
    token, _ = issue_token(settings.secret_key, subject="op", role=Role.OPERATOR, typ="access", now=clock.now(),
                           ttl_s=3600)
    headers = {"Authorization": f"Bearer {token}"}
    async with device, api_bus:
        await device.wait_connected(10)
        now = clock.now()
        for topic, payload in [("sl/v1/tn/tsc-101/birth", signal_birth(now)),
                               ("sl/v1/tn/tsc-101/status", {"status": "online"}),
                               ("sl/v1/tn/tsc-101/state", signal_state(now)),
                               ("sl/v1/tn/lc-101/birth", cabinet_birth(now)),
                               ("sl/v1/tn/lc-101/status", {"status": "online"}),
                               ("sl/v1/tn/lc-101/state", cabinet_state(now))]:
            await device.publish(topic, payload, retain=True)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers) as client:

            async def both_online() -> bool:
                listed = (await client.get("/api/v1/devices")).json()
                return sum(d["status"] == "online" and d["state"] is not None for d in listed) == 2

            await eventually(both_online)

            # A command round trip: the device sees a contract-valid cmd and answers on cmd/res.
            async with device.subscribe("sl/v1/tn/+/cmd") as commands:
                until = rfc3339(clock.now() + timedelta(minutes=30))
                resp = await client.post("/api/v1/devices/tsc-101/commands",
                                         json={"name": "flash", "args": {"until": until}})
                assert resp.status_code == 202, resp.text
                async with asyncio.timeout(10):
                    cmd = json.loads((await anext(aiter(commands))).payload)
                jsonschema.validate(cmd, cmd_schema)
                assert cmd["id"] == resp.json()["id"] and cmd["issued_by"] == "op"
                # Signed with the API's key for this device only.
                assert check_command(cmd, site="tn", device_id="tsc-101", now=clock.now(), keys=keys).id == cmd["id"]
                with pytest.raises(CommandRefused, match="wrong_target"):
                    check_command(cmd, site="tn", device_id="lc-101", now=clock.now(), keys=keys)
                # A result from another device's channel for this command is ignored.
                await device.publish("sl/v1/tn/lc-101/cmd/res", {"id": cmd["id"], "ok": False, "error": "refused"})
                await device.publish("sl/v1/tn/tsc-101/cmd/res", {"id": cmd["id"], "ok": True})

            async def succeeded() -> bool:
                return (await client.get(resp.json()["href"])).json()["status"] == "succeeded"

            await eventually(succeeded)

            # Broker down: a command is stored, refused as not sent (503), and nothing is lost or half-done.
            mosquitto.stop()
            down = await client.post("/api/v1/devices/lc-101/commands", json={"name": "release"})
            assert down.status_code == 503, down.text
            stored = (await client.get(f"/api/v1/commands/{down.json()['command_id']}")).json()
            assert (stored["status"], stored["error"]) == ("failed", "not_sent")
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["bus"] == "disconnected"

            # Broker back: the API's subscription is restored and live updates flow again.
            mosquitto.start()
            await device.wait_connected(30)
            await api_bus.wait_connected(30)
            await device.publish("sl/v1/tn/lc-101/state", cabinet_state(clock.now(), seq=9, door_open=True),
                                 retain=True)

            async def door_alarm() -> bool:
                alarms = (await client.get("/api/v1/alarms", params={"active": "true"})).json()
                return any(a["kind"] == "door_open" and a["device_id"] == "lc-101" for a in alarms)

            await eventually(door_alarm, timeout_s=30)
            assert (await client.get("/readyz")).status_code == 200
