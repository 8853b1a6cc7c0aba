"""Signal performance measures judge a plan, end to end: the simulated controller (a fast virtual clock from a set
morning) runs 2 virtual hours under a poor offset, a plan with a better offset is deployed through the API, 2 more
hours run, and the API's before/after comparison of atspm's arrivals on green on the coordinated phases rises.
Separate processes on real Mosquitto: `python -m firmware_sim` (--speed, --start, --detectors), `signalight
gateway`, `signalight recorder` (every event into the embedded store) and `signalight api` (atspm).

The fast clock also loads the event path: once the gateway reads the controller it must keep the 1,024-entry log
from overflowing (the controller's own `events_lost` does not move from the first deploy to the end). Before the
gateway's first read, the sim has already run minutes of virtual time with nobody reading: that overflow is the
device's correct behaviour (counted, oldest dropped) and is not the gateway's to prevent.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

EXAMPLES = Path(__file__).resolve().parents[1] / "contracts" / "plans" / "examples"
SPEED = 120.0                       # 2 virtual hours a minute
ICT = timezone(timedelta(hours=7))
PASSWORD = "s3cret-pass-word"
INTERSECTION = "tn-hil-aog"
PERIOD = timedelta(hours=2)
BIN = timedelta(minutes=15)          # the measures' bins (issue: 15-minute bins)
#: The simulator's traffic model as its README states it (the suite imports nothing of the product): approach
#: speed 50 km/h, the upstream signal's stop bar 300 m away at offset 0, advance detectors 100 m out.
SPEED_MS, LINK_M, UPSTREAM_OFFSET_S = 13.9, 300.0, 0.0
#: The detector wiring, in the API's detector export shape: a stop bar per phase (channel = phase) and an advance
#: detector 100 m out on each through phase (channel = phase + 8).
LAYOUT: list[dict[str, Any]] = (
    [{"channel": p, "phase": p, "type": "stop_bar", "lane": None, "setback_m": 0.0} for p in range(1, 9)]
    + [{"channel": p + 8, "phase": p, "type": "advance", "lane": None, "setback_m": 100.0} for p in (2, 4, 6, 8)])
#: The platoon from the upstream signal crosses our advance detectors (100 m out) about
#: UPSTREAM_OFFSET_S + (LINK_M - 100) / SPEED_MS after the upstream green: ~14 s. An offset near it meets it with
#: green; one 60 s later (half the 120 s cycle) meets it with red.
GOOD_OFFSET_S = round(UPSTREAM_OFFSET_S + (LINK_M - 100.0) / SPEED_MS)
POOR_OFFSET_S = GOOD_OFFSET_S + 60
COORDINATED = (2, 6)


def _plan(offset_s: int) -> dict[str, Any]:
    """The example plan, pattern 1 (cycle 120 s, phases 2 and 6 coordinated) all day, at `offset_s`."""
    plan: dict[str, Any] = json.loads((EXAMPLES / "tn-001-weekday.json").read_text(encoding="utf-8"))
    plan["intersection_id"] = INTERSECTION
    for pattern in plan["patterns"]:
        if pattern["pattern"] == 1:
            pattern["offset_s"] = offset_s
    for day in plan["day_plans"]:
        day["events"] = [{"at": "00:00", "action": "pattern", "pattern": 1}]
    return plan


def _ceil_bin(ts: datetime) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    rest = (ts - epoch) % BIN
    return ts if not rest else ts + (BIN - rest)


def to_rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto) -> Any:
    env = rig_env(tmp_path, mosquitto.host, mosquitto.port, free_port())
    with Rig(tmp_path, env) as r:
        yield r


def _start_sim(rig: Rig, start: datetime, layout: list[dict[str, Any]]) -> None:
    """`python -m firmware_sim` itself (its --start and --detectors), kept and stopped by the rig like the rest."""
    detectors = rig.folder / "detectors.json"
    detectors.write_text(json.dumps({"*": layout}), encoding="utf-8")
    args = ["--intersections", "1", "--cabinets", "0", "--modbus-cabinets", "0", "--speed", str(SPEED),
            "--start", start.isoformat(), "--detectors", str(detectors), "--manifest", rig.env["SIGNALIGHT_MANIFEST"],
            "--control-port", "-1", "--mqtt-host", rig.env["SIGNALIGHT_MQTT_HOST"],
            "--mqtt-port", rig.env["SIGNALIGHT_MQTT_PORT"]]
    with (rig.folder / "sim.log").open("wb") as log:
        rig.procs["sim"] = subprocess.Popen([sys.executable, "-m", "firmware_sim", *args], env=rig.env,
                                            stdout=log, stderr=subprocess.STDOUT)


def test_a_better_offset_raises_arrivals_on_green(rig: Rig, request: pytest.FixtureRequest) -> None:
    wall_start = datetime.now(UTC)
    # a morning a day ago, so the fast clock stays in the past for the whole run
    start = (wall_start - timedelta(days=1)).astimezone(ICT).replace(hour=6, minute=30, second=0, microsecond=0)
    layout = LAYOUT
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "eng", "--role", "engineer", "--password", PASSWORD)
    metrics = {"recorder": free_port(), "gateway": free_port()}
    rig.start("recorder", "recorder", env={"SIGNALIGHT_METRICS_PORT": str(metrics["recorder"])})
    rig.start("api", "api")
    # the API first: the fast clock starts with the sim, and its log overflows until the gateway reads it
    token = eventually(lambda: httpx.post(f"{rig.api}/api/v1/auth/token", timeout=5, data={
        "username": "eng", "password": PASSWORD}).json().get("access_token"), 60, "a token", rig)
    _start_sim(rig, start, layout)
    manifest = eventually(lambda: read_manifest(Path(rig.env["SIGNALIGHT_MANIFEST"])), 60, "the manifest", rig)
    rig.import_manifest(manifest)
    rig.start("gateway", "gateway", env={"SIGNALIGHT_METRICS_PORT": str(metrics["gateway"])})

    def diagnosis() -> str:
        """The event path's counters, for a failure message."""
        out = []
        for name, port in metrics.items():
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except httpx.HTTPError as exc:
                text = repr(exc)
            out += [f"{name}: {line}" for line in text.splitlines() if not line.startswith("#") and (
                "event" in line or "published" in line or "queue" in line or "polls" in line or "error" in line)]
        return "\n".join(out)
    signal_id = next(d["id"] for d in manifest["devices"] if d["kind"] == "signal_controller")
    eng = httpx.Client(base_url=rig.api, headers={"Authorization": f"Bearer {token}"}, timeout=120)
    request.addfinalizer(eng.close)
    eventually(lambda: eng.get(f"/api/v1/devices/{signal_id}").json().get("status") == "online", 45,
               "the controller online", rig)
    created = eng.post("/api/v1/intersections", json={"id": INTERSECTION, "site": "tn", "name": "Ngã tư AoG",
                                                      "controller_id": signal_id})
    assert created.status_code == 201, created.text
    # the registry's detector configuration is the one the simulator is wired with (its export shape)
    put = eng.put(f"/api/v1/intersections/{INTERSECTION}/detectors", json=layout)
    assert put.status_code == 200, put.text
    assert {(d["channel"], d["type"], d["setback_m"]) for d in eng.get(
        f"/api/v1/intersections/{INTERSECTION}/detectors").json()} == {
        (d["channel"], d["type"], d["setback_m"]) for d in layout}
    events_url = f"/api/v1/intersections/{INTERSECTION}/events"
    day = {"start": to_rfc3339(start), "end": to_rfc3339(start + timedelta(days=1))}

    def deploy(offset_s: int) -> datetime:
        """Deploy a plan at `offset_s`; returns the controller's time it took over (its pattern event 131)."""
        plans_url = f"/api/v1/intersections/{INTERSECTION}/plans"
        made = eng.post(plans_url, json=_plan(offset_s), params={"comment": f"offset {offset_s} s"})
        assert made.status_code == 201, made.text
        dep = eng.post(f"{plans_url}/{made.json()['version']}/deploy")
        assert dep.status_code == 202, dep.text
        done = eventually(lambda: (d := eng.get(f"/api/v1/deployments/{dep.json()['id']}").json())["status"]
                          in ("active", "failed", "rolled_back") and d, 120, "the deployment", rig, interval=0.5)
        assert done["status"] == "active", (done, rig.log("gateway")[-3000:])

        def activation() -> datetime | None:
            page = eng.get(events_url, params={**day, "codes": 131, "params": 1, "limit": 1000}).json()["events"]
            return _ts(page[-1]["ts"]) if page else None
        # the activation event is stored once the gateway read it and the recorder wrote it
        time.sleep(2)
        try:
            return eventually(activation, 120, "the pattern event of the activation", rig)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnosis()}") from None

    def reach(ts: datetime) -> None:
        """Wait until the controller's events up to `ts` (and a bin beyond) are stored."""
        probe = {"start": to_rfc3339(ts + BIN), "end": to_rfc3339(ts + timedelta(days=1)), "limit": 1}
        eventually(lambda: eng.get(events_url, params=probe).json()["events"], 240,
                   f"the controller's events past {ts}", rig, interval=1)
        time.sleep(2)      # the recorder's last batches before that one

    def lost() -> list[tuple[str, float]]:
        """The controller's events_lost readings, oldest first (the gateway stamps telemetry with its clock)."""
        r = eng.get(f"/api/v1/devices/{signal_id}/telemetry", params={
            "field": "events_lost", "start": to_rfc3339(wall_start - timedelta(days=2)),
            "end": to_rfc3339(datetime.now(UTC) + timedelta(minutes=1))})
        assert r.status_code == 200, r.text
        return [(ts, v) for series in r.json()["series"] for ts, v in series["points"] if v is not None]

    poor_at = deploy(POOR_OFFSET_S)
    def settled() -> tuple[str, float] | None:
        """A fresh events_lost reading equal to the one before it: the gateway's event reader has caught up with
        what the log held before its first read (a busy machine starts it seconds after the telemetry poll)."""
        fresh = [p for p in lost() if _ts(p[0]) > datetime.now(UTC) - timedelta(seconds=25)]
        return fresh[-1] if len(fresh) >= 2 and fresh[-1][1] == fresh[-2][1] else None
    caught_up = eventually(settled, 90, "two equal fresh events_lost readings", rig, interval=1)
    reach(_ceil_bin(poor_at) + PERIOD)
    better_at = deploy(GOOD_OFFSET_S)
    assert better_at >= _ceil_bin(poor_at) + PERIOD
    end = _ceil_bin(better_at) + PERIOD
    reach(end)

    # atspm over both periods, on demand, then the before/after comparison across the deploy
    run = eng.post(f"/api/v1/intersections/{INTERSECTION}/measures/run",
                   params={"start": to_rfc3339(_ceil_bin(poor_at)), "end": to_rfc3339(end)})
    assert run.status_code == 200, run.text
    assert run.json()["rows"].get("arrival_on_green", 0) > 0, run.json()
    cmp = eng.get(f"/api/v1/intersections/{INTERSECTION}/measures/arrival_on_green/compare",
                  params={"at": to_rfc3339(better_at), "days": PERIOD / timedelta(days=1)})
    assert cmp.status_code == 200, cmp.text
    body = cmp.json()
    aog = {side: {row["phase"]: row for row in body[side]["summary"]} for side in ("before", "after")}
    for phase in COORDINATED:
        before, after = aog["before"][phase], aog["after"][phase]
        assert before["bins"] >= 7 and after["bins"] >= 7, body   # 2 h less the bin the deploy straddles
        assert before["Total_Actuations"] > 500 and after["Total_Actuations"] > 500, body
        assert after["Percent_AOG"] > before["Percent_AOG"] + 0.25, (phase, before, after)
        print(f"phase {phase}: arrivals on green {before['Percent_AOG']:.2f} at offset {POOR_OFFSET_S} s "
              f"({before['Total_Actuations']} arrivals) -> {after['Percent_AOG']:.2f} at {GOOD_OFFSET_S} s "
              f"({after['Total_Actuations']})")

    # the event path kept up with the fast clock: the controller's own overflow count did not move while read
    time.sleep(12)      # one more slow poll (10 s) of the telemetry
    later = [p for p in lost() if _ts(p[0]) >= _ts(caught_up[0])]
    assert later and all(v == caught_up[1] for _, v in later), (caught_up, later)
    for name in ("gateway", "sim", "api", "recorder"):
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
