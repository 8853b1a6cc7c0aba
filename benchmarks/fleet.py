"""How many devices one gateway process polls every second with p99 poll lateness under 250 ms.

    python -m benchmarks.fleet [--devices 2000] [--seconds 20] [--warmup 8]

Devices are signal controllers (profile signal-controller-v1: its `fast` group is 23 registers, one read a second;
plus the 10 s and 300 s groups) served by plain pymodbus servers in two child processes (50 unit ids a TCP port,
like small Modbus gateways; registers at zero, so the servers cost little). The gateway is the real `run_gateway`:
polling, normalizing, publishing state and telemetry to a private Mosquitto. Lateness = how late each poll starts
against its schedule, over `seconds` after `warmup`. Target: >= 2000 devices with p99 < 250 ms. The last line is
`RESULT fleet ...`; the baseline is the schedule itself (a lateness of 0).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from benchmarks.common import percentile, result_line
from controllers.clock import SystemClock
from controllers.devices import DeviceKind
from gateways.gateway import run_gateway
from gateways.manifest import ModbusDevice
from gateways.mqtt import BusConfig
from tests.servers import Mosquitto

UNITS_PER_PORT = 50


def _serve(count: int, report: Connection) -> None:
    """Serve `count` ports (each bound to a free port by the kernel: no race with other processes for a port
    picked in advance); send their numbers back through `report`."""
    import logging

    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.ERROR)

    async def main() -> None:
        servers = []
        for _ in range(count):
            device = SimDevice(id=0, simdata=(
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=16, values=False, datatype=DataType.BITS)],
                [SimData(0, count=512, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=512, values=0, datatype=DataType.REGISTERS)]))
            server = ModbusTcpServer([device], address=("127.0.0.1", 0))
            await server.serve_forever(background=True)
            servers.append(server)
        ports = []
        for server in servers:
            listener = server.transport            # pymodbus types it as a transport; a listening one is a Server
            if not isinstance(listener, asyncio.Server):
                raise RuntimeError(f"modbus server not listening: {listener!r}")
            ports.append(listener.sockets[0].getsockname()[1])
        report.send(ports)
        await asyncio.Event().wait()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_servers(devices: int) -> tuple[list[BaseProcess], list[ModbusDevice]]:
    nports = -(-devices // UNITS_PER_PORT)
    spawn = multiprocessing.get_context("spawn")
    procs: list[BaseProcess] = []
    ports: list[int] = []
    for i in range(min(2, nports)):
        receive, send = spawn.Pipe(duplex=False)
        proc = spawn.Process(target=_serve, args=(len(range(i, nports, 2)), send), daemon=True)
        proc.start()
        procs.append(proc)
        if not receive.poll(60):
            raise RuntimeError("simulated devices did not start")
        ports += receive.recv()
    entries = [ModbusDevice(id=f"sc-{n:05d}", site="bench", kind=DeviceKind.SIGNAL_CONTROLLER, host="127.0.0.1",
                            port=ports[n // UNITS_PER_PORT], unit_id=n % UNITS_PER_PORT + 1,
                            profile="signal-controller-v1") for n in range(devices)]
    return procs, entries


async def run(devices: int, seconds: float, warmup: float) -> None:
    procs, entries = start_servers(devices)
    broker = Mosquitto(Path(tempfile.mkdtemp(prefix="bench-mqtt-")))
    broker.start()
    lateness: list[float] = []
    measuring = False

    def observe(value: float) -> None:
        if measuring:
            lateness.append(value)

    task = asyncio.create_task(run_gateway(bus=BusConfig(host=broker.host, port=broker.port, client_id="bench-gw"),
                                           devices=entries, clock=SystemClock(), lateness_observer=observe))
    try:
        await asyncio.sleep(warmup)
        measuring = True
        cpu0, t0 = time.process_time(), time.monotonic()
        servers0 = sum(cpu_seconds(p.pid) for p in procs if p.pid is not None)
        await asyncio.sleep(seconds)
        measuring = False
        wall = time.monotonic() - t0
        cpu = (time.process_time() - cpu0) / wall
        servers_cpu = (sum(cpu_seconds(p.pid) for p in procs if p.pid is not None) - servers0) / wall
        if task.done():
            task.result()  # the gateway stopped: show why
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        broker.stop()
        for p in procs:
            p.kill()
    polls_per_s = len(lateness) / seconds
    # Each device polls its fast group every second (plus the 10 s group): anything less is falling behind.
    keeping_up = polls_per_s >= 0.95 * devices
    p50, p99, worst = (percentile(lateness, q) * 1000 for q in (50, 99, 100))
    print(f"devices={devices} ports={-(-devices // UNITS_PER_PORT)} measured_s={seconds}")
    print(f"polls/s={polls_per_s:.0f} (schedule: ~{devices * 1.1:.0f}/s) gateway_cpu={cpu:.2f} cores "
          f"simulated_devices_cpu={servers_cpu:.2f} cores (of {os.cpu_count()})")
    print(f"lateness ms: p50={p50:.1f} p99={p99:.1f} max={worst:.1f}")
    print(result_line("fleet", devices=devices, p50_lateness_ms=p50, p99_lateness_ms=p99,
                      polls_per_s=polls_per_s, gateway_cpu_cores=cpu, target_devices=2000, target_p99_ms=250.0,
                      baseline_lateness_ms=0.0, ok=keeping_up and p99 < 250 and devices >= 2000))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.seconds, args.warmup))
