"""Report strategy per telemetry point: which of the values just polled go into the `telemetry` sample.

`period`: every poll. `change`: only when the value differs from the last one sent. `change_or_period`: when it
changed, or `report_period_s` passed since it was last sent (a heartbeat, so a quiet value is still seen alive).
Pure, apart from the memory of what was sent; times are the injected clock's monotonic seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateways.modbus.profile import Point


class Reporter:
    def __init__(self, points: Iterable[Point]) -> None:
        self.points = {p.name: p for p in points if p.role in ("telemetry", "both")}
        self._sent: dict[str, tuple[Any, float]] = {}

    def select(self, values: dict[str, Any], now: float) -> dict[str, float | bool]:
        """The telemetry values to send now, out of the freshly polled `values` (numbers and booleans only)."""
        out: dict[str, float | bool] = {}
        for name, value in values.items():
            p = self.points.get(name)
            if p is None or not isinstance(value, int | float | bool):
                continue
            last = self._sent.get(name)
            if p.report == "period" or last is None:
                send = True
            elif p.report == "change":
                send = last[0] != value
            else:
                assert p.report_period_s is not None
                send = last[0] != value or now - last[1] >= p.report_period_s
            if send:
                out[name] = value
                self._sent[name] = (value, now)
        return out
