"""Street lighting in virtual time, as separate processes on real Mosquitto and InfluxDB: `signalight sim` at 60×
(one Modbus and one MQTT cabinet), `gateway`, `recorder`, `api`, then `scheduler`. Every device-side time is the
cabinets' own: the MQTT cabinet stamps what it sends, the gateway stamps the Modbus cabinet's samples with the
cabinet's clock (lighting-cabinet-v2 `device_clock`), and both report when each circuit switched (`changed_at`).

1. Two days ago at 16:05 (the cabinets' clocks; the center's is today): a document with an astronomical switch-on
   (sunset + 15 min, 100 %) and a dimming step (sunset + 40 min, 50 %) is deployed to both cabinets, which judge the
   commands in the center's time (`issued_at`), not by their clock. A crew holds MQTT circuit 4 off and Modbus
   circuit 4 at 100 %; half the luminaires of the lit Modbus circuit fail (a dropped current): `lamp_failure` names
   the circuit and the cabinet's lighting view estimates how many are out. The gateway stops, the crew releases
   the Modbus override meanwhile (the release reaches nobody), the gateway starts: the cabinet's birth shows an
   override the center no longer holds, and the center releases it (audited `lighting.override.clear`).
2. The simulator power-cycles into yesterday 16:05, the cabinets running the document from their flash: the MQTT
   cabinet's birth shows circuit 4 back on its program, and the center re-sends the crew's override
   (`lighting.override.resend`); then
   - both cabinets switch circuits 1-3 (MQTT) and 1-4 (Modbus) at the times the center computes (astral at their
     coordinates) within ±1 cabinet tick (1 s virtual), by their own record (`changed_at`);
   - yesterday's energy report, written by the `scheduler` process from what the recorder stored, equals the
     energy the luminaires drew (loads × level × the switching times: ∫P dt) within 1 % for both cabinets, and for the
     MQTT cabinet (telemetry every 10 s virtual) also the integral of its sampled power. The Modbus cabinet's power
     is sampled every 10 s of real time (10 min virtual at 60×): too coarse an integral for a step, so its meter's
     counter is what is checked.
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

# two simulator runs of about 2 virtual hours each at 60x, with the set-ups between them
pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(600)]

PASSWORD = "s3cret-pass-word"
SPEED = 60.0
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TICK_S = 1.0            # the simulated cabinet steps its program once a virtual second
NIGHT = dt.datetime.now(TZ).date() - dt.timedelta(days=1)   # a finished day: the scheduler reports it at start
START = dt.datetime.combine(NIGHT, dt.time(16, 5), tzinfo=TZ)   # ~80 min (real s at 60x) before the first switching
RUN_UNTIL = dt.datetime.combine(NIGHT, dt.time(18, 0), tzinfo=TZ)
EARLIER = START - dt.timedelta(days=1)    # part 1: a day that is not reported, so part 2's day is its own
HELD = 4                                  # the circuit the crew holds


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



def _circuit(eng: httpx.Client, device: str, n: int) -> dict[str, Any]:
    values = (eng.get(f"/api/v1/devices/{device}").json().get("state") or {}).get("values") or {}
    return next((c for c in values.get("circuits") or [] if c.get("circuit") == n), {})


def _audited(eng: httpx.Client, action: str, device: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = eng.get("/api/v1/audit", params={"action": action, "target": device}).json()
    return found


def _start_fleet(rig: Rig, manifest_path: Path, *args: str) -> dict[str, Any]:
    """The simulator (with `args`), its manifest imported (Modbus units listen on new ports), then the gateway."""
    if manifest_path.exists():
        manifest_path.unlink()
    rig.start("sim", "sim", *args)
    manifest: dict[str, Any] = eventually(lambda: read_manifest(manifest_path), 120, "the manifest", rig)
    rig.import_manifest(manifest)
    rig.start("gateway", "gateway")
    return manifest


def _stop(rig: Rig, *names: str) -> None:
    for name in names:
        code, _ = rig.stop(name)
        assert code == 0, f"{name} exited with {code}:\n{rig.log(name)[-3000:]}"
        del rig.procs[name]     # stopped on purpose: not a process that died


def drawn_kwh(loads: list[dict[str, Any]], circuits: list[int], on: dt.datetime, dim: dt.datetime,
              end: dt.datetime) -> float:
    """What the luminaires of `circuits` drew: full from `on`, half from `dim`, to `end` (∫P dt, P = n · W · level)."""
    full_kw = sum(c["luminaires"] * c["rated_w"] for c in loads if c["circuit"] in circuits) / 1000
    return full_kw * ((dim - on).total_seconds() + 0.5 * (end - dim).total_seconds()) / 3600


def test_cabinets_switch_at_the_computed_times_in_virtual_time_and_the_day_adds_up(
        rig: Rig, witness: Witness, request: pytest.FixtureRequest) -> None:
    rig.cli("db", "upgrade")
    rig.cli("admin", "create-user", "eng", "--role", "engineer", "--password", PASSWORD)
    rig.cli("admin", "create-user", "crew", "--role", "crew", "--password", PASSWORD)
    manifest_path, flash = Path(rig.env["SIGNALIGHT_MANIFEST"]), rig.folder / "flash"
    fleet = ("--intersections", "0", "--cabinets", "2", "--modbus-cabinets", "1", "--state-dir", str(flash),
             "--speed", str(SPEED))
    rig.start("recorder", "recorder")
    rig.start("api", "api")

    # 1. the cabinets live two days ago; the center deploys in its own time, and the cabinets take it
    manifest = _start_fleet(rig, manifest_path, *fleet, "--start", EARLIER.isoformat())
    entries = {d["transport"]: d for d in manifest["devices"] if d["kind"] == "lighting_cabinet"}
    mqtt_cab, modbus_cab = entries["mqtt"]["id"], entries["modbus"]["id"]
    eng, crew = _client(rig, "eng", request), _client(rig, "crew", request)
    _online(rig, eng, [mqtt_cab, modbus_cab])
    created = eng.post("/api/v1/lighting/documents/evening", json=document())
    assert created.status_code == 201, created.text
    crc = created.json()["crc32"]
    batch = eng.post("/api/v1/lighting/documents/evening/versions/1/deploy", json={"site": "tn"})
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["batch_id"]
    eventually(lambda: eng.get(f"/api/v1/lighting/batches/{batch_id}").json()["counts"] == {"active": 2}, 60,
               "both cabinets (living two days ago) running the document", rig, interval=0.5)

    # the crew holds MQTT circuit 4 off and Modbus circuit 4 at full for 8 h
    for device, level in ((mqtt_cab, 0), (modbus_cab, 100)):
        held = crew.put(f"/api/v1/cabinets/{device}/circuits/{HELD}/override",
                        json={"level_pct": level, "duration_min": 480, "reason": "thay bóng"})
        assert held.status_code == 200, held.text
        eventually(lambda d=device, lv=level: (c := _circuit(eng, d, HELD)).get("control") == "override"
                   and abs(c.get("level_pct", -1) - lv) < 0.5, 30, f"{device} circuit {HELD} held at {level} %", rig)

    # half the luminaires of the lit Modbus circuit fail: an alarm names it, the lighting view counts them
    loads = {t: eng.get(f"/api/v1/devices/{e['id']}").json()["birth"]["loads"] for t, e in entries.items()}
    luminaires = next(c["luminaires"] for c in loads["modbus"] if c["circuit"] == HELD)
    failing = luminaires // 2
    fault = httpx.post(f"{manifest['control']['url']}/faults", timeout=10, json={
        "device": modbus_cab, "fault": "lamp_failure", "args": {"circuit": HELD, "count": failing}})
    assert fault.status_code == 200, fault.text

    def lamp_alarm() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = crew.get("/api/v1/alarms", params={"active": "true"}).json()
        return [a for a in found if a["kind"] == "lamp_failure" and a["device_id"] == modbus_cab]

    (alarm,) = eventually(lamp_alarm, 30, "the Modbus cabinet's lamp failure alarm", rig)
    assert alarm["circuit"] == HELD and f"~{failing} of {luminaires}" in alarm["detail"], alarm
    view = crew.get(f"/api/v1/cabinets/{modbus_cab}/lighting").json()
    held_view = next(c for c in view["circuits"] if c["circuit"] == HELD)
    assert (held_view["luminaires"], held_view["luminaires_out"]) == (luminaires, failing), held_view

    # the gateway stops; the crew releases the Modbus circuit meanwhile (nobody receives it); the gateway is back
    _stop(rig, "gateway")
    released = crew.delete(f"/api/v1/cabinets/{modbus_cab}/circuits/{HELD}/override")
    assert released.status_code == 200, released.text
    assert _circuit(eng, modbus_cab, HELD).get("control") == "override"    # the cabinet still holds it
    rig.start("gateway", "gateway")
    (cleared,) = eventually(lambda: _audited(eng, "lighting.override.clear", modbus_cab), 45,
                            "the center releasing the override it no longer holds", rig)
    assert cleared["actor"] == "system" and cleared["detail"]["circuit"] == HELD, cleared
    eventually(lambda: _circuit(eng, modbus_cab, HELD).get("control") == "program", 30,
               f"Modbus circuit {HELD} back on its program", rig)

    # 2. the cabinets power-cycle into yesterday afternoon, running the document from their flash
    _stop(rig, "gateway", "sim")
    since = time.time()
    manifest = _start_fleet(rig, manifest_path, *fleet, "--start", START.isoformat())
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

    # the MQTT cabinet came back without the crew's override: the center sends it again
    (resent,) = eventually(lambda: _audited(eng, "lighting.override.resend", mqtt_cab), 45,
                           "the center re-sending the crew's override after the power cycle", rig)
    assert resent["actor"] == "system" and resent["detail"]["circuit"] == HELD, resent
    eventually(lambda: _circuit(eng, mqtt_cab, HELD).get("control") == "override", 30,
               f"MQTT circuit {HELD} held again", rig)
    assert len(_audited(eng, "lighting.override.", modbus_cab)) == 1, "the Modbus cabinet had nothing to reconcile"

    # run through both switchings
    last = max(expected["mqtt"] + expected["modbus"])
    eventually(lambda: virtual_now(witness, mqtt_cab) > last + dt.timedelta(minutes=3), 240,
               f"virtual time past {last.astimezone(TZ)}", rig, interval=1)

    # both cabinets by their own record: ±1 tick (the held MQTT circuit stays off)
    switched = {"mqtt": [1, 2, 3], "modbus": [1, 2, 3, 4]}
    cabinet = {"mqtt": mqtt_cab, "modbus": modbus_cab}
    for transport, circuits in switched.items():
        for level, when in zip((100.0, 50.0), expected[transport], strict=True):
            for circuit in circuits:
                _, c = first_state(witness, cabinet[transport], circuit, level)
                error_s = (ts(c["changed_at"]) - when).total_seconds()
                assert abs(error_s) <= TICK_S, (f"{transport} cabinet circuit {circuit} to {level} % at "
                                                f"{c['changed_at']}, computed {when.isoformat()}: {error_s:+.1f} s")

    # 3. yesterday's energy, by the scheduler process, from what the recorder stored
    eventually(lambda: virtual_now(witness, mqtt_cab) > RUN_UNTIL, 240, f"virtual {RUN_UNTIL}", rig, interval=1)
    _stop(rig, "sim")
    lo, hi = START.astimezone(dt.UTC), RUN_UNTIL.astimezone(dt.UTC) + dt.timedelta(hours=2)
    sent = {t: [p for _, p in witness.of(cabinet[t], "telemetry") if "energy_kwh" in p["values"]][-1]
            for t in cabinet}

    def stored_last(device: str, last_ts: str) -> bool:
        body = eng.get(f"/api/v1/devices/{device}/telemetry", params={
            "field": "energy_kwh", "start": lo.isoformat(), "end": hi.isoformat()}).json()
        points = body["series"][0]["points"]
        return bool(points) and ts(points[-1][0]) >= ts(last_ts)

    for t in cabinet:
        eventually(lambda d=cabinet[t], s=sent[t]["ts"]: stored_last(d, s), 30,
                   f"the recorder to store the {t} cabinet's last sample", rig)
    rig.start("scheduler", "scheduler")

    def report(device: str) -> dict[str, Any] | None:
        days = eng.get(f"/api/v1/cabinets/{device}/energy",
                       params={"from": NIGHT.isoformat(), "to": NIGHT.isoformat()}).json()["days"]
        return days[0] if days else None

    for t, device in cabinet.items():
        day = eventually(lambda d=device: report(d), 60, f"the scheduler's report of yesterday for {t}", rig,
                         interval=0.5)
        assert day["day"] == NIGHT.isoformat()
        on, dim = (ts(first_state(witness, device, 1, level)[1]["changed_at"]) for level in (100.0, 50.0))
        first_sample = ts(next(p for _, p in witness.of(device, "telemetry") if "energy_kwh" in p["values"])["ts"])
        assert first_sample < on, f"the {t} report's first sample is not before the switch-on"
        end = ts(sent[t]["ts"])
        drawn = drawn_kwh(loads[t], switched[t], on, dim, end)
        assert day["energy_kwh"] == pytest.approx(drawn, rel=0.01), (t, day, drawn)
        if t == "mqtt":
            assert day["energy_kwh"] == pytest.approx(day["power_integral_kwh"], rel=0.01), day
        for c in day["circuits"]:
            lit = c["circuit"] in switched[t]
            assert c["burning_h"] == pytest.approx((end - on).total_seconds() / 3600 if lit else 0, abs=0.02), c
            assert c["switches"] == (1 if lit else 0), c

    _stop(rig, "scheduler", "gateway", "recorder", "api")
