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
keys_app = typer.Typer(help="Command-signing keys: the API's private key, the executors' trusted public keys.",
                       no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")


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
    start: Annotated[str | None, typer.Option(
        help="virtual time at start, ISO 8601 with its UTC offset (e.g. 2026-12-01T16:05:00+07:00); default now")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option(
        help="devices' flash: cabinets' deployed programs and MQTT devices' replay windows, kept across "
             "restarts; default: RAM only")] = None,
    modbus_port: Annotated[int, typer.Option(min=0, max=65535, help="first Modbus TCP port; 0 = free ports")] = 0,
    control_port: Annotated[int, typer.Option(min=0, max=65535, help="fault-injection HTTP port; 0 = free")] = 0,
    manifest: Annotated[Path | None, typer.Option(help="where to write the fleet manifest")] = None,
    scenario: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="fault scenario (YAML)")] = None,
    credentials: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help='MQTT logins of the devices, {device_id: {"username", "password"}} '
        "(`signalight broker init` writes devices.json)")] = None,
    signal_cabinets: Annotated[Path | None, typer.Option(
        exists=True, dir_okay=False, help='signal cabinets, JSON {"*" or device id: {permissive, flash_yellow, '
        "remote_conflict_reset, preemption}} (firmware_sim/README.md)")] = None,
) -> None:
    """Simulated devices on real protocols (Modbus TCP servers, MQTT clients); writes the fleet manifest."""
    from signalight.processes import SimOptionError, run_sim, sim_cabinets, sim_start
    from signalight.runtime import run

    try:
        start_at = sim_start(start)
        cabinet_docs = sim_cabinets(signal_cabinets)
    except SimOptionError as exc:
        fail(str(exc))
    s = settings()
    if credentials is not None:
        from signalight.broker_files import CredentialsError, load_credentials

        try:
            load_credentials(credentials)
        except (OSError, CredentialsError) as exc:
            fail(str(exc))
    path = manifest or s.manifest or s.data_dir / "manifest.json"
    check_keys(s, "executor")
    run(lambda: run_sim(s, intersections=intersections, cabinets=cabinets, modbus_cabinets=modbus_cabinets,
                        mqtt_controllers=mqtt_controllers, seed=seed, speed=speed, state_dir=state_dir,
                        modbus_port=modbus_port,
                        control_port=control_port,
                        manifest=path, scenario=scenario, credentials=credentials, start=start_at,
                        signal_cabinets=cabinet_docs), name="sim")


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
    check_keys(s, "executor")
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
    check_keys(s, "api")
    run(lambda: run_api_process(s), name="api")


@app.command()
def scheduler() -> None:
    """Run the scheduled jobs (daily lighting energy and burning hours); one runner even with several."""
    from signalight.processes import run_scheduler_process
    from signalight.runtime import run

    s = settings()
    run(lambda: run_scheduler_process(s), name="scheduler")
def check_keys(s: Settings, role: str) -> None:
    """Exit with a clear message when the command keys this process needs are missing or unusable."""
    from signalight.command_keys import KeySetupError, api_signer, executor_keys

    try:
        if role == "api":
            api_signer(s)
        else:
            executor_keys(s)
    except KeySetupError as exc:
        fail(str(exc))


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path | None, typer.Option(help="where to write the private key [SIGNALIGHT_COMMAND_SIGNING_KEY]")]
    = None,
) -> None:
    """Create the API's Ed25519 command-signing key (PEM, mode 0600). Refuses to overwrite an existing key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from api.command_signing import CommandSigner, write_private_key

    s = settings()
    path = out or s.command_signing_key
    assert path is not None
    key = Ed25519PrivateKey.generate()
    try:
        write_private_key(path, key)
    except FileExistsError:
        fail(f"{path} exists; a rotation writes the new key elsewhere (--out) and switches the API to it")
    typer.echo(f"wrote {path} (kid {CommandSigner(key).kid}); give executors its public key with "
               f"`signalight keys export-public --key {path}`")


@keys_app.command("export-public")
def keys_export_public(
    key: Annotated[Path | None, typer.Option(help="the private key [SIGNALIGHT_COMMAND_SIGNING_KEY]")] = None,
    out: Annotated[Path | None, typer.Option(help="trusted-keys file [SIGNALIGHT_COMMAND_VERIFY_KEYS]")] = None,
    merge: Annotated[bool, typer.Option(help="keep the keys already in the file (a rotation: old and new valid)")]
    = True,
) -> None:
    """Write the key's public half into the executors' trusted-keys file `{kid: base64 public key}`."""
    from signalight.command_keys import KeySetupError, export_public

    s = settings()
    key_path, out_path = key or s.command_signing_key, out or s.command_verify_keys
    assert key_path is not None and out_path is not None
    try:
        signer = export_public(key_path, out_path, merge=merge)
    except (KeySetupError, ValueError) as exc:
        fail(str(exc))
    typer.echo(f"{out_path}: trusts kid {signer.kid}" + (" (and the keys it held)" if merge else " only"))


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


broker_app = typer.Typer(help="The MQTT broker's logins and access rules (Mosquitto).", no_args_is_help=True)
app.add_typer(broker_app, name="broker")


@broker_app.command("init")
def broker_init(
    out: Annotated[Path | None, typer.Option(help="folder for the broker files [{data_dir}/broker]")] = None,
    manifest: Annotated[Path | None, typer.Option(help="device registry [SIGNALIGHT_MANIFEST]")] = None,
    gateway: Annotated[list[str] | None, typer.Option(
        help="a gateway process ID or ID=SHARD (repeat); default one per shard the registry names, "
             "gateway-{shard}, or gateway-all")] = None,
    rotate: Annotated[bool, typer.Option(help="new passwords for every identity")] = False,
    rotate_identity: Annotated[list[str] | None, typer.Option(
        help="a new password for this identity only (repeat): a device id, api, recorder or gateway:{id}")] = None,
    anonymous_read: Annotated[bool, typer.Option(help="let anonymous clients read sl/v1/# (never publish)")]
    = False,
    config_dir: Annotated[str, typer.Option(help="where the broker sees these files")] = "/mosquitto/config",
    tls_port: Annotated[int, typer.Option(min=1, max=65535)] = 8883,
    tls_cert: Annotated[str, typer.Option(help="server certificate, as the broker sees it")]
    = "/mosquitto/certs/server.crt",
    tls_key: Annotated[str, typer.Option(help="server key, as the broker sees it")] = "/mosquitto/certs/server.key",
    tls_client_ca: Annotated[str | None, typer.Option(help="CA of client certificates (asks clients for one)")]
    = None,
    require_client_cert: Annotated[bool, typer.Option(help="refuse TLS clients without a certificate")] = False,
    plain_port: Annotated[int, typer.Option(min=0, max=65535, help="plain MQTT listener for our processes on a "
                                            "private network; 0: TLS only")] = 1883,
) -> None:
    """Generate the broker's password_file, acl_file, mosquitto.conf and the credentials of every process and MQTT
    device from the registry. Rerunning keeps existing passwords (unless rotated)."""
    from gateways.manifest import ManifestError, load_manifest
    from signalight.broker_acl import AclError, GatewaySpec, build_plan
    from signalight.broker_files import ConfOptions, CredentialsError, TlsListener, write_broker_files

    s = settings(manifest=manifest)
    if s.manifest is None:
        fail("no device registry: pass --manifest or set SIGNALIGHT_MANIFEST")
    folder = out if out is not None else s.data_dir / "broker"
    try:
        devices = load_manifest(s.manifest)
        specs = [GatewaySpec.parse(g) for g in gateway or []]
        plan = build_plan(devices, specs, anonymous_read=anonymous_read)
        known = set(plan.by_key())
        unknown = sorted(set(rotate_identity or []) - known)
        if unknown:
            fail(f"--rotate-identity: no identity {', '.join(unknown)} (known: api, recorder, gateway:{{id}}, "
                 "device ids of MQTT devices)")
        conf = ConfOptions(config_dir=config_dir, plain_port=plain_port or None,
                           tls=TlsListener(port=tls_port, certfile=tls_cert, keyfile=tls_key, cafile=tls_client_ca,
                                           require_certificate=require_client_cert))
        written = write_broker_files(plan, folder, rotate=True if rotate else set(rotate_identity or []),
                                     conf=conf, header=f"generated by `signalight broker init` from {s.manifest}")
    except (OSError, ManifestError, AclError, CredentialsError, ValueError) as exc:
        fail(str(exc))
    for what, keys in (("created", written.created), ("kept", written.kept), ("rotated", written.rotated),
                       ("removed", written.removed)):
        if keys:
            typer.echo(f"{what}: {len(keys)} ({', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''})")
    if plan.unowned:
        typer.secho(f"warning: no gateway serves {len(plan.unowned)} Modbus device(s): {', '.join(plan.unowned[:8])}"
                    " (add --gateway ID=SHARD)", err=True, fg=typer.colors.YELLOW)
    typer.echo(f"broker files in {folder}: password_file, acl_file, mosquitto.conf, credentials.json, devices.json, "
               "env/*.env (reload Mosquitto with SIGHUP to apply)")
