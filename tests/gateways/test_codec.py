"""Register codecs: known vectors for every type, byte and word order, scale; round trips; range errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateways.modbus.codec import CodecError, compile_decoder, decode, encode
from gateways.modbus.profile import Point, load_profile


def pt(type_: str, **kw: Any) -> Point:
    table = "discrete" if type_ == "bool" else "holding"
    return Point(name="p", table=table, address=0, type=type_, access="rw", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("type_", "regs", "value", "orders"), [
    ("u16", [0x1234], 0x1234, {}),
    ("u16", [0x3412], 0x1234, {"byte_order": "little"}),
    ("i16", [0xFFFE], -2, {}),
    ("i16", [0x8000], -32768, {}),
    ("u32", [0x0001, 0x0002], 0x0001_0002, {}),
    ("u32", [0x0002, 0x0001], 0x0001_0002, {"word_order": "little"}),
    ("u32", [0x0100, 0x0200], 0x0001_0002, {"byte_order": "little"}),
    ("u32", [0x0200, 0x0100], 0x0001_0002, {"byte_order": "little", "word_order": "little"}),
    ("i32", [0xFFFF, 0xFFFF], -1, {}),
    ("i32", [0xFFFE, 0xFFFF], -2, {"word_order": "little"}),
    ("f32", [0x4049, 0x0FDB], 3.1415927410125732, {}),
    ("f32", [0x0FDB, 0x4049], 3.1415927410125732, {"word_order": "little"}),
    ("f32", [0x4940, 0xDB0F], 3.1415927410125732, {"byte_order": "little"}),
    ("f32", [0x3F80, 0x0000], 1.0, {}),
])
def test_known_vectors(type_: str, regs: list[int], value: float, orders: dict[str, str]) -> None:
    p = pt(type_, **orders)
    assert decode(p, regs) == value
    assert encode(p, value) == regs


def test_scale_applies_both_ways() -> None:
    p = pt("u16", scale=0.1)
    assert decode(p, [2305]) == pytest.approx(230.5)
    assert encode(p, 230.5) == [2305]
    t = pt("i16", scale=0.1)
    assert decode(t, [0xFF9C]) == pytest.approx(-10.0)


def test_string_two_chars_a_register_nul_padded() -> None:
    p = pt("str", length=8)
    regs = encode(p, "SC-2")
    assert regs == [0x5343, 0x2D32, 0, 0]
    assert decode(p, regs) == "SC-2"
    assert decode(pt("str", length=8, byte_order="little"), [0x4353, 0x322D, 0, 0]) == "SC-2"
    with pytest.raises(CodecError, match="at most 8"):
        encode(p, "much too long")


def test_bool() -> None:
    assert decode(pt("bool"), [1]) is True
    assert encode(pt("bool"), False) == [0]


@pytest.mark.parametrize(("type_", "value"), [("u16", 65536), ("u16", -1), ("i16", 40000), ("u32", -1),
                                               ("i32", 2**31)])
def test_out_of_range_is_refused_naming_the_point(type_: str, value: int) -> None:
    with pytest.raises(CodecError, match="point p"):
        encode(pt(type_), value)


def test_min_max_of_the_map_are_enforced() -> None:
    p = load_profile("lighting-cabinet-v1").point("cmd_level_pct")
    with pytest.raises(CodecError, match="cmd_level_pct"):
        encode(p, 101)


def test_wrong_register_count() -> None:
    with pytest.raises(CodecError, match="expected 2 registers"):
        decode(pt("u32"), [1])


def test_profile_word_order_override() -> None:
    profile = load_profile("lighting-cabinet-v1")
    energy = profile.point("energy_kwh")  # low word first in this vendor's map
    assert decode(energy, [0x5678, 0x0001], profile) == pytest.approx(0x0001_5678 * 0.01)
    power = profile.point("active_power_w")
    assert decode(power, [0x3F80, 0x0000], profile) == 1.0


orders = st.sampled_from(["big", "little"])


@given(st.integers(0, 2**32 - 1), orders, orders)
def test_u32_round_trip(value: int, bo: str, wo: str) -> None:
    p = pt("u32", byte_order=bo, word_order=wo)
    assert decode(p, encode(p, value)) == value


@given(st.integers(-(2**31), 2**31 - 1), orders, orders)
def test_i32_round_trip(value: int, bo: str, wo: str) -> None:
    p = pt("i32", byte_order=bo, word_order=wo)
    assert decode(p, encode(p, value)) == value


@given(st.floats(width=32, allow_nan=False), orders, orders)
def test_f32_round_trip(value: float, bo: str, wo: str) -> None:
    p = pt("f32", byte_order=bo, word_order=wo)
    out = decode(p, encode(p, value))
    assert out == value or (math.isinf(value) and out == value)


@given(st.integers(-32768, 32767), orders)
def test_i16_round_trip(value: int, bo: str) -> None:
    p = pt("i16", byte_order=bo)
    assert decode(p, encode(p, value)) == value


@given(st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8), orders, orders)
def test_compiled_decoders_agree_with_decode(regs: list[int], bo: str, wo: str) -> None:
    for type_, kw in [("u16", {}), ("i16", {}), ("u32", {}), ("i32", {}), ("u16", {"scale": 0.1}),
                      ("i16", {"scale": 0.01}), ("u32", {"scale": 0.01}), ("str", {"length": 7})]:
        p = pt(type_, byte_order=bo, word_order=wo, **kw)
        got = compile_decoder(p)(regs, 1)
        want = decode(p, regs[1:1 + p.width])
        assert got == want or (isinstance(got, float) and math.isnan(got) and math.isnan(want))  # type: ignore[arg-type]


def test_compiled_decoders_of_the_shipped_maps() -> None:
    for name in ("signal-controller-v1", "lighting-cabinet-v1"):
        profile = load_profile(name)
        regs = list(range(40000, 40000 + 200))
        for p in profile.points:
            assert compile_decoder(p, profile)(regs, 3) == decode(p, regs[3:3 + p.width], profile), p.name
