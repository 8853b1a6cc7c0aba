"""`signalight demo`: the whole system in one process on the embedded defaults.

In-process MQTT broker (amqtt), simulated fleet (signal controllers on Modbus TCP, cabinets on MQTT and one on
Modbus), the gateway, the recorder into the embedded telemetry store, a SQLite config DB and the API with its web UI.
Started in the order that loses nothing: broker, recorder and API (subscribed) before the devices speak. Commands are
signed with the demo data dir's key (made on first run), which the gateway and the simulated devices trust; the
fleet's manifest is imported into the API's registry as an engineer would (births do not create devices).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import typer
from pydantic import SecretStr

from api.db import migrate
from api.users import create_user
from controllers.clock import SystemClock
from controllers.devices import Transport
from firmware_sim.clock import VirtualClock
from firmware_sim.fleet import FleetConfig, build_fleet
from firmware_sim.fleet_runner import run_fleet
from gateways.gateway import run_gateway
from gateways.manifest import DeviceEntry, ModbusDevice, device_entry, load_manifest
from gateways.recorder_service import run_recorder
from signalight.broker import embedded_broker, free_port, port_is_free
from signalight.broker_acl import GatewaySpec, build_plan, gateway_key
from signalight.broker_files import load_credentials, write_broker_files
from signalight.command_keys import executor_keys
from signalight.processes import bus_config, instance_name, run_api_process, telemetry_store
from signalight.settings import Settings

log = logging.getLogger("signalight.demo")

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"  # the documented demo login; the API creates no default user outside demo mode
DEMO_GATEWAY = GatewaySpec("demo-gateway", None)


@dataclass(frozen=True)
class DemoOptions:
    intersections: int = 4
    cabinets: int = 6
    modbus_cabinets: int = 1
    speed: float = 1.0


def mqtt_devices(fleet: FleetConfig, site: str) -> dict[str, Any]:
    """The manifest of the fleet's MQTT devices, known before the fleet runs (they need no port): imported first,
    so their first births find them registered."""
    from firmware_sim.clock import VirtualClock
    from firmware_sim.fleet import build_fleet

    entries = build_fleet(replace(fleet, command_keys=None), VirtualClock(fleet.speed)).entries.values()
    return {"format": "signalight.manifest/v1", "site": site,
            "devices": [e for e in entries if e["transport"] == "mqtt"]}


async def import_manifest(api_url: str, manifest: dict[str, Any]) -> None:
    """Put devices into the API's device registry through its import route, as the demo user."""
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        login = await client.post("/api/v1/auth/token", data={"username": DEMO_USER, "password": DEMO_PASSWORD})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        resp = await client.post("/api/v1/devices/import", json=manifest, headers=headers)
        resp.raise_for_status()
    log.info("demo_devices_imported devices=%s", len(manifest.get("devices", [])))


def _pick_port(host: str, wanted: int, what: str) -> int:
    if port_is_free(host, wanted):
        return wanted
    port = free_port(host)
    typer.secho(f"{what} port {wanted} is taken on {host}; using {port} instead", fg=typer.colors.YELLOW, err=True)
    return port


def fleet_registry(fleet: FleetConfig) -> list[DeviceEntry]:
    """The devices the simulated fleet will have (ids, sites, kinds, transports), before anything listens: the
    broker's identities must exist before the fleet's MQTT devices log in. Built by the simulator itself
    (deterministic), so the names cannot drift. The broker's rules need no Modbus address, which is not known until
    the ports are bound: those entries carry a placeholder one and serve nothing but the rules."""
    built = build_fleet(fleet, VirtualClock(fleet.speed))
    unbound = {"host": fleet.modbus_host, "port": 1, "unit_id": 0, "profile": "unbound"}
    return [device_entry({"id": e["id"], "site": e["site"], "kind": e["kind"], "transport": e["transport"],
                          **(unbound if e["transport"] == Transport.MODBUS else {})})
            for e in built.entries.values()]


def demo_broker_files(s: Settings, fleet: FleetConfig) -> tuple[Path, dict[str, dict[str, str]]]:
    """Write the embedded broker's files into `{data_dir}/broker` (passwords kept across runs), give the fleet's
    MQTT devices their logins, and return the folder and our processes' credentials."""
    folder = s.data_dir / "broker"
    plan = build_plan(fleet_registry(fleet), [DEMO_GATEWAY], anonymous_read=True)
    write_broker_files(plan, folder, header="signalight demo: anonymous clients may read sl/v1/#, never publish")
    devices = load_credentials(folder / "devices.json")
    fleet.mqtt_credentials = {k: (v["username"], v["password"]) for k, v in devices.items()}
    return folder, load_credentials(folder / "credentials.json")


def as_identity(s: Settings, login: dict[str, str]) -> Settings:
    return s.model_copy(update={"mqtt_username": login["username"], "mqtt_password": SecretStr(login["password"])})


async def run_demo(s: Settings, options: DemoOptions) -> None:
    """Run until cancelled (Ctrl-C)."""
    mqtt_port = _pick_port(s.mqtt_host, s.mqtt_port, "MQTT")
    api_port = _pick_port(s.api_host, s.api_port, "API")
    s = s.model_copy(update={"mqtt_port": mqtt_port, "api_port": api_port})
    s.data_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = s.data_dir / "manifest.json"

    await migrate(s.db_url)
    await create_user(s.db_url, DEMO_USER, DEMO_PASSWORD, "admin")
    command_keys = executor_keys(s)  # makes the demo's signing key and its trusted-keys file on first run

    sim_ready = asyncio.Event()
    api_ready = asyncio.Event()
    fleet = FleetConfig(site=s.site, intersections=options.intersections, cabinets=options.cabinets,
                        modbus_cabinets=options.modbus_cabinets, speed=options.speed, mqtt_host=s.mqtt_host,
                        mqtt_port=mqtt_port, manifest_path=manifest_path, control_port=0,
                        command_keys=s.command_verify_keys)
    broker_dir, logins = demo_broker_files(s, fleet)
    control: dict[str, Any] = {}

    def on_sim_ready(manifest: dict[str, Any]) -> None:
        control.update(manifest.get("control") or {})
        sim_ready.set()

    async with embedded_broker(s.mqtt_host, mqtt_port, password_file=broker_dir / "password_file",
                               acl_file=broker_dir / "acl_file", allow_anonymous=True), \
            telemetry_store(s) as store, asyncio.TaskGroup() as tg:
        recorder = as_identity(s, logins["recorder"])
        tg.create_task(run_recorder(bus=bus_config(recorder, "signalight-demo-recorder", clean_session=False),
                                    store=store, spool_dir=s.data_dir / "spool", clock=SystemClock()),
                       name="recorder")
        tg.create_task(run_api_process(as_identity(s, logins["api"]), started=api_ready.set), name="api")
        await asyncio.wait_for(api_ready.wait(), 60)
        await import_manifest(f"http://{s.api_host}:{api_port}", mqtt_devices(fleet, s.site))
        tg.create_task(run_fleet(fleet, on_ready=on_sim_ready), name="sim")
        await asyncio.wait_for(sim_ready.wait(), 60)
        devices = load_manifest(manifest_path)
        await import_manifest(f"http://{s.api_host}:{api_port}",
                              json.loads(await asyncio.to_thread(manifest_path.read_text, encoding="utf-8")))
        gateway = as_identity(s, logins[gateway_key(DEMO_GATEWAY.gateway_id)])
        tg.create_task(run_gateway(bus=bus_config(gateway, instance_name("gateway")), devices=devices,
                                   clock=SystemClock(), gateway_id=DEMO_GATEWAY.gateway_id, command_keys=command_keys,
                                   replay_dir=s.data_dir / "gateway"),
                       name="gateway")
        modbus = [d for d in devices if isinstance(d, ModbusDevice)]
        ports = sorted({d.port for d in modbus})
        typer.echo(
            "\nsignalight demo is running (Ctrl-C stops it)\n"
            f"  web UI and API   http://{s.api_host}:{api_port}/   (login: {DEMO_USER} / {DEMO_PASSWORD}, role admin)\n"
            f"  API docs         http://{s.api_host}:{api_port}/docs\n"
            f"  MQTT broker      mqtt://{s.mqtt_host}:{mqtt_port}   "
            f"(try: mosquitto_sub -p {mqtt_port} -t 'sl/v1/#' -v)\n"
            f"  broker logins    {broker_dir} (anonymous clients may only read)\n"
            f"  Modbus devices   {len(modbus)} on {s.mqtt_host} port(s) {', '.join(map(str, ports)) or '-'}\n"
            f"  fleet            {len(devices)} devices, manifest {manifest_path}\n"
            f"  fault injection  {control.get('url', 'off')}\n"
            f"  config DB        {s.db_url}\n"
            f"  telemetry store  embedded, {s.data_dir / 'telemetry.sqlite'}\n"
        )
        # The city's lighting calendar (weekdays, weekends, Tết), deployed to the cabinets through the API.
        tg.create_task(seed_lighting(f"http://{s.api_host}:{api_port}", s.site,
                                     sum(d.kind == "lighting_cabinet" for d in devices)), name="seed_lighting")


#: The demo's city lighting: weekday and weekend dimming, Tết and national holidays at full brightness, a park on
#: its photocell (contracts/lighting/README.md).
LIGHTING_EXAMPLE = Path(__file__).resolve().parents[1] / "contracts" / "lighting" / "examples" / \
    "thai-nguyen-city.json"


async def seed_lighting(api_url: str, site: str, cabinets: int) -> None:
    """Store the city lighting document as version 1 and deploy it to every cabinet of the site, once the API
    knows them all, through the API as an engineer would. A demo restarted on its data keeps what it has. Best
    effort: a failure is logged and the demo runs on (its cabinets keep their factory program)."""
    try:
        async with httpx.AsyncClient(base_url=api_url, timeout=15) as client:
            token = (await client.post("/api/v1/auth/token", data={"username": DEMO_USER,
                                                                   "password": DEMO_PASSWORD})).json()
            client.headers["Authorization"] = f"Bearer {token['access_token']}"
            if (await client.get("/api/v1/lighting/documents")).json():
                return
            doc = json.loads(LIGHTING_EXAMPLE.read_text(encoding="utf-8"))
            created = await client.post("/api/v1/lighting/documents/city", json=doc,
                                        params={"comment": "demo default calendar"})
            created.raise_for_status()
            for _ in range(120):  # the cabinets' births reach the API within seconds of the fleet starting
                listed = (await client.get("/api/v1/devices")).json()
                if sum(1 for d in listed if d["kind"] == "lighting_cabinet" and d.get("state")) >= cabinets:
                    break
                await asyncio.sleep(0.5)
            deployed = await client.post("/api/v1/lighting/documents/city/versions/1/deploy", json={"site": site})
            deployed.raise_for_status()
            log.info("demo_lighting_deployed batch=%s cabinets=%s", deployed.json()["batch_id"], cabinets)
    except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:  # an answer of an unexpected shape too
        log.warning("demo_lighting_not_seeded error=%s", f"{type(exc).__name__}: {exc}")
