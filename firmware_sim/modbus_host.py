"""Modbus TCP for simulated devices: many unit ids behind one TCP port, like an RS-485 line behind a gateway.

Built on the pymodbus simulator (`SimDevice` / `SimData` passed as `context=` to `ModbusTcpServer`). Each unit's
memory is laid out from its register map; its `action` callback runs on every request: before a read it copies
the firmware's current image into the served registers, and a write is handed to the firmware, which executes
command blocks and plan commits. A unit with a communication fault (or without power) answers exception 0x0B
(gateway target failed to respond), as a Modbus gateway does for a dead RS-485 device.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.regmap import RegisterImage

log = logging.getLogger(__name__)

_READ_TABLE = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
_WRITE_HOLDING = {6, 16, 23}


@dataclass
class ModbusUnit:
    """One device behind the port: its image, how to refresh it, and where writes go."""

    device_id: str
    unit_id: int
    image: RegisterImage
    refresh: Callable[[], None]
    write: Callable[[int, list[int]], int | None]      # (holding address, values) -> Modbus exception or None
    answering: Callable[[], bool] = lambda: True


def _bits_to_words(bits: list[int], words: int) -> list[int]:
    out = [0] * words
    for i, bit in enumerate(bits):
        if bit:
            out[i // 16] |= 1 << (i % 16)
    return out


class ModbusPort:
    """A ModbusTcpServer serving `units` on (host, port); port 0 picks a free one (see `.port` once started)."""

    def __init__(self, host: str, port: int, units: list[ModbusUnit]) -> None:
        self.host, self.port = host, port
        self.units = {u.unit_id: u for u in units}
        self.server: ModbusTcpServer | None = None

    @staticmethod
    def _layout(image: RegisterImage) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
        def regs(table: str) -> list[SimData]:
            start, size = image.map.start(table), image.map.size(table)
            if size == 0:
                return [SimData(0, count=1, datatype=DataType.REGISTERS)]
            return [SimData(start, count=size - start, datatype=DataType.REGISTERS)]

        def bits(table: str) -> list[SimData]:
            size = max(16, -(-image.map.size(table) // 16) * 16)
            return [SimData(0, values=[False] * size, datatype=DataType.BITS)]
        return (bits("coil"), bits("discrete"), regs("holding"), regs("input"))

    async def _action(self, unit: ModbusUnit, function_code: int, start_address: int, address: int, count: int,
                      current: list[int], set_values: list[int] | list[bool] | None) -> ExcCodes | None:
        if not unit.answering():
            return ExcCodes.GATEWAY_NO_RESPONSE
        if set_values is not None:
            if function_code not in _WRITE_HOLDING:
                return ExcCodes.ILLEGAL_ADDRESS         # coils and discrete inputs are not writable here
            code = unit.write(address, [int(v) for v in set_values])
            if code is not None:
                return ExcCodes(code)
        table = _READ_TABLE.get(function_code, "holding")
        unit.refresh()
        words = unit.image.tables[table]
        if table in ("coil", "discrete"):
            packed = _bits_to_words(words, len(current) - 1)
            current[:len(packed)] = packed
        else:
            # Copy only what is asked: the whole block can be 2000+ registers (plan staging).
            lo = address - start_address
            current[lo:lo + count] = words[address:address + count] + [0] * max(0, address + count - len(words))
        return None

    async def start(self) -> None:
        """Listen; sets `.port` to the bound port. Raises OSError when the address is taken."""
        devices = [SimDevice(id=u.unit_id, simdata=self._layout(u.image), action=partial(self._action, u))
                   for u in self.units.values()]
        self.server = ModbusTcpServer(context=devices, address=(self.host, self.port))
        try:
            await self.server.serve_forever(background=True)
        except RuntimeError as exc:      # pymodbus reports a failed bind this way
            raise OSError(f"Modbus server cannot listen on {self.host}:{self.port}: {exc}") from exc
        sockets = getattr(self.server.transport, "sockets", None)
        if not sockets:
            raise OSError(f"Modbus server did not start on {self.host}:{self.port}")
        self.port = int(sockets[0].getsockname()[1])
        log.info("modbus_listening host=%s port=%d units=%d", self.host, self.port, len(self.units))

    async def stop(self) -> None:
        if self.server is not None:
            await asyncio.wait_for(self.server.shutdown(), timeout=5)  # type: ignore[no-untyped-call]
            self.server = None
