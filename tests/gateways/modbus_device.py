"""A Modbus TCP device for tests: a real pymodbus server whose memory the test sets through the register map.

Memory is per unit id: `input`/`holding` registers and `coil`/`discrete` bits, copied into pymodbus on every request
(so a value set by the test is what the next read returns). A write to the command block behaves like the contract's
devices: it echoes `cmd_token` into `cmd_result_token` with `cmd_result_code` = ok (or `result_code`), and calls
`on_command(unit, memory, registers)` so a test can model the command's effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from gateways.modbus.codec import Value, encode
from gateways.modbus.profile import Profile
from tests.servers import free_port

SIZE = 2560
BITS = 256


class Memory:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.tables: dict[str, list[int]] = {"input": [0] * SIZE, "holding": [0] * SIZE, "coil": [0] * BITS,
                                             "discrete": [0] * BITS}
        self.result_code = 1

    def set(self, name: str, value: Value) -> None:
        p = self.profile.point(name)
        if p.enum is not None and isinstance(value, str):
            value = {v: k for k, v in p.enum.items()}[value]
        regs = encode(p, value, self.profile)
        self.tables[p.table][p.address:p.address + len(regs)] = regs

    def set_raw(self, table: str, address: int, regs: list[int]) -> None:
        self.tables[table][address:address + len(regs)] = regs


class ModbusTestDevice:
    def __init__(self, profile: Profile, unit_ids: tuple[int, ...] = (1,),
                 on_command: Callable[[int, Memory, list[int]], None] | None = None) -> None:
        self.profile = profile
        self.memory = {u: Memory(profile) for u in unit_ids}
        self.on_command = on_command
        self.port = free_port()
        self.requests = 0
        self.writes: list[tuple[int, int, list[int]]] = []
        self.fail = False
        devices = [SimDevice(id=u, simdata=(
            [SimData(0, count=BITS, values=False, datatype=DataType.BITS)],
            [SimData(0, count=BITS, values=False, datatype=DataType.BITS)],
            [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)]), action=self._action(u))
            for u in unit_ids]
        self.server = ModbusTcpServer(devices, address=("127.0.0.1", self.port))

    def _action(self, unit: int) -> Any:
        async def action(fc: int, start: int, address: int, count: int, regs: list[int],
                         values: list[int] | list[bool] | None) -> Any:
            self.requests += 1
            mem = self.memory[unit]
            table = {1: "coil", 2: "discrete", 3: "holding", 4: "input", 16: "holding", 6: "holding"}[fc]
            src = mem.tables[table]
            if table in ("coil", "discrete"):
                regs[:] = SimUtils.bitsToRegisters([bool(b) for b in src])
            else:
                regs[:len(src)] = src
            if values is not None and fc in (6, 16):
                vals = [int(v) for v in values]
                src[address:address + len(vals)] = vals
                self.writes.append((unit, address, vals))
                self._command(unit, mem, address, vals)
            return None
        return action

    def _command(self, unit: int, mem: Memory, address: int, vals: list[int]) -> None:
        try:
            token_point = self.profile.point("cmd_token")
        except KeyError:
            return
        if address <= token_point.address < address + len(vals):
            if self.on_command is not None:
                self.on_command(unit, mem, vals)
            mem.set("cmd_result_token", mem.tables["holding"][token_point.address])
            mem.set("cmd_result_code", mem.result_code)

    async def start(self) -> None:
        await self.server.serve_forever(background=True)

    async def stop(self) -> None:
        await self.server.shutdown()
