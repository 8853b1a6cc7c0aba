"""Gateway reads per second against a raw pymodbus read loop over the same simulated devices.

    python -m benchmarks.poll [--devices 64] [--seconds 8]

The firmware simulator serves `devices` signal controllers (32 unit ids per TCP port) in its own process. Both
sides issue the same requests (the read plan of the `fast` poll group), one loop per TCP connection, as fast as
the devices answer: the raw side calls pymodbus directly; the gateway side goes through `ModbusLink` (lock,
timeouts) and `DeviceReader` (plan, decode, enum labels). Short rounds alternate in both orders (the machine's
load shifts from second to second) and the means are compared. Target: ratio >= 0.85.
The last line is `RESULT poll ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict

from pymodbus.client import AsyncModbusTcpClient

from benchmarks.common import result_line, start_sim_fleet
from gateways.manifest import ModbusDevice
from gateways.modbus.link import ModbusLink
from gateways.modbus.profile import load_profile
from gateways.modbus.reader import DeviceReader


def by_port(devices: list[ModbusDevice]) -> dict[tuple[str, int], list[ModbusDevice]]:
    out: dict[tuple[str, int], list[ModbusDevice]] = defaultdict(list)
    for d in devices:
        out[(d.host, d.port)].append(d)
    return out


async def raw_round(groups: dict[tuple[str, int], list[ModbusDevice]], seconds: float) -> float:
    profile = load_profile("signal-controller-v1")
    reads = [(r.table, r.address, r.count) for r in
             DeviceReader(next(iter(groups.values()))[0], profile, ModbusLink("x", 1)).plans["fast"]]
    count = 0

    async def loop(host: str, port: int, devices: list[ModbusDevice], deadline: float) -> None:
        nonlocal count
        client = AsyncModbusTcpClient(host, port=port, timeout=2, retries=0)
        await client.connect()
        while time.monotonic() < deadline:
            for d in devices:
                for table, address, n in reads:
                    if table == "input":
                        rr = await client.read_input_registers(address, count=n, device_id=d.unit_id)
                    else:
                        rr = await client.read_holding_registers(address, count=n, device_id=d.unit_id)
                    assert not rr.isError()
                    count += 1
        client.close()

    deadline = time.monotonic() + seconds
    start = time.monotonic()
    await asyncio.gather(*(loop(h, p, ds, deadline) for (h, p), ds in groups.items()))
    return count / (time.monotonic() - start)


async def gateway_round(groups: dict[tuple[str, int], list[ModbusDevice]], seconds: float) -> float:
    profile = load_profile("signal-controller-v1")
    links = {key: ModbusLink(*key) for key in groups}
    readers = {key: [DeviceReader(d, profile, links[key]) for d in ds] for key, ds in groups.items()}

    async def loop(key: tuple[str, int], deadline: float) -> None:
        while time.monotonic() < deadline:
            for r in readers[key]:
                await r.read_group("fast")

    deadline = time.monotonic() + seconds
    start = time.monotonic()
    await asyncio.gather(*(loop(k, deadline) for k in groups))
    elapsed = time.monotonic() - start
    requests = sum(lk.requests for lk in links.values())
    for lk in links.values():
        lk.close()
    return requests / elapsed


async def main(devices: int, seconds: float) -> None:
    proc, entries = start_sim_fleet(devices)
    try:
        groups = by_port([d for d in entries if isinstance(d, ModbusDevice)])
        raw: list[float] = []
        gw: list[float] = []
        rounds = max(2, int(seconds / 0.5) // 2 * 2)
        for i in range(rounds):
            # Short alternating rounds, in both orders: load on the machine shifts from second to second.
            first, second = (raw_round, gateway_round) if i % 2 == 0 else (gateway_round, raw_round)
            a = await first(groups, seconds / rounds / 2)
            b = await second(groups, seconds / rounds / 2)
            (raw if first is raw_round else gw).append(a)
            (gw if first is raw_round else raw).append(b)
        print(f"devices={devices} connections={len(groups)} rounds={rounds}")
        print(f"raw pymodbus reads/s per round: {[round(x) for x in raw]}")
        print(f"gateway reads/s per round:      {[round(x) for x in gw]}")
        raw_mean, gw_mean = sum(raw) / len(raw), sum(gw) / len(gw)
        print(result_line("poll", gateway_reads_per_s=gw_mean, raw_reads_per_s=raw_mean,
                          ratio=gw_mean / raw_mean, target=0.85, devices=devices))
    finally:
        proc.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    asyncio.run(main(args.devices, args.seconds))
