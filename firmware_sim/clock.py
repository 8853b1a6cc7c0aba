"""The simulator's one virtual clock: wall time scaled by a speed factor, shared by devices and scenarios.

At speed 60 a virtual hour passes in a real minute. Devices advance their firmware in fixed virtual steps
(`TICK_S`), so what they do depends on virtual time only, never on how the host schedules them: a run is
reproducible under its seed. The clock is injected everywhere; tests pass a `ManualClock` and advance it by hand.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

#: Firmware resolution: controllers time their intervals in tenths of a second, like NEMA TS2 units.
TICK_S = 0.1


class SimClock(Protocol):
    def now(self) -> datetime:
        """Current virtual time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Virtual seconds since the clock started."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time."""
        ...


class VirtualClock:
    """Real time scaled by `speed`, starting at `start` (default: the wall clock now). Non-blocking."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self.speed = speed
        self._real0 = time.monotonic()
        start = start or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("clock start must be timezone-aware")
        self._start = start.astimezone(UTC)

    def monotonic(self) -> float:
        return (time.monotonic() - self._real0) * self.speed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class ManualClock:
    """A clock that moves only when told (`advance`); `sleep` yields to the loop and returns at once after the
    virtual time is added, so tests run hours of firmware without waiting."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = (start or datetime(2026, 11, 23, 1, 0, tzinfo=UTC)).astimezone(UTC)
        self._t = 0.0

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)          # let others run at the current time, then the time passes
        self._t += max(0.0, seconds)


def rfc3339(ts: datetime) -> str:
    """Wire timestamp: RFC 3339 UTC, milliseconds, `Z` suffix."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse a wire timestamp; raises ValueError for one without a time zone."""
    ts = datetime.fromisoformat(text)
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without time zone: {text!r}")
    return ts.astimezone(UTC)
