"""`python -m firmware_sim`: run a simulated fleet until Ctrl-C or SIGTERM (both stop it cleanly)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from firmware_sim.fleet import FleetConfig
from firmware_sim.fleet_runner import run_fleet

log = logging.getLogger("firmware_sim")


def _aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the UTC offset, e.g. {text}+07:00")
    return value


def parse_args(argv: list[str] | None = None) -> FleetConfig:
    p = argparse.ArgumentParser(prog="python -m firmware_sim", description=__doc__)
    p.add_argument("--site", default="tn")
    p.add_argument("--intersections", type=int, default=4)
    p.add_argument("--cabinets", type=int, default=6)
    p.add_argument("--modbus-cabinets", type=int, default=1)
    p.add_argument("--mqtt-controllers", type=int, default=0, help="the last K controllers speak MQTT")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=float, default=1.0, help="virtual clock speed factor")
    p.add_argument("--start", type=_aware_datetime, default=None,
                   help="virtual time at start, ISO 8601 with offset (e.g. 2026-12-02T17:00:00+07:00); default now")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="devices' flash: cabinets' deployed programs and MQTT devices' replay windows, kept "
                        "across restarts; default: RAM only")
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--mqtt-username")
    p.add_argument("--mqtt-password")
    p.add_argument("--credentials", type=Path,
                   help='per-device MQTT logins, JSON {device_id: {"username": ..., "password": ...}}')
    p.add_argument("--mqtt-urls", default="", help="broker failover list: mqtt://h:p,mqtts://h:p (wins over host/port)")
    p.add_argument("--mqtt-tls-ca", type=Path)
    p.add_argument("--mqtt-tls-cert", type=Path)
    p.add_argument("--mqtt-tls-key", type=Path)
    p.add_argument("--modbus-host", default="127.0.0.1")
    p.add_argument("--modbus-port", type=int, default=0, help="first Modbus TCP port; 0 = free ports")
    p.add_argument("--units-per-port", type=int, default=32)
    p.add_argument("--manifest", type=Path)
    p.add_argument("--control-port", type=int, default=0, help="HTTP fault endpoint; 0 = free port, -1 = off")
    p.add_argument("--scenario", type=Path)
    p.add_argument("--command-keys", type=Path, help="trusted command keys, JSON {kid: base64 Ed25519 public key}; "
                   "without it the MQTT devices refuse every command")
    p.add_argument("--signal-cabinets", type=Path,
                   help='JSON {"*" or device id: {permissive, flash_yellow, remote_conflict_reset, preemption}}')
    p.add_argument("--detectors", type=Path,
                   help='detector layouts, JSON {"*" or device id: [{channel, phase, type, setback_m}, ...]} (the '
                   "API's detector export); advance detectors report every vehicle setback_m before the stop bar")
    a = p.parse_args(argv)
    logins: dict[str, tuple[str, str]] = {}
    if a.credentials is not None:
        try:
            logins = {k: (v["username"], v["password"]) for k, v in json.loads(a.credentials.read_text()).items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            p.error(f"--credentials {a.credentials}: {exc!r}")
    cabinets: dict[str, object] = {}
    if a.signal_cabinets is not None:
        try:
            cabinets = json.loads(a.signal_cabinets.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            p.error(f"--signal-cabinets {a.signal_cabinets}: {exc}")
        if not isinstance(cabinets, dict):
            p.error(f"--signal-cabinets {a.signal_cabinets}: expected an object of device id -> cabinet")
    layouts: dict[str, object] = {}
    if a.detectors is not None:
        try:
            layouts = json.loads(a.detectors.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            p.error(f"--detectors {a.detectors}: {exc}")
        if not isinstance(layouts, dict):
            p.error(f"--detectors {a.detectors}: expected an object of device id -> detector list")
    config = FleetConfig(site=a.site, intersections=a.intersections, cabinets=a.cabinets,
                         modbus_cabinets=a.modbus_cabinets, mqtt_controllers=a.mqtt_controllers, seed=a.seed,
                         speed=a.speed, start=a.start, state_dir=a.state_dir, mqtt_host=a.mqtt_host,
                         mqtt_port=a.mqtt_port, mqtt_username=a.mqtt_username, mqtt_password=a.mqtt_password,
                         mqtt_credentials=logins,
                         modbus_host=a.modbus_host, modbus_port=a.modbus_port, units_per_port=a.units_per_port,
                         manifest_path=a.manifest, control_port=None if a.control_port < 0 else a.control_port,
                         scenario=a.scenario, mqtt_urls=tuple(u for u in a.mqtt_urls.split(",") if u.strip()),
                         mqtt_tls_ca=a.mqtt_tls_ca, mqtt_tls_cert=a.mqtt_tls_cert, mqtt_tls_key=a.mqtt_tls_key,
                         command_keys=a.command_keys, signal_cabinets=cabinets, detectors=layouts)
    try:
        config.check()
    except ValueError as exc:
        p.error(str(exc))
    return config


async def _main(config: FleetConfig) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)

    def ready(manifest: dict[str, Any]) -> None:
        log.info("sim_ready devices=%d manifest=%s control=%s", len(manifest["devices"]),
                 config.manifest_path, manifest.get("control"))
    with contextlib.suppress(asyncio.CancelledError):
        await run_fleet(config, on_ready=ready)
    log.info("sim_stopped")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = parse_args(argv)
    asyncio.run(_main(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
