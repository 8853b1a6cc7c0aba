"""A gateway hard-killed (SIGKILL) among separate processes on a real Mosquitto: its Modbus devices go offline
(`gateway_offline`) in the API and for any bus subscriber applying the contract's rule, within the will delay; they
stay offline across an API restart; a restarted gateway brings them back and clears their comm_loss alarms. A hung
gateway (SIGSTOP: its connection open and silent, as after a power loss or a network cut) is declared offline by the
broker's keepalive, and its devices come back when it resumes."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

KEEPALIVE_S = 5
#: 1.5 × the keepalive after the last packet, plus up to 6 s: Mosquitto 2.0.11 disconnects a client silent for more
#: than int(1.5 × keepalive) whole seconds, and looks every 5 s. A killed process's socket is closed by its host, so
#: the broker publishes the will at once; the bound is what a power loss or a network cut takes.
WILL_DELAY_S = KEEPALIVE_S * 1.5 + 6


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Any:
    api_port = free_port()
    env = rig_env(tmp_path, mosquitto.host, mosquitto.port, api_port)
    env["SIGNALIGHT_MQTT_KEEPALIVE_S"] = str(KEEPALIVE_S)
    with Rig(tmp_path, env) as r:
        yield r


def consumer_rule(own: tuple[str, str | None], birth_gateway: dict[str, str] | None,
                  presence: dict[str, Any] | None) -> tuple[str, str | None] | None:
    """The contract's consumer rule (contracts/mqtt/topics-v1.md, Gateways), written here from the contract and not
    taken from the code under test: (status, reason) of a device, None for "keep what was shown"."""
    if birth_gateway is None:
        return own
    if presence is not None and presence["status"] == "offline":
        return "offline", "gateway_offline"
    if own[0] == "offline":
        return own
    if presence is None:
        return None
    if presence["session"] != birth_gateway["session"]:
        return "offline", "gateway_restarted"
    return own


def bus_view(broker: Mosquitto, count: int) -> dict[str, tuple[str, str | None] | None]:
    """What a plain bus subscriber concludes from the retained messages alone, by the contract's rule:
    device id → (status, reason)."""
    out = subprocess.run(
        ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-v", "--retained-only", "-C", str(count),
         "-W", "5", "-t", "sl/v1/_gateway/+/presence", "-t", "sl/v1/+/+/birth", "-t", "sl/v1/+/+/status"],
        capture_output=True, text=True, timeout=20, check=False).stdout
    presences: dict[str, dict[str, Any]] = {}
    gateways: dict[str, dict[str, str] | None] = {}
    own: dict[str, tuple[str, str | None]] = {}
    for line in out.splitlines():
        topic, _, payload = line.partition(" ")
        levels, data = topic.split("/"), json.loads(payload)
        if levels[2] == "_gateway":
            presences[levels[3]] = data
        elif levels[4] == "birth":
            gateways[levels[3]] = data.get("gateway")
        else:
            own[levels[3]] = (data["status"], data.get("reason"))
    view = {}
    for device, status in own.items():
        ref = gateways.get(device)
        view[device] = consumer_rule(status, ref, presences.get(ref["id"]) if ref else None)
    return view


def default_gateway_id() -> str:
    """The contract's default gateway id without a shard: `{host}-all`, the host name's first label lower case,
    every character outside [a-z0-9_-] replaced by `-`."""
    host = re.sub(r"[^a-z0-9_-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-_")[:40].strip("-_")
    return f"{host or 'gateway'}-all"


def test_a_killed_gateway_makes_its_devices_offline_until_it_is_back(rig: Rig, mosquitto: Mosquitto) -> None:
    manifest_path = Path(rig.env["SIGNALIGHT_MANIFEST"])
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "ops", "--role", "operator", "--password", "s3cret-pass-word")
    rig.start("api", "api")
    rig.start("sim", "sim", "--intersections", "2", "--cabinets", "2", "--modbus-cabinets", "1")
    manifest = eventually(lambda: read_manifest(manifest_path), 60, "the simulator's manifest", rig)
    rig.import_manifest(manifest)
    rig.start("gateway", "gateway")
    devices = {d["id"]: d for d in manifest["devices"]}
    modbus = {d for d, v in devices.items() if v["transport"] == "modbus"}
    mqtt = set(devices) - modbus
    assert len(modbus) == 3 and len(mqtt) == 1

    api: str = rig.api

    def client() -> httpx.Client:
        token = eventually(lambda: httpx.post(f"{api}/api/v1/auth/token", timeout=5, data={
            "username": "ops", "password": "s3cret-pass-word"}).json().get("access_token"), 30, "a token", rig)
        return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def statuses(c: httpx.Client) -> dict[str, tuple[str, str | None, str | None]]:
        return {d["id"]: (d["status"], d["status_reason"], d["gateway"])
                for d in c.get("/api/v1/devices").raise_for_status().json()}

    def comm_loss(c: httpx.Client) -> dict[str, dict[str, Any]]:
        alarms = c.get("/api/v1/alarms", params={"kind": "comm_loss", "active": "true"}).raise_for_status().json()
        return {a["device_id"]: a for a in alarms}

    gateway_id = default_gateway_id()  # no SIGNALIGHT_GATEWAY_ID
    c = client()
    try:
        before = eventually(lambda: (s := statuses(c)) and all(s.get(d, ("",))[0] == "online" for d in devices)
                            and s, 60, "every device online in the API", rig)
        assert {d: before[d][2] for d in devices} == {d: gateway_id if d in modbus else None for d in devices}
        assert comm_loss(c) == {}
        first_session = c.get(f"/api/v1/devices/{min(modbus)}").json()["birth"]["gateway"]["session"]

        # 1. SIGKILL: no clean stop, so no `status offline` of its devices; only the broker's Last Will tells.
        proc = rig.procs.pop("gateway")
        proc.kill()
        proc.wait(10)
        killed = time.monotonic()

        def modbus_offline() -> dict[str, tuple[str, str | None, str | None]] | None:
            s = statuses(c)
            return s if all(s[d][:2] == ("offline", "gateway_offline") for d in modbus) else None

        after = eventually(modbus_offline, WILL_DELAY_S + 5, "the Modbus devices offline in the API", rig,
                           interval=0.1)
        took = time.monotonic() - killed
        assert took <= WILL_DELAY_S, f"{took:.1f} s"
        assert all(after[d][0] == "online" for d in mqtt), after  # devices speaking MQTT themselves are unaffected
        alarms = eventually(lambda: (a := comm_loss(c)) and set(a) == modbus and a, 15, "comm_loss alarms", rig)
        assert {a["detail"] for a in alarms.values()} == {f"gateway_offline: {gateway_id}"}
        # Any bus subscriber applying the contract's rule to the retained messages sees the same.
        view = bus_view(mosquitto, 1 + 2 * len(devices))
        assert {d: view[d] for d in modbus} == {d: ("offline", "gateway_offline") for d in modbus}
        assert all(view[d][0] == "online" for d in mqtt)

        # 2. The API restarts meanwhile: the retained presence gives it the same picture, and no alarm flaps.
        c.close()
        assert rig.stop("api")[0] == 0
        rig.procs.pop("api")
        rig.start("api-2", "api")
        c = client()
        eventually(modbus_offline, 30, "the Modbus devices still offline after an API restart", rig)
        assert {d: a["id"] for d, a in comm_loss(c).items()} == {d: a["id"] for d, a in alarms.items()}

        # 3. The gateway is back: same id, a new session; it announces itself and its devices again.
        rig.start("gateway-2", "gateway")
        back = eventually(lambda: (s := statuses(c)) and all(s[d][:2] == ("online", None) for d in devices) and s,
                          60, "every device online again", rig)
        assert {back[d][2] for d in modbus} == {gateway_id}
        eventually(lambda: comm_loss(c) == {}, 15, "the comm_loss alarms cleared", rig)
        births = {d: c.get(f"/api/v1/devices/{d}").json()["birth"]["gateway"] for d in modbus}
        assert len({b["session"] for b in births.values()}) == 1 and births[min(modbus)]["session"] != first_session
        assert bus_view(mosquitto, 1 + 2 * len(devices)) == {d: ("online", None) for d in devices}

        # 4. Hung: nothing closes its socket; the broker declares it dead after 1.5 × its keepalive of silence.
        hung = rig.procs.pop("gateway-2")
        hung.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            eventually(modbus_offline, WILL_DELAY_S + 5, "the hung gateway's devices offline", rig, interval=0.1)
            silent = time.monotonic() - frozen
            assert KEEPALIVE_S <= silent <= WILL_DELAY_S + 1, f"{silent:.1f} s"
        finally:
            hung.send_signal(signal.SIGCONT)
        rig.procs["gateway-2"] = hung
        # Resumed: the same process reconnects, announces itself with the same session, and its devices are back.
        eventually(lambda: all(s[:2] == ("online", None) for s in statuses(c).values()), 30,
                   "every device online after the gateway resumed", rig)
        eventually(lambda: comm_loss(c) == {}, 15, "the comm_loss alarms cleared again", rig)
        assert c.get(f"/api/v1/devices/{min(modbus)}").json()["birth"]["gateway"] == births[min(modbus)]
        # Nothing the gateways published was misread as a device's message.
        for name in ("api", "api-2"):
            assert "bus_payload_refused" not in rig.log(name), rig.log(name)[-3000:]
        print(f"gateway killed: offline in the API after {took:.2f} s; hung: after {silent:.2f} s")
    finally:
        c.close()
