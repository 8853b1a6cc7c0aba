"""Fakes and message makers for the recorder's tests: a store that can be down or refuse, births, telemetry."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controllers.bus import BusMessage
from controllers.clock import SystemClock, to_rfc3339
from controllers.devices import DeviceKind
from controllers.telemetry import Sample, StoreError
from gateways.recorder import Recorder
from gateways.spool import Spool

T0 = datetime(2026, 11, 23, 7, 0, 0, tzinfo=UTC)
SC = DeviceKind.SIGNAL_CONTROLLER


class FlakyStore:
    """A TelemetryWriter that fails while `down` is set, and records what it took."""

    def __init__(self) -> None:
        self.down = False
        self.refuse = False
        self.batches: list[list[Sample]] = []

    async def write(self, samples: Sequence[Sample]) -> None:
        if self.refuse:
            raise StoreError("field type conflict", retryable=False)
        if self.down:
            raise StoreError("connection refused")
        self.batches.append(list(samples))


def birth(device: str, kind: str = "signal_controller") -> BusMessage:
    return BusMessage(f"sl/v1/tn/{device}/birth", json.dumps({"kind": kind}).encode(), retain=True)


def tele(device: str, seq: int, value: float = 1.0, **extra: Any) -> BusMessage:
    payload = {"ts": to_rfc3339(T0 + timedelta(seconds=seq)), "seq": seq, "values": {"cycle_timer_s": value},
               **extra}
    return BusMessage(f"sl/v1/tn/{device}/telemetry", json.dumps(payload).encode())


def recorder(store: Any, tmp_path: Path, **kw: Any) -> Recorder:
    return Recorder(store, Spool(tmp_path / "spool"), SystemClock(), **kw)
