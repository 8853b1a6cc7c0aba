"""Read planning: contiguous points coalesced, limits of 125 registers and 2000 bits, tables kept apart."""

from __future__ import annotations

import pytest

from gateways.modbus.profile import Point, load_profile
from gateways.modbus.read_plan import plan_reads


def reg(name: str, address: int, type_: str = "u16", table: str = "input") -> Point:
    return Point(name=name, table=table, address=address, type=type_, access="r")  # type: ignore[arg-type]


def test_contiguous_points_make_one_read() -> None:
    reads = plan_reads([reg("a", 0), reg("b", 1), reg("c", 2, "u32"), reg("d", 4)])
    assert [(r.address, r.count) for r in reads] == [(0, 5)]
    assert [p.name for p in reads[0].points] == ["a", "b", "c", "d"]


def test_a_hole_splits_unless_max_gap_allows_it() -> None:
    points = [reg("a", 0), reg("b", 5)]
    assert [(r.address, r.count) for r in plan_reads(points)] == [(0, 1), (5, 1)]
    assert [(r.address, r.count) for r in plan_reads(points, max_gap=4)] == [(0, 6)]


def test_registers_split_at_125() -> None:
    points = [reg(f"p{i}", i) for i in range(300)]
    reads = plan_reads(points)
    assert [(r.address, r.count) for r in reads] == [(0, 125), (125, 125), (250, 50)]
    assert sum(len(r.points) for r in reads) == 300


def test_a_32_bit_point_is_never_split_across_reads() -> None:
    points = [reg(f"p{i}", i) for i in range(124)] + [reg("wide", 124, "u32")]
    reads = plan_reads(points)
    assert [(r.address, r.count) for r in reads] == [(0, 124), (124, 2)]


def test_bits_split_at_2000_and_tables_apart() -> None:
    points = [reg(f"b{i}", i, "bool", "discrete") for i in range(2100)] + [reg("h", 0, table="holding")]
    reads = plan_reads(points)
    assert [(r.table, r.address, r.count) for r in reads] == [
        ("discrete", 0, 2000), ("discrete", 2000, 100), ("holding", 0, 1)]


def test_slice_returns_the_points_registers() -> None:
    (read,) = plan_reads([reg("a", 10), reg("b", 11, "u32")])
    assert read.slice(read.points[1], [7, 8, 9]) == [8, 9]


@pytest.mark.parametrize("profile", ["signal-controller-v1", "lighting-cabinet-v1"])
def test_shipped_profiles_fast_group_is_few_reads(profile: str) -> None:
    p = load_profile(profile)
    reads = plan_reads(p.polled("fast"))
    # signal: input 0..22 in one read; cabinet: 11 discretes + input 0..19 + input 54..56 + the running lighting
    # document's CRC and transfer status at input 78..81 (its state reports which document runs)
    assert len(reads) <= (3 if profile == "signal-controller-v1" else 4)
    assert all(r.count <= 125 for r in reads)
