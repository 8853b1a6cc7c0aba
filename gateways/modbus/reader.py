"""Reading one Modbus device through its profile: planned reads per poll group, decoded and labelled values.

Labelling: an `enum` point yields its label ("flash"), a `bits` point the list of the names of its set bits; a
register value outside a point's enum is reported (`ValueIssue`) and left out, so bad device data never reaches the
state. Raises `ModbusError` (from the link) when a read fails.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gateways.manifest import ModbusDevice
from gateways.modbus.codec import CodecError, Decoder, Value, compile_decoder
from gateways.modbus.link import ModbusError, ModbusLink
from gateways.modbus.profile import Point, Profile
from gateways.modbus.read_plan import Read, plan_reads

log = logging.getLogger(__name__)


@dataclass
class ReadResult:
    values: dict[str, Any] = field(default_factory=dict)
    issues: list[str] = field(default_factory=list)


def label(point: Point, value: Value) -> Any:
    """The value as the state shows it: enum label, list of bit names, or the number itself.

    Raises ValueError for a value outside the point's enumeration or a non-finite float.
    """
    if point.enum is not None:
        if not isinstance(value, int) or value not in point.enum:
            raise ValueError(f"value {value!r} not in enumeration {sorted(point.enum)}")
        return point.enum[value]
    if point.bits is not None and isinstance(value, int):
        return [name for bit, name in sorted(point.bits.items()) if value >> bit & 1]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"non-finite value {value!r}")
    return value


_DECODERS: dict[int, tuple[Profile, dict[str, Decoder]]] = {}


def _decoders(profile: Profile) -> dict[str, Decoder]:
    """Decoders of a profile's points, shared by every device of that profile (keyed by identity; the profile is
    kept alive with them so the id cannot be reused)."""
    entry = _DECODERS.get(id(profile))
    if entry is None or entry[0] is not profile:
        entry = (profile, {p.name: compile_decoder(p, profile) for p in profile.points})
        _DECODERS[id(profile)] = entry
    return entry[1]


class DeviceReader:
    """Planned reads of one device. `max_gap` registers between points may be read over to save requests."""

    def __init__(self, entry: ModbusDevice, profile: Profile, link: ModbusLink, *, max_gap: int = 0) -> None:
        self.entry = entry
        self.profile = profile
        self.link = link
        self.unit_id = entry.unit_id
        # A profile with a `device_clock` has the device's clock read with every group, to stamp its samples.
        clock = [profile.point(n) for n in (profile.device_clock.seconds, profile.device_clock.millis)
                 if n is not None] if profile.device_clock else []
        self.plans: dict[str, list[Read]] = {}
        for group in profile.poll_groups:
            polled = profile.polled(group)
            extra = [p for p in clock if p not in polled] if polled else []
            self.plans[group] = plan_reads(polled + extra, max_gap=max_gap)
        self._decoders = _decoders(profile)

    async def read_plan(self, reads: Iterable[Read]) -> ReadResult:
        """Perform `reads` and decode every point they cover. Raises ModbusError on the first failed read."""
        result = ReadResult()
        for r in reads:
            regs = await self.link.read(r.table, r.address, r.count, unit_id=self.unit_id, device=self.entry.id)
            if len(regs) < r.count:
                raise ModbusError(f"device={self.entry.id} read {r.table}@{r.address}: {len(regs)} of {r.count} "
                                  "values returned")
            for p in r.points:
                try:
                    value = self._decoders[p.name](regs, p.address - r.address)
                    result.values[p.name] = label(p, value) if p.enum or p.bits or p.type == "f32" else value
                except (CodecError, ValueError) as exc:
                    result.issues.append(f"{p.name}: {exc}")
        for issue in result.issues:
            log.warning("modbus_bad_value device=%s profile=%s point=%s", self.entry.id, self.profile.profile, issue)
        return result

    async def read_group(self, group: str) -> ReadResult:
        return await self.read_plan(self.plans[group])

    async def read_points(self, names: Iterable[str]) -> ReadResult:
        """Read the named points (coalesced) regardless of their poll group."""
        return await self.read_plan(plan_reads([self.profile.point(n) for n in names]))
