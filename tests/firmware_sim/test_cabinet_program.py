"""The cabinet firmware runs deployed lighting documents: it agrees with the center's evaluation, refuses what it
cannot run (keeping its program), and its photocell, meter and faults behave as a real cabinet's."""

from __future__ import annotations

import json
import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from astral import Observer
from astral.sun import elevation

from controllers.lighting import AstralSun, LightingV1, canonical_bytes, level_at
from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_mqtt import CabinetMqttFace
from firmware_sim.cabinet_program import CabinetProgram, ProgramError
from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.schemas import check
from tests.command_signing import signed, sim_keys

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "lighting" / "examples" / "thai-nguyen-city.json"
LAT, LON = 21.5942, 105.8482
NOON_LOCAL = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)      # 12:00 in Thái Nguyên


def example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return doc


def canonical(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the center sends it: its canonical transfer form (defaults written out)."""
    sent: dict[str, Any] = json.loads(canonical_bytes(LightingV1.model_validate(doc)))
    return sent


def crc(doc: dict[str, Any]) -> int:
    return zlib.crc32(canonical_bytes(LightingV1.model_validate(doc)))


def cabinet(start: datetime = NOON_LOCAL) -> tuple[CabinetMqttFace, ManualClock]:
    clock = ManualClock(start)
    cab = LightingCabinet("tn-cab-003", LAT, LON, random.Random(4))
    cab.photocell_lux = cab.lux(clock.now())
    cab.step(clock.now(), 1.0)
    return CabinetMqttFace(cab, "tn", clock, sim_keys()), clock


def cmd(name: str, args: dict[str, Any], now: datetime, cmd_id: str = "deploy-0001") -> bytes:
    return json.dumps(signed({"id": cmd_id, "name": name, "args": args, "issued_by": "engineer",
                              "expires_at": rfc3339(now + timedelta(seconds=60))}, "tn", "tn-cab-003")).encode()


@pytest.mark.parametrize(("lat", "lon", "zone"), [(LAT, LON, "Asia/Ho_Chi_Minh"), (59.91, 10.75, "Europe/Oslo")])
def test_firmware_and_center_agree_on_every_level(lat: float, lon: float, zone: str) -> None:
    doc = example()
    doc["site"] = {"lat": lat, "lon": lon, "timezone": zone}
    firmware = CabinetProgram(doc, lat, lon)
    center, sun = LightingV1.model_validate(doc), AstralSun(lat, lon, zone)
    t, end, checked = datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 4, 10, tzinfo=UTC), 0
    while t < end:      # through Tết, a DST change in Oslo and the weekday/weekend changes
        for circuit in (1, 4):
            assert firmware.level(circuit, t) == level_at(center, circuit, t, sun), (t, circuit)
            checked += 1
        t += timedelta(minutes=29)
    assert checked > 10000


def test_deploy_program_answers_verifying_then_active_and_runs_it() -> None:
    face, clock = cabinet()
    doc = canonical(example())
    answers = face.commands(cmd("deploy_program", {"document": doc, "crc32": crc(doc)}, clock.now()))
    for answer in answers:
        check("cmd/res", answer)
    assert [(a["ok"], a.get("final", True), a.get("stage")) for a in answers] == [
        (True, False, "verifying"), (True, True, "active")]
    assert answers[1]["state"]["lighting"]["crc32"] == crc(doc)
    check("state", face.state())
    # Wednesday 2 Dec 2026, 23:30 local: the weekday program holds the street circuits at 50 %; the park circuit
    # waits for its photocell to confirm the dark (120 s), then burns at its 40 % step.
    clock.advance(11.5 * 3600)
    face.cab.photocell_lux = face.cab.lux(clock.now())
    face.cab.step(clock.now(), 1.0)
    assert [c.level_pct for c in face.cab.circuits] == [50.0, 50.0, 50.0, 0.0]
    for _ in range(13):
        clock.advance(10)
        face.cab.step(clock.now(), 10.0)
    assert [c.level_pct for c in face.cab.circuits] == [50.0, 50.0, 50.0, 40.0]


def test_a_refused_document_changes_nothing() -> None:
    face, clock = cabinet()
    bad = example()
    bad["programs"][0]["steps"][1]["level_pct"] = 120
    answers = face.commands(cmd("deploy_program", {"document": bad, "crc32": zlib.crc32(
        json.dumps(bad, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())}, clock.now()))
    assert answers[-1]["error"] == "invalid_program" and answers[-1]["stage"] == "rolled_back"
    assert "programs[0].steps[1].level_pct" in answers[-1]["message"]
    good = canonical(example())
    answers = face.commands(cmd("deploy_program", {"document": good, "crc32": crc(good) ^ 1}, clock.now(),
                                cmd_id="deploy-0002"))
    assert answers[-1]["error"] == "crc_mismatch"
    assert face.state_values()["lighting"]["crc32"] is None      # still the factory program
    with pytest.raises(ProgramError, match="calendars"):
        CabinetProgram({**good, "calendars": [{"calendar": "x", "name": "x",
                                                 "rules": [{"name": "r", "priority": 0, "program": "nope"}]}]},
                       LAT, LON)


def test_twilight_light_is_tens_of_lux_at_minus_four_degrees() -> None:
    cab = LightingCabinet("tn-cab-004", LAT, LON, random.Random(1))
    t = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)       # evening in Thái Nguyên
    observer = Observer(LAT, LON)
    found: dict[int, float] = {}
    while t < datetime(2026, 12, 2, 12, 0, tzinfo=UTC):
        elev = elevation(observer, t)
        for target in (0, -4, -6):
            if abs(elev - target) < 0.05:
                found[target] = cab.lux(t)
        t += timedelta(seconds=10)
    assert 300 < found[0] < 500
    assert 15 < found[-4] < 40
    assert 2 < found[-6] < 5


def test_no_full_brightness_flash_before_the_morning_switch_off() -> None:
    face, clock = cabinet()
    levels: list[float] = []
    for _ in range(24 * 60):
        clock.advance(60)
        face.cab.step(clock.now(), 60.0)
        levels.append(face.cab.circuits[0].level_pct)
    after_dimming = levels[levels.index(50.0):]
    assert 100.0 not in after_dimming[:after_dimming.index(0.0)]


def test_overcast_afternoon_lights_the_photocell_circuit_only() -> None:
    face, clock = cabinet(datetime(2026, 12, 2, 8, 0, tzinfo=UTC))   # 15:00 local
    doc = canonical(example())
    assert face.commands(cmd("deploy_program", {"document": doc, "crc32": crc(doc)}, clock.now()))[-1]["ok"]
    face.cab.sky_factor = 0.0005          # a black storm front
    for _ in range(30):
        clock.advance(10)
        face.cab.photocell_lux = face.cab.lux(clock.now())
        face.cab.step(clock.now(), 10.0)
    assert face.cab.photocell_lux < 30
    assert [c.on for c in face.cab.circuits] == [False, False, False, True]
    assert face.cab.circuits[3].level_pct == 100.0
    face.cab.sky_factor = 1.0             # it clears: off again after the 120 s delay
    for _ in range(13):
        clock.advance(10)
        face.cab.photocell_lux = face.cab.lux(clock.now())
        face.cab.step(clock.now(), 10.0)
    assert not face.cab.circuits[3].on


def test_day_burner_draws_full_power_and_names_its_circuit() -> None:
    face, clock = cabinet()
    cab = face.cab
    cab.circuits[1].contactor_stuck = True
    cab.step(clock.now(), 1.0)
    c2 = cab.circuits[1]
    assert c2.on and c2.level_pct == 100.0
    assert c2.current_a == pytest.approx(c2.luminaires * c2.rated_w / (230 * 0.95))
    assert cab.active_power_w() == pytest.approx(c2.luminaires * c2.rated_w, rel=1e-6)
    state = face.state_values()
    assert state["circuits"][1]["faults"] == ["contactor_stuck", "day_burner"]
    assert state["circuits"][0]["faults"] == []
    assert "day_burner" in state["alarms"]


def test_breaker_trip_shows_the_circuit_off_and_faulty() -> None:
    face, clock = cabinet(datetime(2026, 12, 2, 14, 0, tzinfo=UTC))    # 21:00 local, lamps on
    cab = face.cab
    cab.circuits[2].breaker_tripped = True
    cab.step(clock.now(), 1.0)
    circuit = face.state_values()["circuits"][2]
    assert (circuit["on"], circuit["level_pct"], circuit["current_a"]) == (False, 0.0, 0.0)
    assert circuit["contactor_closed"] is True and circuit["program_level_pct"] == 100.0
    assert circuit["faults"] == ["breaker_trip", "dark_lamp"]
    assert "breaker_trip" in face.state_values()["alarms"]


IDLE, RECEIVING, VERIFYING, DONE, ERROR = range(5)                       # program_status
E_NONE, E_CRC, E_LENGTH, E_PARSE, E_INVALID = range(5)                   # program_error


def _stage(regs: Any, payload: bytes, crc32: int) -> None:
    words = [int.from_bytes((payload + b"\0")[i:i + 2], "big") for i in range(0, len(payload), 2)]
    points = regs.map.points
    assert regs.write(points["program_length_bytes"].address,
                      [len(payload), crc32 >> 16, crc32 & 0xFFFF]) is None
    at = regs.map.areas["program_staging"].address
    for i in range(0, len(words), 123):
        assert regs.write(at + i, words[i:i + 123]) is None


def test_modbus_transfer_stages_checks_the_crc_and_runs_the_document() -> None:
    from firmware_sim.cabinet_regs import CabinetRegisters
    cab = LightingCabinet("tn-cab-001", LAT, LON, random.Random(2))
    regs = CabinetRegisters(cab)
    regs.refresh(NOON_LOCAL)
    payload = canonical_bytes(LightingV1.model_validate(example()))
    good = zlib.crc32(payload)
    commit = regs.map.points["program_commit"].address
    _stage(regs, payload, good ^ 0x10)                      # a CRC that does not match the bytes
    assert regs.image.get("program_status") == RECEIVING
    assert regs.write(commit, [1]) is None
    assert (regs.image.get("program_status"), regs.image.get("program_error")) == (ERROR, E_CRC)
    assert regs.image.raw("program_crc32") == 0              # still the factory program
    _stage(regs, payload, good)
    assert regs.write(commit, [1]) is None
    assert (regs.image.get("program_status"), regs.image.get("program_error")) == (DONE, E_NONE)
    assert regs.image.raw("program_crc32") == good and cab.program_crc32 == good
    assert regs.write(commit, [7]) == 3                      # illegal data value, nothing changed
    assert regs.image.get("program_status") == DONE


def test_modbus_transfer_refuses_an_invalid_document() -> None:
    from firmware_sim.cabinet_regs import CabinetRegisters
    cab = LightingCabinet("tn-cab-001", LAT, LON, random.Random(2))
    regs = CabinetRegisters(cab)
    regs.refresh(NOON_LOCAL)
    bad = canonical(example())
    bad["programs"][0]["steps"][1]["level_pct"] = 150
    payload = json.dumps(bad, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    _stage(regs, payload, zlib.crc32(payload))
    assert regs.write(regs.map.points["program_commit"].address, [1]) is None
    assert (regs.image.get("program_status"), regs.image.get("program_error")) == (ERROR, E_INVALID)
    assert cab.program_crc32 is None


@pytest.mark.parametrize("night", [datetime(2026, 12, 4, 9, 0, tzinfo=UTC), datetime(2027, 2, 6, 9, 0, tzinfo=UTC)])
def test_circuits_switch_at_the_centers_times_within_one_tick(night: datetime) -> None:
    """Stepped at the fleet's cabinet tick (1 s), the firmware switches each circuit within one tick of the
    center's `switching_times` (a Friday night and a Tết night)."""
    from controllers.lighting import switching_times

    doc = canonical(example())
    cab = LightingCabinet("tn-cab-001", LAT, LON, random.Random(2))
    cab.deploy(doc, crc(doc), night)
    center, sun = LightingV1.model_validate(doc), AstralSun(LAT, LON, "Asia/Ho_Chi_Minh")
    expected = [s.at for s in switching_times(center, 1, (night + timedelta(hours=7)).date(), sun)]
    assert len(expected) == (3 if night.month == 12 else 2)

    def changes(start: datetime, end: datetime, step_s: float) -> list[datetime]:
        found, t, level = [], start, None
        while t < end:
            cab.step(t, step_s)
            if level is not None and cab.circuits[0].level_pct != level:
                found.append(t)
            level = cab.circuits[0].level_pct
            t += timedelta(seconds=step_s)
        return found

    # the whole night at one minute: exactly the expected number of changes...
    assert len(changes(night, night + timedelta(hours=24), 60.0)) == len(expected)
    # ...and around each, at the fleet's tick: within one tick of the center's time
    for at in expected:
        (seen,) = changes(at - timedelta(seconds=90), at + timedelta(seconds=90), 1.0)
        assert abs((seen - at).total_seconds()) <= 1.0, (seen, at)
