"""Register values to the normalized `state` of topic contract v1, checked against the state JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema

import contracts
from controllers.devices import DeviceKind
from controllers.normalize import normalize_state

NOW = datetime(2026, 11, 23, 7, 30, 0, 400_000, tzinfo=UTC)
STATE_SCHEMA = json.loads(contracts.mqtt_schema_path("state").read_text())


def state(kind: DeviceKind, values: dict[str, object]) -> dict[str, object]:
    out = normalize_state(kind, values, NOW)
    jsonschema.validate({"ts": "2026-11-23T07:30:00.400Z", "seq": 0, "kind": kind.value, "values": out},
                        STATE_SCHEMA)
    return out


def test_signal_phases_and_peds_from_bit_masks() -> None:
    s = state(DeviceKind.SIGNAL_CONTROLLER, {
        "mode": "coordinated", "pattern": 2, "cycle_timer_s": 12.5, "phase_green": 0b00100010,
        "phase_yellow": 0b00000001, "phase_red": 0b11011100, "ped_walk": 0b00000010, "ped_clear": 0b00100000,
        "alarm_flags": ["door_open"], "flash_cause": "none", "control_source": "schedule"})
    assert s["phases"] == {"1": "yellow", "2": "green", "3": "red", "4": "red", "5": "red", "6": "green",
                           "7": "red", "8": "red"}
    assert s["peds"] == {"2": "walk", "4": "dont_walk", "6": "ped_clear", "8": "dont_walk"}
    assert s["alarms"] == ["door_open"]
    assert s["mode"] == "coordinated" and s["pattern"] == 2


def test_signal_in_flash_shows_flashing_colours_and_dark_peds() -> None:
    s = state(DeviceKind.SIGNAL_CONTROLLER, {"mode": "flash", "pattern": 0, "cycle_timer_s": 0,
                                             "phase_yellow": 0b00100010, "phase_red": 0b11011101})
    assert s["phases"]["2"] == "flash_yellow" and s["phases"]["1"] == "flash_red"  # type: ignore[index]
    assert set(s["peds"].values()) == {"dark"}  # type: ignore[attr-defined]


def test_cabinet_circuits_and_override_until() -> None:
    s = state(DeviceKind.LIGHTING_CABINET, {
        "circuits": 4, "circuit1_on": True, "circuit1_level_pct": 80, "circuit1_current_a": 3.2,
        "circuit1_control": "override", "circuit1_override_remaining_s": 600, "circuit2_on": False,
        "breaker3_tripped": True, "door_open": False, "mains_ok": True, "photocell_lux": 12.5,
        "alarm_flags": ["breaker_trip"]})
    circuits = s["circuits"]
    assert isinstance(circuits, list) and len(circuits) == 4
    assert circuits[0] == {"circuit": 1, "on": True, "level_pct": 80.0, "current_a": 3.2, "control": "override",
                           "override_until": "2026-11-23T07:40:00.000Z", "breaker_tripped": False}
    assert circuits[2]["breaker_tripped"] is True and circuits[1]["override_until"] is None
    assert s["photocell_lux"] == 12.5 and s["alarms"] == ["breaker_trip"]
