"""Register images laid out from the Modbus register maps in `contracts/modbus/*.yaml`.

The firmware keeps its own memory per table (coil, discrete, holding, input) and writes engineering values into it
by point name; encoding (type, scale, word order) follows the map. This is an independent reading of the map, so it
imports nothing of the project but `contracts`. Pure, no I/O beyond reading the YAML file once.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from contracts import modbus_map_path

TABLES = ("coil", "discrete", "holding", "input")
_WIDTH = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "bool": 1}


class RegisterMapError(ValueError):
    """A register map file is not what this firmware understands (names the profile and point)."""


@dataclass(frozen=True, slots=True)
class Point:
    name: str
    table: str
    address: int
    type: str
    width: int
    scale: float
    word_order: str


@dataclass(frozen=True, slots=True)
class Area:
    name: str
    table: str
    address: int
    registers: int


@dataclass(frozen=True, slots=True)
class RegisterMap:
    profile: str
    kind: str
    points: dict[str, Point]
    areas: dict[str, Area]
    commands: dict[str, dict[str, Any]]

    def size(self, table: str) -> int:
        """Registers (or bits) a table needs: one past the highest address used."""
        ends = [p.address + p.width for p in self.points.values() if p.table == table]
        ends += [a.address + a.registers for a in self.areas.values() if a.table == table]
        return max(ends, default=0)

    def writable(self) -> frozenset[int]:
        """Holding addresses a master may write: the rw points and the rw areas (nothing in between)."""
        found: set[int] = set()
        for p in self.points.values():
            if p.table == "holding":
                found.update(range(p.address, p.address + p.width))
        for a in self.areas.values():
            if a.table == "holding":
                found.update(range(a.address, a.address + a.registers))
        return frozenset(found)

    def start(self, table: str) -> int:
        """Lowest address used in a table (0 when the table is unused)."""
        starts = [p.address for p in self.points.values() if p.table == table]
        starts += [a.address for a in self.areas.values() if a.table == table]
        return min(starts, default=0)


@cache
def load_map(profile: str) -> RegisterMap:
    """Read `contracts/modbus/{profile}.yaml`. Raises FileNotFoundError or RegisterMapError naming the point."""
    doc = yaml.safe_load(modbus_map_path(profile).read_text(encoding="utf-8"))
    default_order = doc.get("word_order", "big")
    points: dict[str, Point] = {}
    for raw in doc["points"]:
        name, kind = raw["name"], raw["type"]
        if raw["table"] not in TABLES:
            raise RegisterMapError(f"{profile}: point {name}: unknown table {raw['table']!r}")
        if kind == "str":
            width = int(raw["length"])
        elif kind in _WIDTH:
            width = _WIDTH[kind]
        else:
            raise RegisterMapError(f"{profile}: point {name}: unknown type {kind!r}")
        points[name] = Point(name, raw["table"], int(raw["address"]), kind, width, float(raw.get("scale", 1.0)),
                             raw.get("word_order", default_order))
    areas: dict[str, Area] = {}
    for name, raw in (doc.get("areas") or {}).items():
        count = int(raw.get("registers", raw.get("entries", 0) * raw.get("entry_registers", 1)))
        areas[name] = Area(name, raw["table"], int(raw["address"]), count)
    return RegisterMap(profile, doc["kind"], points, areas, dict(doc.get("commands") or {}))


class RegisterImage:
    """The device's memory for one register map: a list of 16-bit words (or bools) per table."""

    def __init__(self, regmap: RegisterMap) -> None:
        self.map = regmap
        self.tables: dict[str, list[int]] = {t: [0] * regmap.size(t) for t in TABLES}

    def set(self, name: str, value: float | int | bool | str) -> None:
        """Store an engineering value (scaled per the map; clamped to the type's range so a wild value never
        raises inside the firmware loop)."""
        p = self.map.points[name]
        words = encode(p, value)
        self.tables[p.table][p.address:p.address + p.width] = words

    def get(self, name: str) -> float | int | bool | str:
        """Decode the point's current value to engineering units."""
        p = self.map.points[name]
        return decode(p, self.tables[p.table][p.address:p.address + p.width])

    def raw(self, name: str) -> int:
        """The unscaled integer of a numeric point (for command fields written by a master)."""
        p = self.map.points[name]
        words = self.tables[p.table][p.address:p.address + p.width]
        return _join(p, words) if p.width == 2 else words[0]


def _split(p: Point, raw: int) -> list[int]:
    hi, lo = (raw >> 16) & 0xFFFF, raw & 0xFFFF
    return [hi, lo] if p.word_order == "big" else [lo, hi]


def _join(p: Point, words: list[int]) -> int:
    hi, lo = (words[0], words[1]) if p.word_order == "big" else (words[1], words[0])
    return (hi << 16) | lo


def encode(p: Point, value: float | int | bool | str) -> list[int]:
    """Words for `value` at point `p`."""
    if p.type == "str":
        data = str(value).encode("ascii", "replace")[: p.width * 2].ljust(p.width * 2, b"\0")
        return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    if p.type == "bool":
        return [1 if value else 0]
    if p.type == "f32":
        return _split(p, int.from_bytes(struct.pack(">f", float(value)), "big"))
    scaled = round(float(value) / p.scale)
    if p.type == "u16":
        return [min(max(scaled, 0), 0xFFFF)]
    if p.type == "i16":
        return [min(max(scaled, -0x8000), 0x7FFF) & 0xFFFF]
    if p.type == "u32":
        return _split(p, min(max(scaled, 0), 0xFFFFFFFF))
    return _split(p, min(max(scaled, -0x80000000), 0x7FFFFFFF) & 0xFFFFFFFF)


def decode(p: Point, words: list[int]) -> float | int | bool | str:
    """Engineering value of point `p` from its words."""
    if p.type == "str":
        return b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode("ascii", "replace")
    if p.type == "bool":
        return bool(words[0])
    if p.type == "f32":
        return float(struct.unpack(">f", _join(p, words).to_bytes(4, "big"))[0])
    raw = words[0] if p.width == 1 else _join(p, words)
    if p.type == "i16" and raw >= 0x8000:
        raw -= 0x10000
    if p.type == "i32" and raw >= 0x80000000:
        raw -= 0x100000000
    return raw if p.scale == 1.0 else raw * p.scale
