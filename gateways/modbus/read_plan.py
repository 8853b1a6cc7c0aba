"""Read planning: points of one table coalesced into as few reads as possible.

Modbus limits one read to 125 registers (FC3/FC4) or 2000 bits (FC1/FC2). Points are sorted by address and merged
while the span stays within the limit and the hole between two points is at most `max_gap` registers (reading a few
unused registers is cheaper than another round trip; a device that refuses unmapped addresses gets `max_gap=0`).
Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from gateways.modbus.profile import Point, Table

MAX_REGISTERS = 125
MAX_BITS = 2000


@dataclass(frozen=True, slots=True)
class Read:
    """One request: `count` registers (or bits) of `table` from `address`, covering `points`."""

    table: Table
    address: int
    count: int
    points: tuple[Point, ...] = field(default=())

    def slice(self, point: Point, values: list[int]) -> list[int]:
        """The registers of `point` within the values this read returned."""
        start = point.address - self.address
        return values[start:start + point.width]


def plan_reads(points: Iterable[Point], *, max_gap: int = 0, max_registers: int = MAX_REGISTERS,
               max_bits: int = MAX_BITS) -> list[Read]:
    """Coalesced reads covering `points`, ordered by table then address. Raises ValueError for a point wider
    than one read allows."""
    by_table: dict[Table, list[Point]] = {}
    for p in points:
        by_table.setdefault(p.table, []).append(p)
    reads: list[Read] = []
    for table in sorted(by_table):
        limit = max_bits if table in ("coil", "discrete") else max_registers
        current: list[Point] = []
        start = end = 0
        for p in sorted(by_table[table], key=lambda q: (q.address, q.width)):
            p_end = p.address + p.width
            if p.width > limit:
                raise ValueError(f"point {p.name} spans {p.width}, more than one read ({limit})")
            if current and p.address <= end + max_gap and max(end, p_end) - start <= limit:
                current.append(p)
                end = max(end, p_end)
                continue
            if current:
                reads.append(Read(table, start, end - start, tuple(current)))
            current, start, end = [p], p.address, p_end
        if current:
            reads.append(Read(table, start, end - start, tuple(current)))
    return reads
