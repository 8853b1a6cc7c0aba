"""The `signalight` command line.

`demo` runs everything in one process on the embedded defaults. `sim`, `gateway`, `recorder` and `api` each run one
part as its own process against the configured broker, config DB and telemetry store: the production shape.
Settings come from `SIGNALIGHT_*` environment variables and an optional TOML file (`--config` or
`SIGNALIGHT_CONFIG`); command-line options win over both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from signalight.logs import configure as configure_logs
from signalight.settings import Settings, load_settings

app = typer.Typer(help=__doc__, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
admin_app = typer.Typer(help="Administration: users.", no_args_is_help=True)
db_app = typer.Typer(help="The config database: migrations.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(db_app, name="db")


def fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"signalight: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def settings(**overrides: object) -> Settings:
    """Load settings or exit with every wrong setting named."""
    try:
        loaded = load_settings(**overrides)
    except ValidationError as exc:
        lines = [f"  SIGNALIGHT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()]
        fail("invalid settings:\n" + "\n".join(lines))
    except FileNotFoundError as exc:
        fail(str(exc))
    configure_logs(loaded.log_level)
    return loaded


@app.callback()
def main(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML settings file", envvar="SIGNALIGHT_CONFIG")
    ] = None,
) -> None:
    if config is not None:
        os.environ["SIGNALIGHT_CONFIG"] = str(config)


@app.command()
def demo(
    api_port: Annotated[int | None, typer.Option(help="API port [env SIGNALIGHT_API_PORT, default 8000]")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="embedded broker port [env SIGNALIGHT_MQTT_PORT, 1883]")] = None,
    intersections: Annotated[int, typer.Option(min=1, max=2000)] = 4,
    cabinets: Annotated[int, typer.Option(min=1, max=2000)] = 6,
    speed: Annotated[float, typer.Option(min=0.1, max=3600, help="simulated clock speed factor")] = 1.0,
    data_dir: Annotated[Path | None, typer.Option(help="where the demo keeps its files [var/demo]")] = None,
) -> None:
    """Everything in one process: simulated fleet, embedded broker, gateway, recorder, embedded store, API and UI."""
    from signalight.demo import DemoOptions, run_demo
    from signalight.runtime import run

    s = settings(environment="demo", api_port=api_port, mqtt_port=mqtt_port, store="embedded",
                 data_dir=data_dir or Path("var/demo"))
    options = DemoOptions(intersections=intersections, cabinets=cabinets, speed=speed)
    run(lambda: run_demo(s, options), name="demo")


@app.command()
def sim(
    intersections: Annotated[int, typer.Option(min=0, max=5000)] = 4,
    cabinets: Annotated[int, typer.Option(min=0, max=5000)] = 6,
    modbus_cabinets: Annotated[int, typer.Option(min=0, help="how many cabinets speak Modbus (the rest MQTT)")] = 1,
    mqtt_controllers: Annotated[int, typer.Option(min=0, help="how many controllers (the last) speak MQTT")] = 0,
    seed: int = 1,
    speed: Annotated[float, typer.Option(min=0.1, max=3600)] = 1.0,
    modbus_port: Annotated[int, typer.Option(min=0, max=65535, help="first Modbus TCP port; 0 = free ports")] = 0,
    control_port: Annotated[int, typer.Option(min=0, max=65535, help="fault-injection HTTP port; 0 = free")] = 0,
    manifest: Annotated[Path | None, typer.Option(help="where to write the fleet manifest")] = None,
    scenario: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="fault scenario (YAML)")] = None,
) -> None:
    """Simulated devices on real protocols (Modbus TCP servers, MQTT clients); writes the fleet manifest."""
    from signalight.processes import run_sim
    from signalight.runtime import run

    s = settings()
    path = manifest or s.manifest or s.data_dir / "manifest.json"
    run(lambda: run_sim(s, intersections=intersections, cabinets=cabinets, modbus_cabinets=modbus_cabinets,
                        mqtt_controllers=mqtt_controllers, seed=seed, speed=speed, modbus_port=modbus_port,
                        control_port=control_port,
                        manifest=path, scenario=scenario), name="sim")


@app.command()
def gateway(
    manifest: Annotated[Path | None, typer.Option(help="device registry [SIGNALIGHT_MANIFEST]")] = None,
    shard: Annotated[str | None, typer.Option(help="serve only the devices of this shard")] = None,
    gateway_id: Annotated[str | None, typer.Option(
        help="presence id, stable across restarts [SIGNALIGHT_GATEWAY_ID, default {host}-{shard or all}]")] = None,
) -> None:
    """Poll the Modbus devices of the registry, publish them on the bus, execute their commands."""
    from signalight.processes import run_gateway_process
    from signalight.runtime import run

    s = settings(manifest=manifest, gateway_shard=shard, gateway_id=gateway_id)
    if s.manifest is None:
        fail("no device registry: pass --manifest or set SIGNALIGHT_MANIFEST")
    if not s.manifest.is_file():
        fail(f"device registry {s.manifest} does not exist (run `signalight sim --manifest {s.manifest}` first?)")
    run(lambda: run_gateway_process(s), name="gateway")


@app.command()
def recorder(
    group: Annotated[str | None, typer.Option(help="MQTT 5 shared-subscription group (several recorders)")] = None,
    partition: Annotated[str | None, typer.Option(help="i/N: store only devices with CRC-32(id) mod N = i "
                                                  "(several recorders on any broker)")] = None,
) -> None:
    """Write telemetry from the bus into the store (InfluxDB or embedded); spool to disk while it is down."""
    from signalight.processes import run_recorder_process
    from signalight.runtime import run

    s = settings(recorder_group=group, **({"recorder_partition": partition} if partition else {}))
    run(lambda: run_recorder_process(s), name="recorder")


@app.command()
def api() -> None:
    """Serve the control API and the web UI."""
    from signalight.processes import run_api_process
    from signalight.runtime import run

    s = settings()
    run(lambda: run_api_process(s), name="api")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the config database migrations (Alembic) up to the newest."""
    import asyncio

    from api.db import migrate

    s = settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(migrate(s.db_url))
    typer.echo(f"database {s.db_url} is up to date")


@admin_app.command("create-user")
def create_user(
    name: Annotated[str, typer.Argument(help="user name")],
    role: Annotated[str, typer.Option(help="viewer | operator | engineer | crew | admin")],
    password: Annotated[str | None, typer.Option(envvar="SIGNALIGHT_NEW_PASSWORD", help="asked for when not given")]
    = None,
) -> None:
    """Create a user (or reset its password and role)."""
    import asyncio

    from api.db import migrate
    from api.users import create_user as create

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    s = settings()
    s.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(migrate(s.db_url))
        asyncio.run(create(s.db_url, name, password, role))
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"user {name!r} has role {role}")


dashboards_app = typer.Typer(help="Grafana dashboards as code.", no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


@dashboards_app.command("export")
def dashboards_export(
    out: Annotated[Path, typer.Option(help="folder Grafana's file provisioning reads")] = Path("dashboards/generated"),
) -> None:
    """Write the dashboards as JSON files (generated from the telemetry schema)."""
    from dashboards.build import export

    for path in export(out):
        typer.echo(str(path))


@dashboards_app.command("push")
def dashboards_push(
    url: Annotated[str, typer.Option(envvar="GRAFANA_URL", help="Grafana base URL")],
    token: Annotated[str, typer.Option(envvar="GRAFANA_TOKEN", help="Grafana service-account token")],
) -> None:
    """Create or overwrite the dashboards in a running Grafana (needs the `grafana` extra)."""
    from dashboards.push import GrafanaUnavailable, push

    try:
        for link in push(url, token):
            typer.echo(link)
    except GrafanaUnavailable as exc:
        fail(str(exc))


@app.command()
def fault(
    device: Annotated[str, typer.Argument(help="device id, e.g. tn-sig-001")],
    name: Annotated[str, typer.Argument(help="comm_loss, power_fail, door_open, force_conflict, lamp_failure, ...")],
    args: Annotated[str, typer.Option(help='fault arguments as JSON, e.g. \'{"circuit": 2}\'; "active": false clears')]
    = "{}",
    manifest: Annotated[Path | None, typer.Option(help="the simulator's manifest (its control URL)")] = None,
    url: Annotated[str | None, typer.Option(help="the simulator's control URL (instead of --manifest)")] = None,
) -> None:
    """Inject (or clear) a fault in a running simulator: the rig's control interface from the command line."""
    import asyncio
    import json

    import httpx

    from firmware_sim.control import inject_fault
    from firmware_sim.faults import FaultError

    try:
        fault_args = json.loads(args)
    except json.JSONDecodeError as exc:
        fail(f"--args is not JSON: {exc}")
    if not isinstance(fault_args, dict):
        fail("--args must be a JSON object")
    if url is None:
        s = settings(manifest=manifest)
        path = s.manifest or s.data_dir / "manifest.json"
        try:
            url = json.loads(path.read_text())["control"]["url"]
        except (OSError, ValueError, KeyError, TypeError):
            fail(f"no simulator control URL in {path}; pass --url or --manifest")
    try:
        result = asyncio.run(inject_fault(url, device, name, fault_args))
    except FaultError as exc:
        fail(f"refused: {exc}")
    except httpx.HTTPError as exc:
        fail(f"cannot reach the simulator at {url}: {exc}")
    typer.echo(json.dumps(result, ensure_ascii=False))
