"""The composition root: each part wired from `Settings` into a runnable coroutine.

This is the only place that knows every part. The API receives the MQTT bus as a `BusPort` and the telemetry
store as a `TelemetryQuery`, so it never imports the gateways.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Generator
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.config import ApiSettings
from api.state import ApiDeps
from api.token_key import load_or_create_token_key
from controllers.clock import SystemClock
from controllers.topics import Suffix, subscription
from gateways.first_sight_file import FileFirstSight
from gateways.gateway import run_gateway
from gateways.manifest import load_manifest
from gateways.mqtt import Bus, BusConfig
from gateways.mqtt.catch_up import CatchUpBus
from gateways.partition import parse_partition
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from signalight.command_keys import api_signer, executor_keys
from signalight.settings import Settings

log = logging.getLogger("signalight")


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def bus_config(s: Settings, client_id: str, *, clean_session: bool = True) -> BusConfig:
    """Bus settings of one client of this process."""
    return BusConfig(
        host=s.mqtt_host, port=s.mqtt_port, client_id=client_id, username=s.mqtt_username,
        password=_plain(s.mqtt_password),
        clean_session=clean_session, mqtt_v5=s.mqtt_v5, keepalive_s=s.mqtt_keepalive_s,
        urls=tuple(s.mqtt_urls), tls_ca=s.mqtt_tls_ca, tls_cert=s.mqtt_tls_cert, tls_key=s.mqtt_tls_key,
    )


def instance_name(role: str) -> str:
    """A client id unique to this process (host and pid): two processes never take over each other's session."""
    return f"signalight-{role}-{socket.gethostname()[:20]}-{os.getpid()}"


@contextlib.asynccontextmanager
async def telemetry_store(s: Settings) -> AsyncIterator[InfluxStore | EmbeddedStore]:
    """The configured telemetry store, closed on exit."""
    store: InfluxStore | EmbeddedStore
    if s.store == "influxdb":
        store = InfluxStore(
            s.influx_url, s.influx_database, username=s.influx_username,
            password=_plain(s.influx_password),
            token=_plain(s.influx_token),
        )
    else:
        s.data_dir.mkdir(parents=True, exist_ok=True)
        store = EmbeddedStore(s.data_dir / "telemetry.sqlite")
    try:
        yield store
    finally:
        await store.aclose()


def api_settings(s: Settings) -> ApiSettings:
    extra: dict[str, Any] = {}
    if s.secret_key is not None:
        extra["secret_key"] = s.secret_key.get_secret_value()
    elif s.environment in ("development", "demo"):
        # A random key per data directory (production must set one): tokens survive a restart, no key is shared.
        extra["secret_key"] = load_or_create_token_key(s.data_dir / "keys" / "token-signing.key")
    return ApiSettings(db_url=s.db_url, environment=s.environment, site=s.site, timezone=s.timezone, **extra,
                       **s.api)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process runtime owns SIGINT/SIGTERM and cancels us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve_http(app: Any, host: str, port: int, *, started: Callable[[], None] | None = None) -> None:
    """Serve an ASGI app until cancelled, then shut down gracefully (open streams get 2 s to end)."""
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2, ws="none")
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                await task  # raises what made startup fail
                raise RuntimeError(f"the HTTP server on {host}:{port} stopped during startup")
            await asyncio.sleep(0.05)
        if started is not None:
            started()
        await asyncio.shield(task)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise


class SimOptionError(ValueError):
    """A `signalight sim` option is wrong; the message names the option and what is wrong."""


def sim_start(text: str | None) -> datetime | None:
    """`--start`: an ISO 8601 time with its UTC offset (the virtual clock's start), or None (now)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SimOptionError(f"--start: not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise SimOptionError(f"--start: give its UTC offset, e.g. {text}+07:00")
    return value


def sim_cabinets(path: Path | None) -> dict[str, Any]:
    """`--signal-cabinets`: JSON {"*" or device id: cabinet}, every cabinet checked as the simulator reads it."""
    if path is None:
        return {}
    from firmware_sim.bounded_json import loads as loads_bounded
    from firmware_sim.signal_cabinet import SignalCabinet

    try:
        doc = loads_bounded(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SimOptionError(f"--signal-cabinets {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise SimOptionError(f"--signal-cabinets {path}: expected an object of device id -> cabinet")
    for device, cabinet in doc.items():
        if not isinstance(cabinet, dict):
            raise SimOptionError(f"--signal-cabinets {path}: {device}: expected an object, found {cabinet!r}")
        try:
            SignalCabinet.from_doc(cabinet, device)
        except ValueError as exc:
            raise SimOptionError(f"--signal-cabinets {path}: {exc}") from exc
    return doc


async def run_sim(s: Settings, *, intersections: int, cabinets: int, modbus_cabinets: int, seed: int, speed: float,
                  modbus_port: int, control_port: int, manifest: Path, scenario: Path | None,
                  mqtt_controllers: int = 0, credentials: Path | None = None, start: datetime | None = None,
                  state_dir: Path | None = None, signal_cabinets: dict[str, Any] | None = None) -> None:
    from firmware_sim.fleet import FleetConfig
    from firmware_sim.fleet_runner import run_fleet
    from signalight.broker_files import load_credentials

    logins = load_credentials(credentials) if credentials is not None else {}

    manifest.parent.mkdir(parents=True, exist_ok=True)
    config = FleetConfig(
        site=s.site, intersections=intersections, cabinets=cabinets, modbus_cabinets=modbus_cabinets, seed=seed,
        mqtt_controllers=mqtt_controllers, speed=speed, state_dir=state_dir,
        mqtt_host=s.mqtt_host, mqtt_port=s.mqtt_port,
        mqtt_username=s.mqtt_username,
        mqtt_password=_plain(s.mqtt_password),
        modbus_port=modbus_port, manifest_path=manifest, control_port=control_port, scenario=scenario,
        mqtt_credentials={k: (v["username"], v["password"]) for k, v in logins.items()},
        mqtt_urls=tuple(s.mqtt_urls), mqtt_tls_ca=s.mqtt_tls_ca, mqtt_tls_cert=s.mqtt_tls_cert,
        mqtt_tls_key=s.mqtt_tls_key,
        command_keys=_verify_keys_path(s), start=start, signal_cabinets=signal_cabinets or {},
    )

    def ready(m: dict[str, Any]) -> None:
        log.info("sim_ready devices=%s manifest=%s control=%s", len(m.get("devices", [])), str(manifest),
                 (m.get("control") or {}).get("url"))

    await run_fleet(config, on_ready=ready)


def _verify_keys_path(s: Settings) -> Path:
    """The trusted-keys file executors read (made in development and demo when missing). Raises KeySetupError."""
    executor_keys(s)
    assert s.command_verify_keys is not None
    return s.command_verify_keys


async def run_gateway_process(s: Settings) -> None:
    assert s.manifest is not None
    devices = load_manifest(s.manifest)
    # The client id changes at every start (pid); the gateway id of its presence does not (gateways.presence).
    await run_gateway(bus=bus_config(s, instance_name(f"gateway-{s.gateway_shard or 'all'}")), devices=devices,
                      clock=SystemClock(), shard=s.gateway_shard, metrics_port=s.metrics_port,
                      gateway_id=s.gateway_id, command_keys=executor_keys(s), replay_dir=s.data_dir / "gateway")


async def run_recorder_process(s: Settings) -> None:
    async with telemetry_store(s) as store:
        if isinstance(store, InfluxStore):
            await store.create_database()
        # A fixed client id and a persistent session: the broker keeps telemetry for us while we restart.
        client_id = f"signalight-recorder-{s.recorder_group or 'single'}-{socket.gethostname()[:20]}"
        partition = parse_partition(s.recorder_partition) if s.recorder_partition else None
        if partition is not None:
            # The partition's session, not the host's: a partition's recorder may restart anywhere and resume it.
            client_id = f"signalight-recorder-part-{partition.name}"
        await run_recorder(bus=bus_config(s, client_id, clean_session=False), store=store,
                           spool_dir=s.data_dir / "spool", clock=SystemClock(), shared_group=s.recorder_group,
                           metrics_port=s.metrics_port, partition=partition)


def api_results_client_id(s: Settings) -> str:
    """The client id of the API's command-result session: stable across the API's reconnects and restarts (host and
    HTTP port, which no two API processes of one host share), so the broker keeps the results published meanwhile."""
    return f"signalight-api-results-{socket.gethostname()[:20]}-{s.api_port}"


@contextlib.asynccontextmanager
async def api_bus(s: Settings) -> AsyncIterator[CatchUpBus]:
    """The API's bus: a clean session, whose command results (`cmd/res`, not retained) are also followed on a
    persistent session (QoS 1), which keeps those published while the API is disconnected."""
    async with (Bus(bus_config(s, instance_name("api"))) as main,
                Bus(bus_config(s, api_results_client_id(s), clean_session=False)) as results,
                CatchUpBus.open(main, results, (subscription(Suffix.CMD_RES),), SystemClock()) as bus):
        yield bus


async def run_api_process(s: Settings, *, started: Callable[[], None] | None = None) -> None:
    s.data_dir.mkdir(parents=True, exist_ok=True)
    async with api_bus(s) as bus, telemetry_store(s) as store:
        deps = ApiDeps(settings=api_settings(s), bus=bus, telemetry=store, clock=SystemClock(),
                       signer=api_signer(s), first_sight=FileFirstSight(s.data_dir / "api" / "poison-seen"))
        await serve_http(create_app(deps), s.api_host, s.api_port, started=started)


async def run_scheduler_process(s: Settings) -> None:
    """The scheduled jobs (daily lighting energy report); several may run, a DB lease elects the runner."""
    import asyncio
    from zoneinfo import ZoneInfo

    from api.alarm_store import AlarmStore
    from api.db import create_engine, migrate, session_factory
    from api.hub import EventHub
    from api.lighting_scheduler import LightingScheduler

    s.data_dir.mkdir(parents=True, exist_ok=True)
    api = api_settings(s)
    await migrate(api.db_url)
    engine = create_engine(api.db_url)
    try:
        sessions = session_factory(engine)
        # Its alarms go to the DB (the API lists them from there); this process has no stream clients of its own.
        alarms = AlarmStore(sessions, EventHub(buffer=16, client_queue=1))
        await alarms.load()
        async with telemetry_store(s) as store:
            scheduler = LightingScheduler(sessions, store, SystemClock(), ZoneInfo(api.timezone), alarms=alarms)
            jobs = scheduler.build()
            jobs.start()
            try:
                await asyncio.Event().wait()    # until the runtime cancels us (SIGTERM / Ctrl-C)
            finally:
                jobs.shutdown(wait=False)
    finally:
        await engine.dispose()
