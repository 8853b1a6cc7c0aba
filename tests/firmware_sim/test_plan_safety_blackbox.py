"""Black box over Modbus TCP: a plan the cabinet's conflict monitor forbids, and a plan with NaN, downloaded to a
running simulated fleet. Both are refused (plan_error invalid_plan); no device ever shows two conflicting phases
green, yellow or walk together, and every device keeps answering. Only the wire is used: register map
signal-controller-v1, the staging area, and reads of every device."""

from __future__ import annotations

import asyncio
import json
import zlib
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from firmware_sim.fleet import FleetConfig
from firmware_sim.plan import default_plan_doc
from firmware_sim.plan_transfer import to_registers
from tests.firmware_sim.fleet_runner import running_fleet

STAGING, LENGTH, COMMIT = 400, 300, 303
# The NEMA dual-ring cabinet's compatibility card: the only pairs that may be active together.
COMPATIBLE = {frozenset(p) for p in ((1, 5), (1, 6), (2, 5), (2, 6), (3, 7), (3, 8), (4, 7), (4, 8))}


def conflicting(mask: int) -> list[tuple[int, int]]:
    on = [n for n in range(1, 17) if mask >> (n - 1) & 1]
    return [(a, b) for i, a in enumerate(on) for b in on[i + 1:] if frozenset((a, b)) not in COMPATIBLE]


def side_left_with_main() -> bytes:
    doc = default_plan_doc("tn-sig-001")
    doc["barriers"] = [[1, 2, 3, 5, 6], [4, 7, 8]]       # 3 would time with 5 and 6
    for pat in doc["patterns"]:
        s = pat["splits_s"]
        s["6"] = s["1"] + s["2"] + s["3"] - s["5"]
        s["8"] = s["4"] - s["7"]
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def with_nan() -> bytes:
    doc: dict[str, Any] = default_plan_doc("tn-sig-001")
    doc["phases"][1]["yellow_s"] = float("nan")
    doc["phases"][3]["max_green_s"] = float("inf")
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()     # NaN / Infinity tokens


async def download(client: AsyncModbusTcpClient, unit: int, payload: bytes) -> list[int]:
    regs, crc = to_registers(payload), zlib.crc32(payload)
    for i in range(0, len(regs), 120):
        assert not (await client.write_registers(STAGING + i, regs[i:i + 120], device_id=unit)).isError()
    assert not (await client.write_registers(LENGTH, [len(payload), crc >> 16, crc & 0xFFFF],
                                             device_id=unit)).isError()
    assert not (await client.write_register(COMMIT, 1, device_id=unit)).isError()
    status = await client.read_input_registers(21, count=2, device_id=unit)
    assert not status.isError()
    return list(status.registers)


async def test_forbidden_and_nan_plans_never_show_conflicts_nor_stop_devices() -> None:
    config = FleetConfig(intersections=3, cabinets=0, modbus_cabinets=0, speed=20.0, control_port=None, seed=3)
    async with running_fleet(config) as (_, manifest):
        devices = [d for d in manifest["devices"] if d["kind"] == "signal_controller"]
        clients = {}
        for d in devices:
            clients[d["id"]] = AsyncModbusTcpClient(d["host"], port=d["port"], timeout=5)
            await clients[d["id"]].connect()
        try:
            for d in devices:                               # past the startup flash (5 s) and all red (3 s)
                for _ in range(100):
                    r = await clients[d["id"]].read_input_registers(5, count=1, device_id=d["unit_id"])
                    if r.registers[0] in (2, 3, 4):
                        break
                    await asyncio.sleep(0.05)
            target = devices[0]
            client, unit = clients[target["id"]], target["unit_id"]
            before = await client.read_input_registers(14, count=2, device_id=unit)
            assert await download(client, unit, side_left_with_main()) == [4, 4], "error, invalid_plan"
            assert await download(client, unit, with_nan()) == [4, 4], "error, invalid_plan"
            reads = 0
            for _ in range(60):                             # ~3 s real, a minute of virtual time at 20x
                for d in devices:
                    r = await clients[d["id"]].read_input_registers(0, count=6, device_id=d["unit_id"])
                    assert not r.isError(), f"{d['id']} stopped answering: {r}"
                    green, yellow, _red, walk, _clear, mode = r.registers
                    assert mode in (2, 3, 4), f"{d['id']} left normal operation (mode {mode})"
                    assert not conflicting(green | yellow | walk), f"{d['id']}: {conflicting(green | yellow | walk)}"
                    reads += 1
                await asyncio.sleep(0.05)
            after = await client.read_input_registers(14, count=2, device_id=unit)
            assert after.registers == before.registers, "the running plan is unchanged"
            alarms = await client.read_input_registers(12, count=1, device_id=unit)
            assert alarms.registers[0] & 0x80 and not alarms.registers[0] & 1, "plan_deploy_failed, no conflict"
            assert reads == 60 * len(devices)
        finally:
            for c in clients.values():
                c.close()
