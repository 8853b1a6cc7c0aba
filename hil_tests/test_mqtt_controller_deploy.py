"""A signal controller that speaks MQTT itself (`signalight sim --mqtt-controllers 1`), with no gateway: the API
deploys timing plans to it over the bus. A corrupted transfer is refused by the controller's CRC check and the old
plan keeps running; once the fault is cleared the same version deploys and the controller runs the new cycle.
Separate processes on a real Mosquitto, black box."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.plan_rig import INTERSECTION, NEW_CYCLE_S, PASSWORD, api_client, deploy_and_wait, plan_for, signal_values
from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Any:
    api_port = free_port()
    with Rig(tmp_path, rig_env(tmp_path, mosquitto.host, mosquitto.port, api_port)) as r:
        yield r


def test_api_deploys_to_an_mqtt_controller(rig: Rig, mosquitto: Mosquitto, request: pytest.FixtureRequest) -> None:
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "eng", "--role", "engineer", "--password", PASSWORD)
    rig.start("api", "api")
    rig.start("sim", "sim", "--intersections", "1", "--mqtt-controllers", "1", "--cabinets", "0",
              "--modbus-cabinets", "0")
    manifest: dict[str, Any] = eventually(lambda: read_manifest(Path(rig.env["SIGNALIGHT_MANIFEST"])), 60,
                                          "the manifest", rig)
    rig.import_manifest(manifest)
    [device] = [d for d in manifest["devices"] if d["kind"] == "signal_controller"]
    assert device["transport"] == "mqtt" and device["client_id"] == device["id"]
    signal_id = device["id"]
    eng = api_client(rig, "eng", request)
    eventually(lambda: (d := eng.get(f"/api/v1/devices/{signal_id}").json()).get("status") == "online"
               and d.get("state"), 45, "the MQTT controller online in the API (no gateway)", rig)
    resp = eng.post("/api/v1/intersections", json={"id": INTERSECTION, "site": "tn", "name": "Ngã tư MQTT",
                                                   "controller_id": signal_id})
    assert resp.status_code == 201, resp.text
    plans_url = f"/api/v1/intersections/{INTERSECTION}/plans"
    before = signal_values(mosquitto, signal_id)

    control_url = manifest["control"]["url"]
    fault = httpx.post(f"{control_url}/faults", timeout=10,
                       json={"device": signal_id, "fault": "corrupt_plan_transfer", "args": {}})
    assert fault.status_code == 200, fault.text
    created = eng.post(plans_url, json=plan_for(INTERSECTION))
    assert created.status_code == 201, created.text
    version, crc = created.json()["version"], created.json()["crc32"]
    done, stages = deploy_and_wait(rig, eng, plans_url, version)
    assert done["status"] in ("rolled_back", "failed") and done["error"] == "crc_mismatch", (done, stages)
    after = signal_values(mosquitto, signal_id)
    assert after["plan_crc32"] == before["plan_crc32"] != crc, "the old plan keeps running"

    cleared = httpx.post(f"{control_url}/faults", timeout=10, json={
        "device": signal_id, "fault": "corrupt_plan_transfer", "args": {"active": False}})
    assert cleared.status_code == 200, cleared.text
    done, stages = deploy_and_wait(rig, eng, plans_url, version)
    assert done["status"] == "active", (done, stages, rig.log("api")[-3000:])
    assert eng.get(plans_url).json()["active_version"] == version
    values = eventually(lambda: (v := signal_values(mosquitto, signal_id)).get("cycle_s") == NEW_CYCLE_S and v,
                        30, "the controller to report the new cycle", rig)
    assert values["plan_crc32"] == crc
    for name in ("api", "sim"):
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
