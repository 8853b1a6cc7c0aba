"""Can the gateway's event reader keep a fast-clock controller's log from overflowing?

    python -m benchmarks.event_drain [--controllers 4] [--speed 120] [--seconds 20]

The firmware simulator runs `controllers` signal controllers (default detector layout: stop bars, advance detectors,
platoons) at `speed` times real time in its own process, on Modbus TCP. One gateway `EventReader` per controller
(real `ModbusLink` and `DeviceReader`, one TCP connection per port as the gateway has) drains it once a second, as
the fast poll does, into a counting publisher (no broker: this measures the Modbus side). Each controller's own
`events_lost` register is read at the first drain and at the end. Reported: events read per second in all, per
controller, the busiest drain (windows in one poll), and how many events the logs lost while being read (target 0).
The last line is `RESULT event_drain ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import result_line
from gateways.manifest import ModbusDevice, load_manifest
from gateways.modbus.events import EventReader
from gateways.modbus.link import ModbusLink
from gateways.modbus.profile import load_profile
from gateways.modbus.reader import DeviceReader


def _run_fleet(controllers: int, speed: float, manifest: str) -> None:
    from firmware_sim.fleet import FleetConfig
    from firmware_sim.fleet_runner import run_fleet

    config = FleetConfig(site="bench", intersections=controllers, cabinets=0, modbus_cabinets=0, speed=speed,
                         manifest_path=Path(manifest), control_port=None, mqtt_port=1)
    asyncio.run(run_fleet(config))


class Counting:
    def __init__(self) -> None:
        self.events = 0

    async def publish_event(self, body: dict[str, Any], *, ts: str | None = None) -> None:
        self.events += 1


async def main(controllers: int, speed: float, seconds: float) -> None:
    manifest = Path(tempfile.mkdtemp(prefix="bench-")) / "manifest.json"
    proc = multiprocessing.get_context("spawn").Process(target=_run_fleet, args=(controllers, speed, str(manifest)),
                                                        daemon=True)
    proc.start()
    try:
        while not manifest.exists():
            if not proc.is_alive():
                raise RuntimeError("simulated fleet did not start")
            await asyncio.sleep(0.05)
        json.loads(manifest.read_text())
        entries = [d for d in load_manifest(manifest) if isinstance(d, ModbusDevice) and d.kind == "signal_controller"]
        profile = load_profile("signal-controller-v1")
        links: dict[tuple[str, int], ModbusLink] = {}
        readers: list[tuple[DeviceReader, EventReader, Counting]] = []
        for e in entries:
            link = links.setdefault((e.host, e.port), ModbusLink(e.host, e.port))
            reader = DeviceReader(e, profile, link)
            counting = Counting()
            readers.append((reader, EventReader(reader, counting), counting))

        async def lost() -> list[int]:
            return [int((await r.read_points(["events_lost"])).values["events_lost"]) for r, _, _ in readers]

        async def drain_all() -> list[int]:
            """One fast poll of every controller; the windows each drain took."""
            windows = []
            for r, events, _ in readers:
                count = int((await r.read_points(["event_count"])).values["event_count"])
                before = events.published
                if count > 0:                       # as the coordinator: nothing waiting, nothing read
                    await events.drain(count)
                windows.append((events.published - before + 15) // 16)
            return windows

        await drain_all()                 # catch up with what the logs held before we came
        lost_at_start = await lost()
        base = sum(c.events for _, _, c in readers)
        busiest = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            tick = time.perf_counter()
            busiest = max(busiest, *await drain_all())
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
        elapsed = time.perf_counter() - t0
        read = sum(c.events for _, _, c in readers) - base
        lost_during = sum(b - a for a, b in zip(lost_at_start, await lost(), strict=True))
        for link in links.values():
            link.close()
        print(f"controllers={controllers} speed={speed} seconds={elapsed:.1f} events_read={read}")
        print(result_line("event_drain", events_per_s=read / elapsed, per_controller_per_s=read / elapsed / controllers,
                          busiest_windows=busiest, capped=sum(e.rounds_capped for _, e, _ in readers),
                          lost_while_read=lost_during, target_lost=0))
    finally:
        proc.kill()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--controllers", type=int, default=4)
    parser.add_argument("--speed", type=float, default=120.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    asyncio.run(main(args.controllers, args.speed, args.seconds))
