"""Timing plans end to end, as separate processes on real Mosquitto: `signalight sim`, `signalight gateway` and
`signalight api`. A refused plan never reaches the device; a valid plan with a new cycle ends `active` and the
controller reports the new cycle; manual flash is held by renewed backup timers, and when the API is stopped the
controller returns to its own schedule within the backup time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.plan_rig import INTERSECTION, NEW_CYCLE_S, PASSWORD, api_client, deploy_and_wait, plan_for, signal_values
from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

BACKUP_S = 9.0
@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Any:
    api_port = free_port()
    env = rig_env(tmp_path, mosquitto.host, mosquitto.port, api_port)
    with Rig(tmp_path, env) as r:
        yield r


@dataclass
class Setup:
    signal_id: str
    manifest: dict[str, Any]
    eng: httpx.Client
    ops: httpx.Client

    @property
    def plans_url(self) -> str:
        return f"/api/v1/intersections/{INTERSECTION}/plans"


def _start(rig: Rig, request: pytest.FixtureRequest) -> Setup:
    """API, one simulated controller and the gateway; an intersection `tn-hil-001` run by that controller."""
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "eng", "--role", "engineer", "--password", PASSWORD)
    rig.cli("admin", "create-user", "ops", "--role", "operator", "--password", PASSWORD)
    rig.start("api", "api")
    rig.start("sim", "sim", "--intersections", "1", "--cabinets", "0", "--modbus-cabinets", "0")
    manifest = eventually(lambda: read_manifest(Path(rig.env["SIGNALIGHT_MANIFEST"])), 60, "the manifest", rig)
    rig.import_manifest(manifest)
    rig.start("gateway", "gateway")
    signal_id = next(d["id"] for d in manifest["devices"] if d["kind"] == "signal_controller")
    eng = api_client(rig, "eng", request)
    ops = api_client(rig, "ops", request)
    eventually(lambda: (d := eng.get(f"/api/v1/devices/{signal_id}").json()).get("status") == "online"
               and d.get("state"), 45, "the controller online in the API", rig)
    resp = eng.post("/api/v1/intersections", json={"id": INTERSECTION, "site": "tn", "name": "Ngã tư thử nghiệm",
                                                   "controller_id": signal_id})
    assert resp.status_code == 201, resp.text
    return Setup(signal_id, manifest, eng, ops)


def test_deploy_refuse_and_manual_flash_with_backup_timer(rig: Rig, mosquitto: Mosquitto,
                                                          request: pytest.FixtureRequest) -> None:
    setup = _start(rig, request)
    signal_id, eng, ops, plans_url = setup.signal_id, setup.eng, setup.ops, setup.plans_url

    # 1. a refused plan: 422 naming the rules, nothing stored, nothing sent to the device
    bad = plan_for(INTERSECTION)
    bad["phases"][1]["yellow_s"] = 2.0
    refused = eng.post(plans_url, json=bad)
    assert refused.status_code == 422, refused.text
    assert "yellow_min" in {e["rule"] for e in refused.json()["errors"]}
    assert eng.get(plans_url).json()["versions"] == []
    assert eng.get(f"/api/v1/intersections/{INTERSECTION}/deployments").json() == []

    # 2. a valid plan with a new cycle: deployed, active, and the controller runs the new cycle
    created = eng.post(plans_url, json=plan_for(INTERSECTION), params={"comment": "chu kỳ 110 s"})
    assert created.status_code == 201, created.text
    version, crc = created.json()["version"], created.json()["crc32"]
    done, stages = deploy_and_wait(rig, eng, plans_url, version)
    assert done["status"] == "active", (done, stages, rig.log("gateway")[-3000:])
    assert eng.get(plans_url).json()["active_version"] == version
    values = eventually(lambda: (v := signal_values(mosquitto, signal_id)).get("cycle_s") == NEW_CYCLE_S and v,
                        30, "the controller to report the new cycle", rig)
    if "plan_crc32" in values:
        assert values["plan_crc32"] == crc

    # 3. manual flash with a short backup timer, renewed by the API
    until = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = ops.post(f"/api/v1/intersections/{INTERSECTION}/control",
                       json={"action": "flash", "until": until, "backup_s": BACKUP_S})
    assert started.status_code == 202, started.text
    eventually(lambda: signal_values(mosquitto, signal_id)["mode"] == "flash", 60, "the controller to flash", rig)
    time.sleep(2 * BACKUP_S)  # a real process, a real timer: outlive the first backup period
    assert signal_values(mosquitto, signal_id)["mode"] == "flash", "renewals keep it flashing"
    assert ops.get(f"/api/v1/intersections/{INTERSECTION}/control").json()["active"]["renewals"] >= 3

    # 4. the center goes silent: the controller's backup timer ends and it returns to its schedule by itself
    code, _ = rig.stop("api")
    assert code == 0, rig.log("api")[-3000:]
    stopped = time.monotonic()
    # leaving flash takes 5 s startup flash and 3 s all red after the backup timer runs out
    eventually(lambda: signal_values(mosquitto, signal_id)["mode"] in ("coordinated", "free"), BACKUP_S + 20,
               "the controller back on its schedule", rig=None, interval=0.5)
    assert time.monotonic() - stopped <= BACKUP_S + 20
    for name in ("gateway", "sim"):
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"


def test_corrupted_transfer_fails_and_the_old_plan_keeps_running(rig: Rig, mosquitto: Mosquitto,
                                                                 request: pytest.FixtureRequest) -> None:
    setup = _start(rig, request)
    signal_id, eng, plans_url = setup.signal_id, setup.eng, setup.plans_url
    before = signal_values(mosquitto, signal_id)
    control_url = setup.manifest["control"]["url"]
    fault = httpx.post(f"{control_url}/faults", timeout=10,
                       json={"device": signal_id, "fault": "corrupt_plan_transfer", "args": {"at": "write"}})
    assert fault.status_code == 200, fault.text
    created = eng.post(plans_url, json=plan_for(INTERSECTION))
    assert created.status_code == 201, created.text
    version, crc = created.json()["version"], created.json()["crc32"]

    done, stages = deploy_and_wait(rig, eng, plans_url, version)
    assert done["status"] in ("rolled_back", "failed"), (done, stages)
    assert done["error"] in ("readback_mismatch", "crc_mismatch"), done
    assert done["message"], "the controller's reason is kept"
    assert eng.get(plans_url).json()["active_version"] is None
    after = signal_values(mosquitto, signal_id)
    assert after.get("plan_crc32") == before.get("plan_crc32") != crc, "the old plan keeps running"
    assert after.get("cycle_s") != NEW_CYCLE_S

    def deploy_alarm() -> list[dict[str, Any]]:
        alarms: list[dict[str, Any]] = eng.get("/api/v1/alarms", params={"active": "true"}).json()
        return [a for a in alarms if a["kind"] == "plan_deploy_failed" and a["device_id"] == signal_id]

    alarm = eventually(deploy_alarm, 10, "the plan_deploy_failed alarm", rig)
    assert alarm[0]["label"]["en"] == "Plan deploy failed"

    # fault cleared: the same version deploys, and the success clears the alarm
    cleared = httpx.post(f"{control_url}/faults", timeout=10, json={
        "device": signal_id, "fault": "corrupt_plan_transfer", "args": {"active": False}})
    assert cleared.status_code == 200, cleared.text
    done, stages = deploy_and_wait(rig, eng, plans_url, version)
    assert done["status"] == "active", (done, stages, rig.log("gateway")[-3000:])
    eventually(lambda: not deploy_alarm(), 10, "the alarm to clear", rig)
    eventually(lambda: signal_values(mosquitto, signal_id).get("cycle_s") == NEW_CYCLE_S, 30,
               "the controller to report the new cycle", rig)
