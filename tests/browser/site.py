"""A live site for the browser tests: real Mosquitto, `signalight sim`, `signalight gateway` and `signalight api`
as separate processes (the hil_tests rig), SQLite config DB, seeded with users, intersections and a plan version."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

PASSWORD = "browser-pass-word-1"
USERS = {"eng": "engineer", "ops": "operator", "view": "viewer"}
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "plans" / "examples"


def example_plan(intersection_id: str) -> dict[str, Any]:
    """The example plan for `intersection_id`, pattern 1 all day every day (so nothing depends on the hour)."""
    plan: dict[str, Any] = json.loads((EXAMPLES / "tn-001-weekday.json").read_text(encoding="utf-8"))
    plan["intersection_id"] = intersection_id
    for day in plan["day_plans"]:
        day["events"] = [{"at": "00:00", "action": "pattern", "pattern": 1}]
    return plan


@dataclass
class LiveSite:
    rig: Rig
    broker: Mosquitto
    signals: list[str]
    intersections: list[str]
    control_url: str
    eng: httpx.Client

    @property
    def url(self) -> str:
        return self.rig.api

    def fault(self, device: str, fault: str, active: bool = True, **args: Any) -> None:
        """Put a fault on (or take it off) a simulated device through the simulator's control endpoint."""
        resp = httpx.post(f"{self.control_url}/faults", timeout=10,
                          json={"device": device, "fault": fault, "args": {**args, "active": active}})
        assert resp.status_code == 200, resp.text

    def values(self, device: str) -> dict[str, Any]:
        """The controller's live state values as the API has them."""
        state = self.eng.get(f"/api/v1/devices/{device}").json().get("state") or {}
        values: dict[str, Any] = state.get("values") or {}
        return values


def _start_api(rig: Rig, attempts: int = 3) -> None:
    """Start the API; on a machine shared with other test runs a free port can be taken before the API binds it,
    so a bind failure picks another port (the other processes reach the API only through `rig.api`)."""
    for _ in range(attempts):
        rig.start("api", "api")
        deadline = time.monotonic() + 90  # a loaded 2-core machine imports slowly
        while time.monotonic() < deadline:
            if "address already in use" in rig.log("api"):
                rig.stop("api")
                rig.env["SIGNALIGHT_API_PORT"] = str(free_port())
                break
            try:
                if httpx.get(f"{rig.api}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"the API did not start:\n{rig.log('api')[-3000:]}")
    raise AssertionError(f"no free port for the API after {attempts} attempts")


@contextmanager
def live_site(folder: Path, *, speed: float = 1.0, intersections: int = 2,
              settings: dict[str, str] | None = None) -> Iterator[LiveSite]:
    """Start the site and seed it; stop every process afterwards (their logs stay in `folder`). `settings` are
    extra SIGNALIGHT_* variables of every process (e.g. a short control backup timer)."""
    (folder / "mosquitto").mkdir(exist_ok=True)
    broker = Mosquitto(folder / "mosquitto")
    broker.start()
    env = rig_env(folder, broker.host, broker.port, free_port()) | (settings or {})
    try:
        with Rig(folder, env) as rig:
            rig.cli("db", "upgrade")
            for user, role in USERS.items():
                rig.cli("admin", "create-user", user, "--role", role, "--password", PASSWORD)
            _start_api(rig)
            rig.start("sim", "sim", "--intersections", str(intersections), "--cabinets", "1",
                      "--modbus-cabinets", "0", "--speed", str(speed))
            manifest = eventually(lambda: read_manifest(Path(env["SIGNALIGHT_MANIFEST"])), 60, "the manifest", rig)
            rig.import_manifest(manifest)  # the registry, not a birth, makes a device known
            rig.start("gateway", "gateway")
            signals = sorted(d["id"] for d in manifest["devices"] if d["kind"] == "signal_controller")
            token = eventually(lambda: httpx.post(f"{rig.api}/api/v1/auth/token", timeout=5, data={
                "username": "eng", "password": PASSWORD}).json().get("access_token"), 30, "a token", rig)
            with httpx.Client(base_url=rig.api, headers={"Authorization": f"Bearer {token}"}, timeout=10) as eng:
                for sig in signals:
                    eventually(lambda s=sig: (d := eng.get(f"/api/v1/devices/{s}").json()).get("status") == "online"
                               and d.get("state"), 45, f"{sig} online in the API", rig)
                names = ["Ngã tư Hoàng Văn Thụ – Lương Ngọc Quyến", "Ngã ba Đồng Quang", "Nút Phan Đình Phùng"]
                ids = []
                for n, sig in enumerate(signals):
                    iid = f"tn-i{n + 1}"
                    resp = eng.post("/api/v1/intersections", json={"id": iid, "site": "tn", "name": names[n % 3],
                                                                   "controller_id": sig})
                    assert resp.status_code == 201, resp.text
                    ids.append(iid)
                created = eng.post(f"/api/v1/intersections/{ids[0]}/plans", json=example_plan(ids[0]),
                                   params={"comment": "kế hoạch ban đầu"})
                assert created.status_code == 201, created.text
                yield LiveSite(rig, broker, signals, ids, manifest["control"]["url"], eng)
    finally:
        broker.stop()
