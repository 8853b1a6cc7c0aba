"""The broker layer of command integrity, black-box: Mosquitto with the generated password_file and acl_file, the
simulator, gateway, recorder and API as separate processes, each logged in as its own identity.

Four attackers on the network each publish forged `flash`, `reset_conflict` and `deploy_plan` commands to signals:
an anonymous client, a wrong password, the gateway of another shard, and a registered MQTT device (compromised:
the test holds its generated login). Neither signal changes (one stays in its conflict flash, the other never
flashes or takes the plan), no forged command reaches any subscriber, and the API's command list and audit log hold
only what the API issued; a command issued through the API still succeeds end to end.
(Signatures are the next layer: this test proves what the broker alone keeps out.)
"""

from __future__ import annotations

import json
import subprocess
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE_PLAN = Path(__file__).resolve().parents[1] / "contracts" / "plans" / "examples" / "tn-001-weekday.json"
ROGUE_DEVICE = "tn-cab-901"  # registered, speaks MQTT, compromised: the attacker holds its login


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _until(minutes: float = 10) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(name: str, args: dict[str, Any]) -> tuple[str, str]:
    command_id = f"forged-{uuid.uuid4().hex[:12]}"
    return command_id, json.dumps({"id": command_id, "name": name, "args": args, "issued_by": "ops",
                                   "expires_at": _until()})


def _publish(broker: Mosquitto, login: tuple[str, str] | None, topic: str, payload: str, version: str
             ) -> subprocess.CompletedProcess[str]:
    auth = [] if login is None else ["-u", login[0], "-P", login[1]]
    return subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-V", version,
                           *auth, "-t", topic, "-m", payload], capture_output=True, text=True, timeout=20,
                          check=False)


def plan_crc32(plan: Any) -> int:
    """The CRC-32 of a plan's transfer encoding, from the contract (contracts/plans/README.md): UTF-8 JSON, keys
    sorted, no whitespace, integral numbers as integers."""
    def canonical(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: canonical(x) for k, x in v.items()}
        if isinstance(v, list):
            return [canonical(x) for x in v]
        return v
    return zlib.crc32(json.dumps(canonical(plan), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())


def test_only_the_api_commands_a_signal(tmp_path: Path, make_mosquitto: Callable[..., Mosquitto],
                                        request: pytest.FixtureRequest) -> None:
    mqtt_port, api_port = free_port(), free_port()
    env = rig_env(tmp_path, "127.0.0.1", mqtt_port, api_port)
    rig = Rig(tmp_path, env)
    request.addfinalizer(rig.stop_all)

    # 1. the fleet (Modbus only: it needs no broker), then the registry the broker and the gateways are built from
    rig.start("sim", "sim", "--intersections", "2", "--cabinets", "1", "--modbus-cabinets", "1")
    manifest = eventually(lambda: read_manifest(Path(env["SIGNALIGHT_MANIFEST"])), 60, "the simulator's manifest",
                          rig)
    registry = dict(manifest)
    registry["devices"] = [{**d, "shard": "a"} for d in manifest["devices"]] + [
        {"id": ROGUE_DEVICE, "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "shard": "b",
         "client_id": ROGUE_DEVICE}]
    registry_path = tmp_path / "registry.json"
    registry_path.write_text(json.dumps(registry))
    signals = sorted(d["id"] for d in manifest["devices"] if d["kind"] == "signal_controller")
    conflicted, target = signals[0], signals[1]

    out = tmp_path / "broker"
    made = rig.cli("broker", "init", "--manifest", str(registry_path), "--out", str(out),
                   "--gateway", "gw-a=a", "--gateway", "gw-b=b")
    assert "created: 5" in made.stdout, made.stdout + made.stderr
    broker = make_mosquitto(port=mqtt_port, password_file=out / "password_file", acl_file=out / "acl_file")
    creds = json.loads((out / "credentials.json").read_text())
    devices = json.loads((out / "devices.json").read_text())

    # 2. our processes, each with its own login
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "ops", "--role", "operator", "--password", "s3cret-pass-word")
    rig.cli("admin", "create-user", "chief", "--role", "admin", "--password", "s3cret-chief-word")
    rig.start("recorder", "recorder", env=_env_file(out / "env" / "recorder.env"))
    rig.start("api", "api", env=_env_file(out / "env" / "api.env"))
    rig.import_manifest(registry)  # the registry, not a birth, makes a device known
    rig.start("gateway", "gateway", "--manifest", str(registry_path), env=_env_file(out / "env" / "gateway-gw-a.env"))
    spy = subprocess.Popen(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-q", "1", "-v",
                            "-u", creds["recorder"]["username"], "-P", creds["recorder"]["password"],
                            "-t", "sl/v1/+/+/cmd"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    request.addfinalizer(spy.kill)

    api = rig.api
    token = eventually(lambda: httpx.post(f"{api}/api/v1/auth/token", timeout=5, data={
        "username": "ops", "password": "s3cret-pass-word"}).json().get("access_token"), 120, "a token", rig)
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    request.addfinalizer(client.close)

    def values(device: str) -> dict[str, Any] | None:
        d = client.get(f"/api/v1/devices/{device}").json()
        return d["state"]["values"] if d.get("status") == "online" and d.get("state") else None

    eventually(lambda: values(conflicted) and values(target), 120, "both signals online in the API", rig)
    rig.cli("fault", conflicted, "force_conflict", "--manifest", env["SIGNALIGHT_MANIFEST"])
    eventually(lambda: (v := values(conflicted)) and v["mode"] == "flash" and v["flash_cause"] == "conflict", 30,
               f"{conflicted} latched in conflict flash", rig)
    rig.cli("fault", conflicted, "force_conflict", "--args", '{"active": false}', "--manifest",
            env["SIGNALIGHT_MANIFEST"])  # the cause is gone: only a reset_conflict would end the flash now
    before = values(target)
    assert before is not None and before["mode"] != "flash"

    # 3. the attacks
    plan = json.loads(EXAMPLE_PLAN.read_text())
    crc = plan_crc32(plan)
    forgeries = [(conflicted, "reset_conflict", {}), (target, "flash", {"until": _until()}),
                 (target, "deploy_plan", {"plan": plan, "crc32": crc})]
    api_login = (creds["api"]["username"], creds["api"]["password"])
    attackers: dict[str, tuple[str, str] | None] = {
        "anonymous": None,
        "wrong password": (api_login[0], api_login[1][::-1]),
        "another shard's gateway": (creds["gateway:gw-b"]["username"], creds["gateway:gw-b"]["password"]),
        "a device": (devices[ROGUE_DEVICE]["username"], devices[ROGUE_DEVICE]["password"]),
    }
    forged_ids: list[str] = []
    for who, login in attackers.items():
        for device, name, args in forgeries:
            for version in ("mqttv311", "mqttv5"):
                command_id, payload = _envelope(name, args)
                forged_ids.append(command_id)
                result = _publish(broker, login, f"sl/v1/tn/{device}/cmd", payload, version)
                if login is None or who == "wrong password":
                    assert result.returncode != 0, f"{who} got in"
                    assert "not authori" in result.stderr.lower() or "refused" in result.stderr.lower(), \
                        result.stderr
    rig.assert_running()
    assert (values(target) or {}).get("mode") != "flash", "a forged flash was executed"

    # 4. the API still commands a signal end to end
    resp = client.post(f"/api/v1/devices/{target}/commands", json={"name": "flash", "args": {"until": _until()}})
    assert resp.status_code == 202, resp.text
    command_id = resp.json()["id"]
    done = eventually(lambda: (c := client.get(f"/api/v1/commands/{command_id}").json())["status"] != "pending"
                      and c, 30, "the API's flash to finish", rig)
    assert done["status"] == "succeeded", done
    # programmed flash is entered after the running phases' min green, ped clearance, yellow and red clearance
    eventually(lambda: (v := values(target)) and v["mode"] == "flash", 60, f"{target} in flash", rig)
    # No sleeping for an effect that must not come: the spy subscribed before the attacks, and the broker delivers
    # to it in order, so a forged command would have reached it (and the gateway) before the API's did.
    after_conflict = values(conflicted) or {}
    assert (after_conflict.get("mode"), after_conflict.get("flash_cause")) == ("flash", "conflict"), \
        f"a forged reset_conflict ended the conflict flash: {after_conflict}"
    assert (values(target) or {}).get("plan_crc32") == before.get("plan_crc32"), "a forged plan was deployed"
    gateway_log = rig.log("gateway")
    assert not any(i in gateway_log for i in forged_ids), "the gateway saw a forged command"

    commands = client.get("/api/v1/commands").json()
    assert [c["id"] for c in commands] == [command_id]
    chief = httpx.post(f"{api}/api/v1/auth/token", timeout=10, data={
        "username": "chief", "password": "s3cret-chief-word"}).json()["access_token"]
    audit = httpx.get(f"{api}/api/v1/audit", params={"action": "command."}, timeout=10,
                      headers={"Authorization": f"Bearer {chief}"}).raise_for_status().json()
    assert audit and all(e["actor"] == "ops" and e["target"] == target for e in audit), audit
    assert not any(i in json.dumps(audit) for i in forged_ids)

    spy.terminate()
    seen, _ = spy.communicate(timeout=10)
    delivered = [line.split(" ", 1) for line in seen.splitlines()]
    assert [(topic, json.loads(payload)["id"]) for topic, payload in delivered] == \
        [(f"sl/v1/tn/{target}/cmd", command_id)], "only the API's command went over the broker"
    broker_log = broker.log_path.read_text(errors="replace")
    assert "not authorised" in broker_log or "not authorized" in broker_log, "refusals are in the broker's log"
