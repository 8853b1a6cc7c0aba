"""Timing plans through the API, shared by the HIL tests that deploy them: the example plan with a new cycle, an
API client for a user, a deployment followed to its end, the controller's retained state read off the bus."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.rig import Rig, eventually
from tests.servers import Mosquitto

EXAMPLES = Path(__file__).resolve().parents[1] / "contracts" / "plans" / "examples"
NEW_CYCLE_S = 110
PASSWORD = "s3cret-pass-word"
INTERSECTION = "tn-hil-001"  # not the controller's id: the API maps an intersection to its controller


def plan_for(intersection_id: str) -> dict[str, Any]:
    """The example plan for this controller, pattern 1 all day every day (so the check does not depend on the
    hour), its cycle changed from 120 to NEW_CYCLE_S (coordinated phases 2 and 6 give up the difference)."""
    plan: dict[str, Any] = json.loads((EXAMPLES / "tn-001-weekday.json").read_text(encoding="utf-8"))
    plan["intersection_id"] = intersection_id
    pattern = next(p for p in plan["patterns"] if p["pattern"] == 1)
    delta = NEW_CYCLE_S - pattern["cycle_s"]
    pattern["cycle_s"] = NEW_CYCLE_S
    pattern["splits_s"]["2"] += delta
    pattern["splits_s"]["6"] += delta
    for day in plan["day_plans"]:
        day["events"] = [{"at": "00:00", "action": "pattern", "pattern": 1}]
    return plan


def signal_values(broker: Mosquitto, device: str) -> dict[str, Any]:
    """The controller's retained state values, read by an external MQTT client (works with the API stopped)."""
    out = subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t",
                          f"sl/v1/+/{device}/state", "-C", "1", "-W", "5"],
                         capture_output=True, text=True, timeout=15, check=False).stdout
    values: dict[str, Any] = json.loads(out.splitlines()[0])["values"]
    return values


def api_client(rig: Rig, user: str, request: pytest.FixtureRequest) -> httpx.Client:
    api: str = rig.api
    token = eventually(lambda: httpx.post(f"{api}/api/v1/auth/token", timeout=5,
                                          data={"username": user, "password": PASSWORD}).json()
                       .get("access_token"), 30, f"a token for {user}", rig)
    client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    request.addfinalizer(client.close)
    return client


def deploy_and_wait(rig: Rig, eng: httpx.Client, plans_url: str, version: int) -> tuple[dict[str, Any], list[str]]:
    """Deploy `version` and wait for the end: (the final deployment, the statuses seen on the way)."""
    deploy = eng.post(f"{plans_url}/{version}/deploy")
    assert deploy.status_code == 202, deploy.text
    deployment_id = deploy.json()["id"]
    stages: list[str] = []

    def finished() -> dict[str, Any] | None:
        dep: dict[str, Any] = eng.get(f"/api/v1/deployments/{deployment_id}").json()
        if not stages or stages[-1] != dep["status"]:
            stages.append(dep["status"])
        return dep if dep["status"] in ("active", "failed", "rolled_back") else None

    # activation waits for the running pattern's cycle boundary (at most 2 cycles of 255 s by contract)
    return eventually(finished, 280, "the deployment to finish", rig, interval=0.5), stages
