"""Codecs between Modbus registers and values: u16/i16/u32/i32/f32/bool/str, byte order, word order and scale.

`byte_order` is the order of the two bytes inside one register; `word_order` which 16-bit word of a 32-bit value
comes first ("big" = high word at the lower address). A point's own `word_order`/`byte_order` overrides the
profile's. Pure functions; `CodecError` names the point and the offending value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from gateways.modbus.profile import Order, Point, Profile

Value = int | float | bool | str


class CodecError(ValueError):
    """A value that does not fit its point (range, type) or registers of the wrong count."""


def _orders(point: Point, profile: Profile | None) -> tuple[Order, Order]:
    byte_order: Order = point.byte_order or (profile.byte_order if profile else "big")
    word_order: Order = point.word_order or (profile.word_order if profile else "big")
    return byte_order, word_order


def _swap(reg: int) -> int:
    return ((reg & 0xFF) << 8) | (reg >> 8)


def registers_to_bytes(regs: list[int], byte_order: Order, word_order: Order) -> bytes:
    """Big-endian bytes of the value the registers hold (most significant first)."""
    words = regs if word_order == "big" else list(reversed(regs))
    if byte_order == "little":
        words = [_swap(w) for w in words]
    return b"".join(w.to_bytes(2, "big") for w in words)


def bytes_to_registers(data: bytes, byte_order: Order, word_order: Order) -> list[int]:
    words = [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]
    if byte_order == "little":
        words = [_swap(w) for w in words]
    return words if word_order == "big" else list(reversed(words))


_FORMATS = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f"}


def decode(point: Point, regs: list[int], profile: Profile | None = None) -> Value:
    """Value of `point` from its registers (raw integer times `scale`, when a scale is set)."""
    if len(regs) != point.width:
        raise CodecError(f"point {point.name}: expected {point.width} registers, got {len(regs)}")
    byte_order, word_order = _orders(point, profile)
    if point.type == "bool":
        return bool(regs[0])
    if point.type == "str":
        # Strings are a sequence of characters, 2 a register: word order does not apply to them.
        raw = b"".join(
            (_swap(r) if byte_order == "little" else r).to_bytes(2, "big") for r in regs)[: point.length]
        return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace")
    number: int | float = struct.unpack(_FORMATS[point.type], registers_to_bytes(regs, byte_order, word_order))[0]
    if point.scale is not None:
        return round(number * point.scale, 10)
    return float(number) if point.type == "f32" else int(number)


_RANGES = {"u16": (0, 0xFFFF), "i16": (-0x8000, 0x7FFF), "u32": (0, 0xFFFF_FFFF), "i32": (-0x8000_0000, 0x7FFF_FFFF)}


def encode(point: Point, value: Value, profile: Profile | None = None) -> list[int]:
    """Registers holding `value` for `point` (divided by `scale` and rounded, when a scale is set).

    Raises CodecError when the value is of the wrong type or out of the point's range (its type and min/max).
    """
    byte_order, word_order = _orders(point, profile)
    if point.type == "bool":
        if not isinstance(value, bool | int):
            raise CodecError(f"point {point.name}: expected a boolean, got {value!r}")
        return [1 if value else 0]
    if point.type == "str":
        if not isinstance(value, str):
            raise CodecError(f"point {point.name}: expected a string, got {value!r}")
        assert point.length is not None
        data = value.encode("ascii", errors="strict") if value.isascii() else None
        if data is None or len(data) > point.length:
            raise CodecError(f"point {point.name}: {value!r} is not ASCII of at most {point.length} characters")
        data = data.ljust(point.width * 2, b"\x00")
        return [_swap(w) if byte_order == "little" else w
                for w in (int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))]
    if isinstance(value, str) or not isinstance(value, int | float):
        raise CodecError(f"point {point.name}: expected a number, got {value!r}")
    if (point.min is not None and value < point.min) or (point.max is not None and value > point.max):
        raise CodecError(f"point {point.name}: {value} outside [{point.min}, {point.max}]")
    number: int | float = value / point.scale if point.scale is not None else value
    if point.type != "f32":
        number = round(number)
        lo, hi = _RANGES[point.type]
        if not lo <= number <= hi:
            raise CodecError(f"point {point.name}: {value} does not fit {point.type}")
    data = struct.pack(_FORMATS[point.type], number)
    return bytes_to_registers(data, byte_order, word_order)


Decoder = Callable[[list[int], int], Value]


def compile_decoder(point: Point, profile: Profile | None = None) -> Decoder:
    """A function (registers, offset) -> value for `point`, equal to `decode` but with the common cases (16 and
    32-bit integers in big-endian registers) resolved once, since it runs for every point of every poll."""
    byte_order, word_order = _orders(point, profile)
    scale = point.scale
    fast: Decoder | None = None
    if byte_order == "big":
        if point.type == "u16":
            def fast(r: list[int], o: int) -> Value:
                return r[o]
        elif point.type == "i16":
            def fast(r: list[int], o: int) -> Value:
                v = r[o]
                return v - 0x10000 if v & 0x8000 else v
        elif point.type == "u32":
            hi, lo = (0, 1) if word_order == "big" else (1, 0)

            def fast(r: list[int], o: int) -> Value:
                return (r[o + hi] << 16) | r[o + lo]
        elif point.type == "bool":
            def fast(r: list[int], o: int) -> Value:
                return bool(r[o])
    width = point.width
    if fast is None:
        def generic(r: list[int], o: int) -> Value:
            return decode(point, r[o:o + width], profile)
        return generic
    if scale is None:
        return fast
    raw = fast

    def scaled(r: list[int], o: int) -> Value:
        return round(int(raw(r, o)) * scale, 10)
    return scaled
