"""Run a simulated fleet until cancelled.

`run_fleet(config)` builds every device (`firmware_sim.fleet.build_fleet`, deterministic under `config.seed`),
starts the Modbus ports, the MQTT sessions, the fault-injection endpoint, the scenario and the firmware loop, writes
the manifest, calls `on_ready(manifest)` once everything listens, and runs until cancelled; cancellation stops
every server and client cleanly (each MQTT device publishes `status offline` itself before it disconnects).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from firmware_sim.clock import SimClock, VirtualClock
from firmware_sim.control import serve_control
from firmware_sim.engine import Engine
from firmware_sim.fleet import Fleet, FleetConfig, build_fleet, manifest, write_manifest
from firmware_sim.scenario import load_scenario, run_scenario

log = logging.getLogger(__name__)

MQTT_READY_TIMEOUT_S = 15.0


async def run_fleet(config: FleetConfig, *, on_ready: Callable[[dict[str, Any]], None] | None = None,
                    clock: SimClock | None = None, started: Callable[[Fleet], None] | None = None) -> None:
    """Run the fleet until cancelled. Raises ValueError for bad options and OSError when a port is taken."""
    clock = clock or VirtualClock(config.speed, config.start)
    fleet = build_fleet(config, clock)
    engine = Engine(clock, list(fleet.controllers.values()), list(fleet.cabinets.values()))
    try:
        for port in fleet.ports:
            await port.start()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(engine.run(), name="firmware")
            for device_id, link in fleet.links.items():
                tg.create_task(link.run(), name=f"mqtt {device_id}")
            control_url = None
            if config.control_port is not None:
                control_url = await serve_control(tg, fleet, config.modbus_host, config.control_port)
            if config.scenario is not None:
                steps = await asyncio.to_thread(load_scenario, config.scenario)
                tg.create_task(run_scenario(fleet, steps), name="scenario")
            await _wait_online(fleet)
            doc = manifest(fleet, control_url)
            if config.manifest_path is not None:
                await asyncio.to_thread(write_manifest, config.manifest_path, doc)
            log.info("fleet_ready devices=%d modbus_ports=%d mqtt=%d", len(fleet.entries), len(fleet.ports),
                     len(fleet.links))
            if started is not None:
                started(fleet)
            if on_ready is not None:
                on_ready(doc)
    finally:
        for port in fleet.ports:
            await port.stop()


async def _wait_online(fleet: Fleet) -> None:
    """Wait (bounded) for the MQTT cabinets' first session; a broker that is down does not stop the fleet."""
    waits = [link.connected.wait() for link in fleet.links.values()]
    if not waits:
        return
    try:
        await asyncio.wait_for(asyncio.gather(*waits), MQTT_READY_TIMEOUT_S)
    except TimeoutError:
        offline = [d for d, link in fleet.links.items() if not link.connected.is_set()]
        log.warning("mqtt_not_ready devices=%d first=%s", len(offline), offline[:5])
