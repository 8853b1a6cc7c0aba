"""Small test helpers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(predicate: Callable[[], bool], within_s: float = 5.0, step_s: float = 0.01) -> None:
    """Wait until `predicate()` holds (checked every `step_s`); fails with TimeoutError after `within_s`."""
    async with asyncio.timeout(within_s):
        for _ in iter(int, 1):
            if predicate():
                return
            await asyncio.sleep(step_s)
