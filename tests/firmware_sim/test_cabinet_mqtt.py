"""The MQTT cabinet's payloads follow the contract schemas; its command handling follows topic contract v1."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.cabinet import LightingCabinet
from firmware_sim.cabinet_mqtt import CabinetMqttFace
from firmware_sim.clock import ManualClock, rfc3339
from firmware_sim.schemas import SchemaError, check
from tests.command_signing import signed, sim_keys

NIGHT = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)      # 21:00 in Thái Nguyên


def face(start: datetime = NIGHT) -> tuple[CabinetMqttFace, ManualClock]:
    clock = ManualClock(start)
    cab = LightingCabinet("tn-cab-002", 21.59, 105.85, random.Random(3))
    cab.photocell_lux = cab.lux(clock.now())
    cab.step(clock.now(), 1.0)
    return CabinetMqttFace(cab, "tn", clock, sim_keys()), clock


def cmd(name: str, args: dict[str, object], *, expires_in_s: float = 60, cmd_id: str = "cmd-0001",
        now: datetime = NIGHT) -> bytes:
    return json.dumps(signed({"id": cmd_id, "name": name, "args": args, "issued_by": "ops",
                              "expires_at": rfc3339(now + timedelta(seconds=expires_in_s))},
                             "tn", "tn-cab-002")).encode()


def test_every_published_payload_validates() -> None:
    f, clock = face()
    check("birth", f.birth())
    check("state", f.state())
    check("telemetry", f.telemetry())
    f.cab.door_open = True
    events = f.alarm_events()
    assert [e["alarm"] for e in events] == ["door_open"]
    for event in events:
        check("event", event)
    until = rfc3339(clock.now() + timedelta(minutes=30))
    res = f.handle_command(cmd("switch", {"circuit": 2, "level_pct": 40, "until": until}))
    assert res is not None
    check("cmd/res", res)
    check("state", f.state())
    check("status", {"status": "online"})


def test_lights_follow_the_sun() -> None:
    night, _ = face(NIGHT)
    assert all(c.on and c.level_pct == 100 for c in night.cab.circuits)
    day, _ = face(datetime(2026, 11, 23, 5, 0, tzinfo=UTC))   # noon local
    assert not any(c.on for c in day.cab.circuits)
    assert day.cab.photocell_lux > 10000 and night.cab.photocell_lux < 5


def test_switch_command_overrides_until_expiry() -> None:
    f, clock = face()
    until = clock.now() + timedelta(minutes=10)
    res = f.handle_command(cmd("switch", {"circuit": 3, "level_pct": 0, "until": rfc3339(until)}))
    assert res is not None and res["ok"] is True
    c3 = res["state"]["circuits"][2]
    assert c3["on"] is False and c3["control"] == "override" and c3["override_until"] == rfc3339(until)
    clock.advance(601)
    f.cab.step(clock.now(), 1.0)
    assert f.cab.circuits[2].on and not f.cab.circuits[2].overridden


def test_each_circuit_reports_the_step_it_last_switched_or_dimmed_at() -> None:
    f, clock = face()
    start = rfc3339(NIGHT)
    assert [c["changed_at"] for c in f.state_values()["circuits"]] == [start] * 4   # lit at power-up
    clock.advance(5)
    f.cab.switch(2, 40, None)
    f.cab.step(clock.now(), 1.0)
    clock.advance(5)
    f.cab.step(clock.now(), 1.0)            # nothing changes: the record stays
    circuits = f.state_values()["circuits"]
    assert circuits[1]["changed_at"] == rfc3339(NIGHT + timedelta(seconds=5)) and circuits[0]["changed_at"] == start
    check("state", f.state())


def test_same_id_executes_once_and_expired_is_refused() -> None:
    f, clock = face()
    until = rfc3339(clock.now() + timedelta(minutes=10))
    first = f.handle_command(cmd("switch", {"circuit": 1, "level_pct": 30, "until": until}))
    f.cab.release(1)                                       # if the repeat executed again, level would be 30
    again = f.handle_command(cmd("switch", {"circuit": 1, "level_pct": 30, "until": until}))
    assert again == first and not f.cab.circuits[0].overridden
    expired = f.handle_command(cmd("switch", {"circuit": 1, "level_pct": 30, "until": until}, expires_in_s=-1,
                                   cmd_id="cmd-0002"))
    assert expired is not None and expired["ok"] is False and expired["error"] == "expired"
    assert not f.cab.circuits[0].overridden


@pytest.mark.parametrize(("payload", "answered"), [
    (b'{"id": "cmd-0003", "name": "switch", "args": {"circuit": 1}}', True),      # missing fields
    (b'{"name": "switch"}', False),                                               # no id: dropped
    (b"not json", False),
])
def test_malformed_commands(payload: bytes, answered: bool) -> None:
    f, _ = face()
    res = f.handle_command(payload)
    if answered:
        assert res is not None and res["error"] == "malformed" and res["ok"] is False
        check("cmd/res", res)
    else:
        assert res is None
    assert not any(c.overridden for c in f.cab.circuits)


def test_invalid_circuit_is_invalid_args() -> None:
    f, clock = face()
    until = rfc3339(clock.now() + timedelta(minutes=10))
    res = f.handle_command(cmd("switch", {"circuit": 9, "level_pct": 30, "until": until}))
    assert res is not None and res["error"] == "invalid_args" and "circuit" in res["message"]


def test_schema_checker_names_the_field() -> None:
    with pytest.raises(SchemaError, match="values"):
        check("telemetry", {"ts": "2026-11-23T14:00:00.000Z", "seq": 1, "values": {}})


def test_lighting_program_over_a_night() -> None:
    clock = ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))       # 16:00 local, before sunset
    cab = LightingCabinet("tn-cab-009", 21.59, 105.85, random.Random(5))
    _, sunset = cab.sun_times(datetime(2026, 11, 23).date())
    sunrise, _ = cab.sun_times(datetime(2026, 11, 24).date())
    seen: dict[str, set[float]] = {"evening": set(), "late": set(), "morning": set()}
    energy_before = cab.energy_kwh
    for _ in range(24 * 60):
        clock.advance(60)
        now = clock.now()
        cab.step(now, 60.0)
        local_hour = (now.hour + 7) % 24
        levels = {c.level_pct for c in cab.circuits}
        if now < sunset + timedelta(minutes=9):
            assert levels == {0.0}, "off before sunset + 10 min"
        elif 19 <= local_hour < 22:
            seen["evening"] |= levels
        elif local_hour == 23 or local_hour < 4:
            seen["late"] |= levels
        elif now > sunrise - timedelta(minutes=9) and local_hour < 12:
            seen["morning"] |= levels
    assert seen == {"evening": {100.0}, "late": {50.0}, "morning": {0.0}}
    assert cab.energy_kwh > energy_before
    assert all(c.switch_count == 2 and 11 * 3600 < c.burning_s < 13.5 * 3600 for c in cab.circuits)


def test_a_deployed_program_survives_a_power_cycle_in_flash(tmp_path: object) -> None:
    from pathlib import Path

    from firmware_sim.cabinet_program import default_document

    flash = Path(str(tmp_path)) / "tn-cab-002.program.json"
    cab = LightingCabinet("tn-cab-002", 21.59, 105.85, random.Random(3), flash=flash)
    doc = default_document(4, 21.59, 105.85, "Asia/Ho_Chi_Minh")
    doc["programs"][0]["steps"][0]["offset_min"] = 25
    cab.deploy(doc, 0x1234ABCD, NIGHT)
    again = LightingCabinet("tn-cab-002", 21.59, 105.85, random.Random(3), flash=flash)
    assert again.program_crc32 == 0x1234ABCD and again.program is not None
    assert again.program.level(1, NIGHT) == cab.program_level(NIGHT)
    flash.write_text("{not json")
    factory = LightingCabinet("tn-cab-002", 21.59, 105.85, random.Random(3), flash=flash)
    assert factory.program_crc32 is None, "an unreadable flash boots the factory program"
    assert LightingCabinet("tn-cab-002", 21.59, 105.85, random.Random(3)).program_crc32 is None
