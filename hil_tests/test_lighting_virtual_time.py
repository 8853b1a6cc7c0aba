"""Street lighting in virtual time, as separate processes on real Mosquitto and InfluxDB: `signalight sim` at 60×
from yesterday 16:05 local (one Modbus and one MQTT cabinet), `gateway`, `recorder`, `api`, then `scheduler`.

A document with an astronomical switch-on (sunset + 15 min, 100 %) and a dimming step (sunset + 40 min, 50 %) is
deployed to both cabinets on the wall clock (an MQTT cabinet refuses a command expiring more than 6 h after its own
time, so the center cannot command a cabinet living in yesterday); the simulator restarts at 60x from yesterday
afternoon, the cabinets running the document from their flash (`--state-dir`); then:
- the MQTT cabinet switches every circuit at the times the center computes for it (`controllers.lighting`, at its
  coordinates) within ±1 cabinet tick (1 s virtual), read from the cabinet's own record (`changed_at` per circuit);
- the Modbus cabinet switches within what its gateway can see: the gateway polls it every second of *real* time and
  stamps what it reads with real time, so at 60× a transition is known to a window of 60 s virtual (+ slack for the
  read and the mapping of real to virtual time, measured from the MQTT cabinet's own timestamps);
- luminaires failing on a Modbus cabinet's circuit (a dropped current) raise `lamp_failure` naming the circuit (the
  expected current comes from the `loads` its registry entry gives its birth);
- yesterday's energy report, written by the `scheduler` process from what the recorder stored, equals the meter's
  integral (∫P dt) within 1 %, and the energy the luminaires drew (loads × level × switching times) within 1 %.
  Only the MQTT cabinet has a report of the virtual day: the Modbus cabinet's samples carry the gateway's real
  time (today), 10 virtual minutes apart at 60×, so a daily report of it needs a run at speed 1.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
from astral import Observer
from astral.sun import sunset
from paho.mqtt.enums import CallbackAPIVersion

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import InfluxDB, Mosquitto, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PASSWORD = "s3cret-pass-word"
SPEED = 60.0
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TICK_S = 1.0            # the simulated cabinet steps its program once a virtual second
POLL_S = 1.0            # the gateway's fast poll group (contracts/modbus/lighting-cabinet-v1.yaml), real seconds
SLACK_S = 5.0           # virtual: a Modbus read's duration and the real->virtual mapping's error at 60x
NIGHT = dt.datetime.now(TZ).date() - dt.timedelta(days=1)   # a finished day: the scheduler reports it at start
START = dt.datetime.combine(NIGHT, dt.time(16, 5), tzinfo=TZ)
RUN_UNTIL = dt.datetime.combine(NIGHT, dt.time(18, 10), tzinfo=TZ)


STEPS: list[dict[str, Any]] = [{"event": "sunset", "offset_min": 15, "level_pct": 100},
                               {"event": "sunset", "offset_min": 40, "level_pct": 50},
                               {"event": "sunrise", "offset_min": -10, "level_pct": 0}]


def document() -> dict[str, Any]:
    steps = STEPS
    return {"format": "signalight.lighting/v1", "name": "Thử nghiệm buổi tối",
            "site": {"lat": 21.5942, "lon": 105.8482, "timezone": "Asia/Ho_Chi_Minh"},
            "programs": [{"program": "evening", "name": "Bật sau hoàng hôn, giảm 50 %", "steps": steps}],
            "calendars": [{"calendar": "city", "name": "Đường phố",
                           "rules": [{"name": "Mọi đêm", "priority": 0, "program": "evening"}]}],
            "circuits": [{"circuit": n, "calendar": "city"} for n in range(1, 5)]}


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Witness:
    """Every state and telemetry message on the bus, with the real time it arrived (an MQTT client of its own)."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: list[tuple[float, str, dict[str, Any]]] = []
        self.since = 0.0    # `of` answers only what arrived after this (real, epoch s)
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"witness-{uuid.uuid4().hex[:8]}")
        self._client.on_connect = lambda c, *_: c.subscribe([("sl/v1/+/+/state", 1), ("sl/v1/+/+/telemetry", 1)])
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        arrived = time.time()
        try:
            payload = json.loads(message.payload)
        except ValueError:
            return
        with self._lock:
            self.messages.append((arrived, message.topic, payload))

    def of(self, device: str, suffix: str) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return [(t, p) for t, topic, p in self.messages
                    if t >= self.since and topic.endswith(f"/{device}/{suffix}")]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
def rig(tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB) -> Any:
    env = rig_env(tmp_path, mosquitto.host, mosquitto.port, free_port())
    env.update({"SIGNALIGHT_STORE": "influxdb", "SIGNALIGHT_INFLUX_URL": influxdb.url,
                "SIGNALIGHT_INFLUX_DATABASE": influxdb.database})
    with Rig(tmp_path, env) as r:
        yield r


@pytest.fixture
def witness(mosquitto: Mosquitto) -> Any:
    w = Witness(mosquitto.host, mosquitto.port)
    yield w
    w.close()


def _client(rig: Rig, user: str, request: pytest.FixtureRequest) -> httpx.Client:
    token = eventually(lambda: httpx.post(f"{rig.api}/api/v1/auth/token", timeout=5,
                                          data={"username": user, "password": PASSWORD}).json()
                       .get("access_token"), 30, f"a token for {user}", rig)
    client = httpx.Client(base_url=rig.api, headers={"Authorization": f"Bearer {token}"}, timeout=20)
    request.addfinalizer(client.close)
    return client


def virtual_offset(witness: Witness, device: str) -> float:
    """C in virtual = C + SPEED · real (epoch seconds), from the MQTT cabinet's own timestamps: each message was
    stamped before it arrived, so the largest `ts - SPEED · arrival` is the closest to C."""
    seen = [ts(p["ts"]).timestamp() - SPEED * arrived for arrived, p in witness.of(device, "telemetry")]
    assert len(seen) > 20, f"too few telemetry messages of {device} to map real to virtual time"
    return max(seen)


def virtual_now(witness: Witness, device: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(virtual_offset(witness, device) + SPEED * time.time(), dt.UTC)


def first_state(witness: Witness, device: str, circuit: int, level: float) -> tuple[float, dict[str, Any]]:
    for arrived, payload in witness.of(device, "state"):
        c = next(x for x in payload["values"]["circuits"] if x["circuit"] == circuit)
        if c["on"] and abs(c["level_pct"] - level) < 0.5:
            return arrived, c | {"ts": payload["ts"]}
    raise AssertionError(f"{device} never reported circuit {circuit} at {level} %")


def _online(rig: Rig, eng: httpx.Client, devices: list[str]) -> None:
    for device in devices:
        eventually(lambda d=device: (v := eng.get(f"/api/v1/devices/{d}").json()).get("status") == "online"
                   and v.get("state"), 45, f"cabinet {device} online in the API", rig)


def test_cabinets_switch_at_the_computed_times_in_virtual_time_and_the_day_adds_up(
        rig: Rig, witness: Witness, request: pytest.FixtureRequest) -> None:
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "eng", "--role", "engineer", "--password", PASSWORD)
    rig.cli("admin", "create-user", "crew", "--role", "crew", "--password", PASSWORD)
    manifest_path, flash = Path(rig.env["SIGNALIGHT_MANIFEST"]), rig.folder / "flash"
    fleet = ("--intersections", "0", "--cabinets", "2", "--modbus-cabinets", "1", "--state-dir", str(flash))
    rig.start("recorder", "recorder")
    rig.start("api", "api")

    # 1. deployed on the wall clock: an MQTT cabinet checks a command's expiry by its own clock (it refuses one
    #    expiring more than 6 h after its time), so the center deploys while the cabinets' clocks agree with its own
    rig.start("sim", "sim", *fleet)
    manifest = eventually(lambda: read_manifest(manifest_path), 60, "the manifest", rig)
    rig.import_manifest(manifest)
    rig.start("gateway", "gateway")
    entries = {d["transport"]: d for d in manifest["devices"] if d["kind"] == "lighting_cabinet"}
    mqtt_cab, modbus_cab = entries["mqtt"]["id"], entries["modbus"]["id"]
    eng, crew = _client(rig, "eng", request), _client(rig, "crew", request)
    _online(rig, eng, [mqtt_cab, modbus_cab])
    doc = document()
    created = eng.post("/api/v1/lighting/documents/evening", json=doc)
    assert created.status_code == 201, created.text
    crc = created.json()["crc32"]
    batch = eng.post("/api/v1/lighting/documents/evening/versions/1/deploy", json={"site": "tn"})
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["batch_id"]
    eventually(lambda: eng.get(f"/api/v1/lighting/batches/{batch_id}").json()["counts"] == {"active": 2}, 60,
               "both cabinets running the document", rig, interval=0.5)

    # 2. the cabinets power-cycle into yesterday afternoon at 60x, running the document from their flash
    for name in ("gateway", "sim"):
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
        del rig.procs[name]     # stopped on purpose: not a process that died
    manifest_path.unlink()
    since = time.time()
    rig.start("sim", "sim", *fleet, "--speed", str(SPEED), "--start", START.isoformat())
    manifest = eventually(lambda: read_manifest(manifest_path), 60, "the manifest at 60x", rig)
    rig.import_manifest(manifest)           # the Modbus cabinet listens on new ports
    rig.start("gateway", "gateway")
    witness.since = since
    for device in (mqtt_cab, modbus_cab):
        eventually(lambda d=device: ((eng.get(f"/api/v1/devices/{d}").json().get("state") or {}).get("values", {})
                                     .get("lighting") or {}).get("crc32") == crc, 45,
                   f"cabinet {device} reporting the document from its flash", rig)

    # the switching times of that evening at each cabinet's coordinates, from astral directly (the suite imports
    # nothing of the product): sunset + 15 min at 100 %, sunset + 40 min at 50 %
    expected: dict[str, list[dt.datetime]] = {}
    for transport, entry in entries.items():
        set_at = sunset(Observer(latitude=entry["location"]["lat"], longitude=entry["location"]["lon"]),
                        date=NIGHT, tzinfo=TZ).astimezone(dt.UTC)
        expected[transport] = [set_at + dt.timedelta(minutes=step["offset_min"]) for step in STEPS[:2]]
        assert [step["level_pct"] for step in STEPS[:2]] == [100, 50]
    # enough of the MQTT cabinet's own timestamps to map real to virtual time (a few real seconds at 60x)
    eventually(lambda: len(witness.of(mqtt_cab, "telemetry")) > 20, 60,
               f"telemetry of {mqtt_cab} since the restart", rig, interval=0.5)
    ready_at = virtual_now(witness, mqtt_cab)
    assert ready_at < min(expected["mqtt"] + expected["modbus"]) - dt.timedelta(minutes=1), (
        f"set-up took too long: the cabinets were back at {ready_at.astimezone(TZ)} virtual, after (or just "
        f"before) the first switching at {min(expected['mqtt']).astimezone(TZ)}")

    # run through both switchings
    last = max(expected["mqtt"] + expected["modbus"])
    eventually(lambda: virtual_now(witness, mqtt_cab) > last + dt.timedelta(minutes=3), 240,
               f"virtual time past {last.astimezone(TZ)}", rig, interval=1)

    # 1. the MQTT cabinet, by its own record: ±1 tick
    for level, when in zip((100.0, 50.0), expected["mqtt"], strict=True):
        for circuit in range(1, 5):
            _, c = first_state(witness, mqtt_cab, circuit, level)
            error_s = (ts(c["changed_at"]) - when).total_seconds()
            assert abs(error_s) <= TICK_S, (f"MQTT cabinet circuit {circuit} to {level} % at {c['changed_at']}, "
                                            f"computed {when.isoformat()}: {error_s:+.1f} s")
    # 2. the Modbus cabinet, as its gateway saw it: within one real poll (60 s virtual) before the gateway's read
    offset = virtual_offset(witness, mqtt_cab)
    for level, when in zip((100.0, 50.0), expected["modbus"], strict=True):
        for circuit in range(1, 5):
            _, c = first_state(witness, modbus_cab, circuit, level)
            seen = dt.datetime.fromtimestamp(offset + SPEED * ts(c["ts"]).timestamp(), dt.UTC)
            lead_s = (seen - when).total_seconds()    # how long after the switching the gateway read it
            assert -TICK_S - SLACK_S <= lead_s <= SPEED * POLL_S + TICK_S + SLACK_S, (
                f"Modbus cabinet circuit {circuit} to {level} % read at {seen.isoformat()} virtual, computed "
                f"{when.isoformat()}: {lead_s:+.1f} s")

    # 3. half the luminaires of the Modbus cabinet's circuit 2 fail: an alarm names the cabinet and the circuit
    loads = eng.get(f"/api/v1/devices/{modbus_cab}").json()["birth"]["loads"]
    failing = next(c["luminaires"] for c in loads if c["circuit"] == 2) // 2
    fault = httpx.post(f"{manifest['control']['url']}/faults", timeout=10, json={
        "device": modbus_cab, "fault": "lamp_failure", "args": {"circuit": 2, "count": failing}})
    assert fault.status_code == 200, fault.text

    def lamp_alarm() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = crew.get("/api/v1/alarms", params={"active": "true"}).json()
        return [a for a in found if a["kind"] == "lamp_failure" and a["device_id"] == modbus_cab]

    (alarm,) = eventually(lamp_alarm, 30, "the Modbus cabinet's lamp failure alarm", rig)
    assert alarm["circuit"] == 2 and f"~{failing} of " in alarm["detail"], alarm

    # 4. yesterday's energy, by the scheduler process, from what the recorder stored
    eventually(lambda: virtual_now(witness, mqtt_cab) > RUN_UNTIL, 240, f"virtual {RUN_UNTIL}", rig, interval=1)
    code, _ = rig.stop("sim")
    assert code == 0, rig.log("sim")[-3000:]
    del rig.procs["sim"]
    sent = witness.of(mqtt_cab, "telemetry")[-1][1]
    lo, hi = START.astimezone(dt.UTC), RUN_UNTIL.astimezone(dt.UTC) + dt.timedelta(hours=2)

    def stored_last() -> dict[str, Any] | None:
        body = eng.get(f"/api/v1/devices/{mqtt_cab}/telemetry", params={
            "field": "energy_kwh", "start": lo.isoformat(), "end": hi.isoformat()}).json()
        points = body["series"][0]["points"]
        return body if points and ts(points[-1][0]) >= ts(sent["ts"]) else None

    eventually(stored_last, 30, "the recorder to store the MQTT cabinet's last sample", rig)
    rig.start("scheduler", "scheduler")

    def report() -> dict[str, Any] | None:
        days = eng.get(f"/api/v1/cabinets/{mqtt_cab}/energy",
                       params={"from": NIGHT.isoformat(), "to": NIGHT.isoformat()}).json()["days"]
        return days[0] if days else None

    day = eventually(report, 60, "the scheduler's report of yesterday", rig, interval=0.5)
    assert day["day"] == NIGHT.isoformat()
    assert day["energy_kwh"] == pytest.approx(day["power_integral_kwh"], rel=0.01), day
    # what the luminaires drew: every circuit full from the switch-on, half from the dimming, to the last sample
    on, dim = (ts(first_state(witness, mqtt_cab, 1, level)[1]["changed_at"]) for level in (100.0, 50.0))
    first_sample = ts(witness.of(mqtt_cab, "telemetry")[0][1]["ts"])
    assert first_sample < on, "the report's first sample is before the switch-on"
    end = ts(sent["ts"])
    mqtt_loads = eng.get(f"/api/v1/devices/{mqtt_cab}").json()["birth"]["loads"]
    full_kw = sum(c["luminaires"] * c["rated_w"] for c in mqtt_loads) / 1000
    drawn = full_kw * ((dim - on).total_seconds() + 0.5 * (end - dim).total_seconds()) / 3600
    assert day["energy_kwh"] == pytest.approx(drawn, rel=0.01), (day, drawn)
    for c in day["circuits"]:
        assert c["burning_h"] == pytest.approx((end - on).total_seconds() / 3600, abs=0.02), c
        assert c["switches"] == 1, c

    for name in ("scheduler", "gateway", "recorder", "api"):
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
