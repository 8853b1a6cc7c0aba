"""Shared pieces of the gateway benchmarks: a simulated Modbus fleet in its own process, private servers,
percentiles. Benchmarks are scripts (they print), not tests."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import tempfile
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from gateways.manifest import DeviceEntry, load_manifest


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def _run_fleet(intersections: int, cabinets: int, manifest: str, units_per_port: int) -> None:
    from firmware_sim.fleet import FleetConfig
    from firmware_sim.fleet_runner import run_fleet

    config = FleetConfig(site="bench", intersections=intersections, cabinets=cabinets, modbus_cabinets=cabinets,
                         manifest_path=Path(manifest), control_port=None, units_per_port=units_per_port,
                         mqtt_port=1)  # no MQTT devices: the broker is never contacted
    asyncio.run(run_fleet(config))


def start_sim_fleet(intersections: int, cabinets: int = 0, units_per_port: int = 32,
                    timeout_s: float = 60) -> tuple[BaseProcess, list[DeviceEntry]]:
    """The firmware simulator's Modbus fleet in a child process (its own GIL); returns it and its devices."""
    manifest = Path(tempfile.mkdtemp(prefix="bench-")) / "manifest.json"
    proc = multiprocessing.get_context("spawn").Process(
        target=_run_fleet, args=(intersections, cabinets, str(manifest), units_per_port), daemon=True)
    proc.start()
    deadline = time.monotonic() + timeout_s
    while not manifest.exists():
        if time.monotonic() > deadline or not proc.is_alive():
            proc.kill()
            raise RuntimeError("simulated fleet did not start")
        time.sleep(0.1)
    time.sleep(0.3)
    json.loads(manifest.read_text())
    return proc, load_manifest(manifest)


def result_line(name: str, **figures: Any) -> str:
    parts = " ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    return f"RESULT {name} {parts}"
