"""Street lighting end to end, as separate processes on real Mosquitto: `signalight sim` (one Modbus and one MQTT
cabinet), `signalight gateway` and `signalight api`. A lighting document refused by the rules is never stored; the
demo's city document deployed to the site ends `active` on both cabinets, each reporting its CRC (MQTT in its
`lighting` block, Modbus in `program_crc32` read back through the gateway); a crew's override lights a circuit,
and luminaires failing on it (a dropped current) raise an alarm that names the cabinet and the circuit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLE = Path(__file__).resolve().parents[1] / "contracts" / "lighting" / "examples" / "thai-nguyen-city.json"
PASSWORD = "s3cret-pass-word"


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Any:
    env = rig_env(tmp_path, mosquitto.host, mosquitto.port, free_port())
    with Rig(tmp_path, env) as r:
        yield r


def _client(rig: Rig, user: str, request: pytest.FixtureRequest) -> httpx.Client:
    api = rig.api
    token = eventually(lambda: httpx.post(f"{api}/api/v1/auth/token", timeout=5,
                                          data={"username": user, "password": PASSWORD}).json()
                       .get("access_token"), 30, f"a token for {user}", rig)
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    request.addfinalizer(client.close)
    return client


def test_lighting_document_deploys_to_modbus_and_mqtt_cabinets_and_a_lamp_failure_names_its_circuit(
        rig: Rig, request: pytest.FixtureRequest) -> None:
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "eng", "--role", "engineer", "--password", PASSWORD)
    rig.cli("admin", "create-user", "crew", "--role", "crew", "--password", PASSWORD)
    rig.start("api", "api")
    rig.start("sim", "sim", "--intersections", "0", "--cabinets", "2", "--modbus-cabinets", "1")
    manifest = eventually(lambda: read_manifest(Path(rig.env["SIGNALIGHT_MANIFEST"])), 60, "the manifest", rig)
    rig.import_manifest(manifest)  # the registry, not a birth, makes a device known
    rig.start("gateway", "gateway")
    cabinets = {d["transport"]: d["id"] for d in manifest["devices"] if d["kind"] == "lighting_cabinet"}
    eng, crew = _client(rig, "eng", request), _client(rig, "crew", request)
    for device in cabinets.values():
        eventually(lambda d=device: (v := eng.get(f"/api/v1/devices/{d}").json()).get("status") == "online"
                   and v.get("state"), 45, f"cabinet {device} online in the API", rig)

    # 1. refused by the rules: 422 naming each, nothing stored
    bad: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    bad["programs"][0]["steps"].insert(1, {"at": "18:00", "level_pct": 80})     # overlaps sunset+10 in summer
    refused = eng.post("/api/v1/lighting/documents/city", json=bad)
    assert refused.status_code == 422 and "step_order" in {e["rule"] for e in refused.json()["errors"]}
    assert eng.get("/api/v1/lighting/documents").json() == []

    # 2. the city document to the whole site: active on both cabinets, each reporting the document's CRC
    created = eng.post("/api/v1/lighting/documents/city", json=json.loads(EXAMPLE.read_text(encoding="utf-8")))
    assert created.status_code == 201, created.text
    crc = created.json()["crc32"]
    batch = eng.post("/api/v1/lighting/documents/city/versions/1/deploy", json={"site": "tn"})
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["batch_id"]
    done = eventually(lambda: (b := eng.get(f"/api/v1/lighting/batches/{batch_id}").json())["counts"] == {
        "active": 2} and b, 90, "both cabinets active", rig, interval=0.5)
    assert {d["device_id"] for d in done["deployments"]} == set(cabinets.values())
    mqtt_state = eventually(lambda: (eng.get(f"/api/v1/devices/{cabinets['mqtt']}").json()["state"]["values"]
                                     .get("lighting") or {}).get("crc32") == crc, 30, "MQTT cabinet runs it", rig)
    modbus = eventually(lambda: (eng.get(f"/api/v1/devices/{cabinets['modbus']}").json()["state"]["values"]
                                 .get("lighting") or {}).get("crc32") == crc, 30, "Modbus cabinet runs it", rig)
    assert mqtt_state and modbus
    view = crew.get(f"/api/v1/cabinets/{cabinets['mqtt']}/lighting").json()
    assert view["program"]["version"] == 1 and len(view["program"]["circuits"]) == 4

    # 3. a crew lights circuit 2 for maintenance; half its luminaires fail: an alarm naming cabinet and circuit
    cabinet = cabinets["mqtt"]
    loads = eng.get(f"/api/v1/devices/{cabinet}").json()["birth"]["loads"]
    failing = next(c["luminaires"] for c in loads if c["circuit"] == 2) // 2
    held = crew.put(f"/api/v1/cabinets/{cabinet}/circuits/2/override",
                    json={"level_pct": 100, "duration_min": 60, "reason": "kiểm tra đèn"})
    assert held.status_code == 200, held.text
    eventually(lambda: crew.get(f"/api/v1/cabinets/{cabinet}/lighting").json()["circuits"][1]["on"], 30,
               "circuit 2 lit by the override", rig)
    control_url = manifest["control"]["url"]
    fault = httpx.post(f"{control_url}/faults", timeout=10, json={
        "device": cabinet, "fault": "lamp_failure", "args": {"circuit": 2, "count": failing}})
    assert fault.status_code == 200, fault.text

    def lamp_alarm() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = crew.get("/api/v1/alarms", params={"active": "true"}).json()
        return [a for a in found if a["kind"] == "lamp_failure" and a["device_id"] == cabinet]

    (alarm,) = eventually(lamp_alarm, 30, "the lamp failure alarm", rig)
    assert alarm["circuit"] == 2 and alarm["label"]["vi"] == "Hỏng đèn · mạch 2", alarm
    assert f"~{failing} of " in alarm["detail"], alarm["detail"]
    for name in ("gateway", "sim", "api"):
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
