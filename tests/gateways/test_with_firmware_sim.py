"""The gateway against the independent firmware simulator (firmware_sim) on real Mosquitto: every Modbus device's
state arrives and validates, and commands round-trip (flash an intersection, switch a cabinet circuit) confirmed by
the state the device itself reports. Two implementations of the same contracts meeting on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiomqtt
import pytest

from controllers.clock import SystemClock, to_rfc3339
from firmware_sim.fleet import FleetConfig
from gateways.gateway import run_gateway
from gateways.manifest import load_manifest
from gateways.mqtt import BusConfig
from tests.command_signing import TEST_KEYS, signed
from tests.firmware_sim.fleet_runner import running_fleet
from tests.gateways.gateway_rig import watching
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


async def test_gateway_speaks_with_the_simulated_fleet(mosquitto: Mosquitto, tmp_path: Path) -> None:
    manifest_path = tmp_path / "manifest.json"
    config = FleetConfig(site="tn", intersections=3, cabinets=2, modbus_cabinets=2, mqtt_host=mosquitto.host,
                         mqtt_port=mosquitto.port, manifest_path=manifest_path, control_port=None)
    async with running_fleet(config), watching(mosquitto) as w:
        devices = load_manifest(manifest_path)
        modbus = [d for d in devices if d.transport == "modbus"]
        assert len(modbus) == 5
        gw = asyncio.create_task(run_gateway(bus=BusConfig(host=mosquitto.host, port=mosquitto.port,
                                                           client_id="gw-sim"), devices=devices, clock=SystemClock(),
                                             command_keys=TEST_KEYS))
        try:
            for d in modbus:
                state = await w.wait_for(f"sl/v1/{d.site}/{d.id}/state", within_s=15)
                assert state["kind"] == d.kind.value
                birth = await w.wait_for(f"sl/v1/{d.site}/{d.id}/birth")
                assert birth["transport"] == "modbus" and birth["model"] != "unknown"
                if d.kind == "lighting_cabinet":  # what its circuits feed comes from the registry, as a birth says
                    assert d.loads and birth["loads"] == [load.model_dump(exclude_none=True) for load in d.loads]
                    assert len(birth["loads"]) == birth["circuits"] == 4
            sc = next(d for d in modbus if d.kind == "signal_controller")
            # the controller's event FIFO comes through as Indiana events (1 = phase begin green)
            await w.wait_for(f"sl/v1/tn/{sc.id}/event", lambda p: p.get("code") == 1, within_s=30)
            cab = next(d for d in modbus if d.kind == "lighting_cabinet")
            until = to_rfc3339(datetime.now(UTC) + timedelta(minutes=5))
            expires = to_rfc3339(datetime.now(UTC) + timedelta(seconds=30))
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sender:
                flash = signed({"id": str(uuid.uuid4()), "name": "flash", "args": {"until": until},
                                "issued_by": "test", "expires_at": expires}, "tn", sc.id)
                await sender.publish(f"sl/v1/tn/{sc.id}/cmd", json.dumps(flash), qos=1)
                res = await w.wait_for(f"sl/v1/tn/{sc.id}/cmd/res", lambda p: p["id"] == flash["id"], within_s=15)
                assert res["ok"] is True, res
                await w.wait_for(f"sl/v1/tn/{sc.id}/state", lambda p: p["values"]["mode"] == "flash", within_s=15)
                switch = signed({"id": str(uuid.uuid4()), "name": "switch", "issued_by": "test",
                                 "expires_at": expires, "args": {"circuit": 1, "level_pct": 40, "until": until}},
                                "tn", cab.id)
                await sender.publish(f"sl/v1/tn/{cab.id}/cmd", json.dumps(switch), qos=1)
                res = await w.wait_for(f"sl/v1/tn/{cab.id}/cmd/res", lambda p: p["id"] == switch["id"], within_s=15)
                assert res["ok"] is True, res
                await w.wait_for(f"sl/v1/tn/{cab.id}/state",
                                 lambda p: p["values"]["circuits"][0]["control"] == "override"
                                 and p["values"]["circuits"][0]["level_pct"] == 40, within_s=15)
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw


async def test_a_cabinet_in_another_time_is_reported_in_its_own_time(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A Modbus cabinet whose clock is yesterday evening (lighting-cabinet-v2's device clock): the gateway stamps
    its state and telemetry with the cabinet's clock, and the state carries when each circuit last switched."""
    manifest_path = tmp_path / "manifest.json"
    yesterday = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(13, 0), UTC)  # 20:00 local
    began = datetime.now(UTC)
    config = FleetConfig(site="tn", intersections=0, cabinets=1, modbus_cabinets=1, mqtt_host=mosquitto.host,
                         mqtt_port=mosquitto.port, manifest_path=manifest_path, control_port=None, start=yesterday)
    async with running_fleet(config), watching(mosquitto) as w:
        (cab,) = load_manifest(manifest_path)
        assert cab.profile == "lighting-cabinet-v2"
        gw = asyncio.create_task(run_gateway(bus=BusConfig(host=mosquitto.host, port=mosquitto.port,
                                                           client_id="gw-sim-time"), devices=[cab],
                                             clock=SystemClock(), command_keys=TEST_KEYS))
        try:
            topic = f"sl/v1/tn/{cab.id}"
            sample = await w.wait_for(f"{topic}/telemetry", lambda p: "energy_kwh" in p["values"], within_s=20)
            state = await w.wait_for(f"{topic}/state", within_s=5)
            elapsed = datetime.now(UTC) - began
            for stamped in (sample["ts"], state["ts"]):
                assert yesterday <= datetime.fromisoformat(stamped) <= yesterday + elapsed, (stamped, elapsed)
            # lit by the program at its first step (evening): the cabinet's record of when, on its clock
            changed = [c.get("changed_at") for c in state["values"]["circuits"]]
            assert all(c is not None and yesterday <= datetime.fromisoformat(c) <= yesterday + elapsed
                       for c in changed), changed
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw
