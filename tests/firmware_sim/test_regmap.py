"""Register images follow the maps in contracts/modbus: addresses, types, scale and word order."""

from __future__ import annotations

import pytest

from firmware_sim.regmap import RegisterImage, decode, encode, load_map


def test_signal_map_layout_has_documented_points() -> None:
    m = load_map("signal-controller-v1")
    for name, address in {"phase_green": 0, "phase_yellow": 1, "phase_red": 2, "ped_walk": 3, "mode": 5,
                          "pattern": 7, "cycle_timer_s": 8}.items():
        assert m.points[name].address == address
        assert m.points[name].table == "input"
    assert m.size("input") == 196          # event FIFO 100 + 16 x 6
    assert m.areas["plan_staging"].registers == 2048


@pytest.mark.parametrize(("name", "value", "words"), [
    ("cycle_timer_s", 12.3, [123]),
    ("cabinet_temp_c", -5.5, [0xFFC9]),
    ("plan_crc32", 0xCBF43926, [0xCBF4, 0x3926]),
])
def test_signal_encoding(name: str, value: float, words: list[int]) -> None:
    img = RegisterImage(load_map("signal-controller-v1"))
    img.set(name, value)
    p = img.map.points[name]
    assert img.tables[p.table][p.address:p.address + p.width] == words
    assert img.get(name) == pytest.approx(value)


def test_cabinet_energy_is_low_word_first_and_floats_round_trip() -> None:
    m = load_map("lighting-cabinet-v1")
    energy = m.points["energy_kwh"]
    assert encode(energy, 700.01) == [70001 & 0xFFFF, 70001 >> 16]
    lux = m.points["photocell_lux"]
    assert decode(lux, encode(lux, 12.5)) == 12.5


def test_out_of_range_values_clamp_instead_of_wrapping() -> None:
    img = RegisterImage(load_map("signal-controller-v1"))
    img.set("cycle_s", 70000)
    assert img.get("cycle_s") == 0xFFFF
    img.set("cycle_s", -3)
    assert img.get("cycle_s") == 0


def test_string_points_are_nul_padded_ascii() -> None:
    img = RegisterImage(load_map("signal-controller-v1"))
    img.set("firmware", "fw-2")
    p = img.map.points["firmware"]
    assert img.tables["input"][p.address:p.address + 3] == [0x6677, 0x2D32, 0]
    assert img.get("firmware") == "fw-2"
