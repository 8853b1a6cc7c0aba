"""The walking skeleton, end to end: sim, gateway, recorder and API as separate processes on real Mosquitto and
real InfluxDB. What an operator sees through the API is what the devices themselves report on the wire.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from contracts import mqtt_schema_path
from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import InfluxDB, Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

INTERSECTIONS = 2
CABINETS = 3  # one on Modbus, two on MQTT


def _until(minutes: float = 10) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retained_states(broker: Mosquitto, count: int) -> dict[str, dict[str, Any]]:
    """The retained `state` of every device, as an external client (mosquitto_sub) sees it."""
    out = subprocess.run(
        ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", "sl/v1/+/+/state", "-v",
         "-C", str(count), "-W", "10", "--retained-only"],
        capture_output=True, text=True, timeout=20, check=False).stdout
    states = {}
    for line in out.splitlines():
        topic, _, payload = line.partition(" ")
        states[topic.split("/")[3]] = json.loads(payload)
    return states


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB) -> Any:
    api_port = free_port()
    env = rig_env(tmp_path, mosquitto.host, mosquitto.port, api_port)
    env.update({
        "SIGNALIGHT_MQTT_V5": "true",
        "SIGNALIGHT_STORE": "influxdb",
        "SIGNALIGHT_INFLUX_URL": influxdb.url,
        "SIGNALIGHT_INFLUX_DATABASE": influxdb.database,
    })
    with Rig(tmp_path, env) as r:
        yield r


def test_devices_commands_and_telemetry_across_processes(rig: Rig, mosquitto: Mosquitto, influxdb: InfluxDB,
                                                       request: pytest.FixtureRequest) -> None:
    manifest_path = Path(rig.env["SIGNALIGHT_MANIFEST"])
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "ops", "--role", "operator", "--password", "s3cret-pass-word")

    rig.start("recorder", "recorder")
    rig.start("api", "api")
    rig.start("sim", "sim", "--intersections", str(INTERSECTIONS), "--cabinets", str(CABINETS),
              "--modbus-cabinets", "1")
    manifest = eventually(lambda: read_manifest(manifest_path), 60, "the simulator's manifest", rig)
    rig.import_manifest(manifest)
    rig.start("gateway", "gateway")
    devices = {d["id"]: d for d in manifest["devices"]}
    assert len(devices) == INTERSECTIONS + CABINETS
    signal_id = next(d for d, v in devices.items() if v["kind"] == "signal_controller")
    mqtt_cabinet = next(d for d, v in devices.items() if v["kind"] == "lighting_cabinet" and v["transport"] == "mqtt")
    modbus_cabinet = next(d for d, v in devices.items()
                          if v["kind"] == "lighting_cabinet" and v["transport"] == "modbus")

    api: str = rig.api
    token = eventually(lambda: httpx.post(f"{api}/api/v1/auth/token", timeout=5,
                                          data={"username": "ops", "password": "s3cret-pass-word"}).json()
                       .get("access_token"), 30, "a token from the API", rig)
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    request.addfinalizer(client.close)
    assert httpx.get(f"{api}/api/v1/devices", timeout=5).status_code == 401

    # 1. every device visible and online, with its state, through the API
    def all_online() -> list[dict[str, Any]] | None:
        listed = client.get("/api/v1/devices").raise_for_status().json()
        seen = {d["id"]: d for d in listed if d["status"] == "online" and d["state"]}
        return listed if set(seen) >= set(devices) else None

    listed = eventually(all_online, 45, "every device online with state in the API", rig)
    signal = next(d for d in listed if d["id"] == signal_id)
    assert signal["kind"] == "signal_controller"
    assert set(signal["state"]["values"]["phases"]) == {str(n) for n in range(1, 9)}

    # the retained state on the broker is what any external MQTT client sees, and it follows the contract
    retained = _retained_states(mosquitto, len(devices))
    assert set(retained) == set(devices)
    schema = json.loads(mqtt_schema_path("state").read_text())
    for payload in retained.values():
        jsonschema.validate(payload, schema)

    # 2. flash an intersection: confirmed by the controller's own reported state
    resp = client.post(f"/api/v1/devices/{signal_id}/commands", json={"name": "flash", "args": {"until": _until()}})
    assert resp.status_code == 202, resp.text
    command_id = resp.json()["id"]
    done = eventually(lambda: (c := client.get(f"/api/v1/commands/{command_id}").json())["status"] != "pending"
                      and c, 30, "the flash command to finish", rig)
    assert done["status"] == "succeeded", done
    # programmed flash is entered after the running phases' min green, ped clearance, yellow and red clearance
    eventually(lambda: _retained_states(mosquitto, len(devices))[signal_id]["values"]["mode"] == "flash", 60,
               "the controller to report flash on the bus", rig)
    assert client.get(f"/api/v1/devices/{signal_id}").json()["state"]["values"]["mode"] == "flash"

    # 3. switch a circuit of an MQTT cabinet and of the Modbus cabinet
    for cabinet in (mqtt_cabinet, modbus_cabinet):
        resp = client.post(f"/api/v1/devices/{cabinet}/commands",
                           json={"name": "switch", "args": {"circuit": 2, "level_pct": 40, "until": _until()}})
        assert resp.status_code == 202, resp.text
        cid = resp.json()["id"]
        def finished(cid: str = cid) -> dict[str, Any] | None:
            command: dict[str, Any] = client.get(f"/api/v1/commands/{cid}").json()
            return command if command["status"] != "pending" else None

        done = eventually(finished, 30, f"the switch command of {cabinet}", rig)
        assert done["status"] == "succeeded", done

        def circuit2(cabinet: str = cabinet) -> dict[str, Any] | None:
            state = _retained_states(mosquitto, len(devices))[cabinet]["values"]
            c2 = next(c for c in state["circuits"] if c["circuit"] == 2)
            return c2 if c2["on"] and abs(c2["level_pct"] - 40) < 0.5 else None

        eventually(circuit2, 15, f"{cabinet} to report circuit 2 on at 40 %", rig)

    # a bad command changes nothing and says what is wrong
    resp = client.post(f"/api/v1/devices/{mqtt_cabinet}/commands",
                       json={"name": "switch", "args": {"circuit": 2, "level_pct": 140, "until": _until()}})
    assert resp.status_code == 422
    assert "level_pct" in resp.text

    # 4. telemetry reached InfluxDB
    def telemetry_rows() -> int:
        result = influxdb.query(f'SELECT count(*) FROM "lighting_cabinet" WHERE "device" = \'{mqtt_cabinet}\'')
        series = result["results"][0].get("series")
        return int(max(v for v in series[0]["values"][0][1:] if v is not None)) if series else 0

    eventually(telemetry_rows, 45, "telemetry of an MQTT cabinet in InfluxDB", rig, interval=1)

    def signal_rows() -> int:
        result = influxdb.query(f'SELECT count(*) FROM "signal_controller" WHERE "device" = \'{signal_id}\'')
        series = result["results"][0].get("series")
        return 1 if series else 0

    eventually(signal_rows, 45, "telemetry of a Modbus signal controller in InfluxDB", rig, interval=1)

    # 5. every process stops cleanly and quickly on SIGTERM
    for name in ("gateway", "sim", "api", "recorder"):
        code, took = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
        assert took < 5, f"{name} took {took:.1f} s to stop"
