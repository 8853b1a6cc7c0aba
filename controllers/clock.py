"""The one clock. Every timer reads an injected `Clock`, so simulations and tests can run hours in seconds.

Domain code receives times as arguments; only the process edges construct `SystemClock`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, for intervals and deadlines."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """Wall clock and asyncio sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def to_rfc3339(ts: datetime) -> str:
    """RFC 3339 UTC with milliseconds and a Z suffix, as the wire contracts require."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: wire timestamps must be timezone-aware")
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def from_rfc3339(text: str) -> datetime:
    """Parse a wire timestamp; raises ValueError for a naive or malformed one."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {text!r}")
    return ts.astimezone(UTC)
