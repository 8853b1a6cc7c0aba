"""Keeping the cyclic garbage collector's full passes short in a process with many long-lived objects.

A gateway holds a few hundred objects per device for its whole life (coordinator, tasks, decoders, publisher). A full
(generation 2) collection walks all of them: at 2,000 devices it took 200–300 ms, a stall of every poll on the event
loop, several times a minute (benchmarks/fleet.py showed these stalls as its p99 lateness). `freeze_after` waits for
start-up to settle, collects once, then moves every surviving object into the permanent generation (`gc.freeze`),
which later collections skip; what is created afterwards is collected as usual.
"""

from __future__ import annotations

import asyncio
import gc
import logging

log = logging.getLogger(__name__)


async def freeze_after(delay_s: float) -> None:
    """After `delay_s`: one full collection, then freeze what survived. Returns at once afterwards."""
    await asyncio.sleep(delay_s)
    gc.collect()
    gc.freeze()
    log.info("gc_frozen objects=%d", gc.get_freeze_count())
