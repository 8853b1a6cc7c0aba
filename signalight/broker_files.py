"""The broker's files, generated from a rule set (`signalight.broker_acl`): `signalight broker init`.

In the output folder:
- `password_file` (Mosquitto `$7$` hashes) and `acl_file`: what the broker reads (Mosquitto, or the demo's amqtt);
- `credentials.json` (0600): `{identity: {"username", "password"}}` of our processes (`api`, `recorder`,
  `gateway:{id}`);
- `devices.json` (0600): `{device_id: {"username", "password"}}` of the devices that speak MQTT themselves (the
  simulator takes it with `--credentials`; real devices get theirs from it when they are commissioned);
- `env/{name}.env` (0600): the same secrets as `SIGNALIGHT_MQTT_USERNAME` / `SIGNALIGHT_MQTT_PASSWORD` (and a
  gateway's id and shard) for docker-compose's `env_file`;
- `mosquitto.conf`: listeners with `allow_anonymous false`, `per_listener_settings`, a TLS listener.

Passwords are random (`secrets`), never derived, never in the repository. A rerun keeps every existing password
(a device keeps working) unless it is rotated; identities that left the registry lose their login.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signalight.broker_acl import AclPlan, Identity, Role, render_acl
from signalight.broker_passwords import render_password_file

PASSWORD_BYTES = 24  # 32 URL-safe characters, 192 bits


class CredentialsError(ValueError):
    """An existing credentials file that cannot be read back."""


@dataclass(frozen=True)
class TlsListener:
    """The TLS listener of the generated mosquitto.conf; paths as the broker sees them."""

    port: int = 8883
    certfile: str = "/mosquitto/certs/server.crt"
    keyfile: str = "/mosquitto/certs/server.key"
    cafile: str | None = None              # a CA for client certificates
    require_certificate: bool = False      # clients must present a certificate signed by `cafile`


@dataclass(frozen=True)
class ConfOptions:
    """Where the broker finds our files, and its listeners. `plain_port` None: TLS only."""

    config_dir: str = "/mosquitto/config"
    tls: TlsListener = TlsListener()
    plain_port: int | None = 1883
    plain_bind: str | None = None


@dataclass(frozen=True)
class Written:
    """What a run did: identities created, kept, rotated and removed (by key)."""

    created: tuple[str, ...]
    kept: tuple[str, ...]
    rotated: tuple[str, ...]
    removed: tuple[str, ...]


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def _read_json(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CredentialsError(f"{path}: not valid JSON ({exc}); fix or remove it (removing changes every "
                               "password in it)") from None
    if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("username"), str) and isinstance(v.get("password"), str)
            and v["password"] for v in data.values()):
        raise CredentialsError(f"{path}: expected {{identity: {{\"username\": ..., \"password\": ...}}}}")
    return data


def existing_credentials(out: Path) -> dict[str, dict[str, str]]:
    """Every credential already in `out` (processes and devices), by identity key."""
    return {**_read_json(out / "devices.json"), **_read_json(out / "credentials.json")}


def assign_passwords(plan: AclPlan, existing: dict[str, dict[str, str]], *, rotate: bool | Collection[str] = False
                     ) -> tuple[dict[str, str], Written]:
    """{key: password} for every identity of `plan`: kept from `existing` when its username is unchanged and it is
    not rotated (`rotate` True: all; a collection: those keys)."""
    passwords: dict[str, str] = {}
    created, kept, rotated = [], [], []
    for ident in plan.identities:
        old = existing.get(ident.key)
        if old is None or old["username"] != ident.username:
            passwords[ident.key] = new_password()
            created.append(ident.key)
        elif rotate is True or (not isinstance(rotate, bool) and ident.key in rotate):
            passwords[ident.key] = new_password()
            rotated.append(ident.key)
        else:
            passwords[ident.key] = old["password"]
            kept.append(ident.key)
    removed = tuple(sorted(set(existing) - set(passwords)))
    return passwords, Written(tuple(created), tuple(kept), tuple(rotated), removed)


def _write(path: Path, text: str, mode: int) -> None:
    """Atomically (temp file and rename), created with `mode` so a secret is never readable by others."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def env_name(ident: Identity) -> str:
    if ident.role is Role.GATEWAY:
        assert ident.gateway is not None
        return f"gateway-{ident.gateway.gateway_id}"
    return ident.key


def env_file(ident: Identity, password: str) -> str:
    lines = [f"SIGNALIGHT_MQTT_USERNAME={ident.username}", f"SIGNALIGHT_MQTT_PASSWORD={password}"]
    if ident.gateway is not None:
        lines.append(f"SIGNALIGHT_GATEWAY_ID={ident.gateway.gateway_id}")
        if ident.gateway.shard is not None:
            lines.append(f"SIGNALIGHT_GATEWAY_SHARD={ident.gateway.shard}")
    return "\n".join(lines) + "\n"


def render_conf(options: ConfOptions) -> str:
    """A mosquitto.conf (2.x) with authenticated listeners only; include it from the main config."""
    auth = (f"allow_anonymous false\npassword_file {options.config_dir}/password_file\n"
            f"acl_file {options.config_dir}/acl_file\n")
    out = [
        "# generated by `signalight broker init`: every client authenticates, each listener has its own settings",
        "per_listener_settings true",
        "set_tcp_nodelay true",
        "",
    ]
    if options.plain_port is not None:
        out += ["# plain MQTT: for the signalight processes on a private network only; never publish this port",
                f"listener {options.plain_port}" + (f" {options.plain_bind}" if options.plain_bind else ""),
                auth]
    tls = options.tls
    out += ["# MQTT over TLS: devices in the field and remote gateways",
            f"listener {tls.port}", f"certfile {tls.certfile}", f"keyfile {tls.keyfile}", "tls_version tlsv1.2"]
    if tls.cafile is not None:
        out.append(f"cafile {tls.cafile}")
    if tls.require_certificate:
        if tls.cafile is None:
            raise ValueError("require_certificate needs a cafile (the CA that signs the client certificates)")
        out.append("require_certificate true")
    out.append(auth)
    return "\n".join(out)


def write_broker_files(plan: AclPlan, out: Path, *, rotate: bool | Collection[str] = False,
                       conf: ConfOptions | None = None, header: str = "") -> Written:
    """Write every broker file of `plan` into `out` (created 0700). Raises CredentialsError for an unreadable
    existing credentials file (nothing is written then)."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    passwords, written = assign_passwords(plan, existing_credentials(out), rotate=rotate)
    by_key = plan.by_key()
    processes = {k: {"username": by_key[k].username, "password": p} for k, p in passwords.items()
                 if by_key[k].role is not Role.DEVICE}
    devices = {k: {"username": by_key[k].username, "password": p} for k, p in passwords.items()
               if by_key[k].role is Role.DEVICE}
    # Hashes only, but 0640: nobody but the broker's owner/group needs to read who may log in.
    _write(out / "password_file", render_password_file({by_key[k].username: p for k, p in passwords.items()}),
           0o640)
    _write(out / "acl_file", render_acl(plan, header), 0o640)
    _write(out / "credentials.json", json.dumps(processes, indent=2, sort_keys=True) + "\n", 0o600)
    _write(out / "devices.json", json.dumps(devices, indent=2, sort_keys=True) + "\n", 0o600)
    env_dir = out / "env"
    env_dir.mkdir(exist_ok=True, mode=0o700)
    names = set()
    for key, ident in by_key.items():
        if ident.role is not Role.DEVICE:
            names.add(f"{env_name(ident)}.env")
            _write(env_dir / f"{env_name(ident)}.env", env_file(ident, passwords[key]), 0o600)
    for stale in env_dir.glob("*.env"):
        if stale.name not in names:  # a gateway that left: its secret goes with it
            stale.unlink()
    _write(out / "mosquitto.conf", render_conf(conf or ConfOptions()), 0o644)
    return written


def load_credentials(path: Path) -> dict[str, dict[str, str]]:
    """A credentials file (`credentials.json` or `devices.json`). Raises OSError, CredentialsError."""
    if not path.is_file():
        raise CredentialsError(f"{path}: no such credentials file (run `signalight broker init`)")
    return _read_json(path)
