"""Run a fleet in-process for a test and hand back the built Fleet; cancel it cleanly afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from firmware_sim.clock import SimClock
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.fleet_runner import run_fleet


@contextlib.asynccontextmanager
async def running_fleet(config: FleetConfig,
                        clock: SimClock | None = None) -> AsyncIterator[tuple[Fleet, dict[str, Any]]]:
    built: asyncio.Future[Fleet] = asyncio.get_running_loop().create_future()
    ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_fleet(config, on_ready=ready.set_result, started=built.set_result,
                                         clock=clock))
    try:
        waits: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()           # raises what run_fleet raised
        assert ready in done, "fleet not ready within 30 s"
        yield built.result(), ready.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def mbpoll(*args: str) -> list[int]:
    """Run the real `mbpoll` client once; returns the values it printed. Raises AssertionError on failure."""
    proc = await asyncio.create_subprocess_exec("mbpoll", "-m", "tcp", "-0", "-1", "-o", "2", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, f"mbpoll {args} failed: {out.decode()} {err.decode()}"
    values = []
    for line in out.decode().splitlines():
        if line.startswith("["):
            values.append(int(line.split(":", 1)[1].split()[0]))
    return values
