"""Fakes of our own interfaces for the API's unit tests: an in-memory bus and a manual clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.bus import BusError, BusMessage


def topic_matches(pattern: str, topic: str) -> bool:
    p, t = pattern.split("/"), topic.split("/")
    for i, part in enumerate(p):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(p) == len(t)


class FakeBus:
    """A broker in memory: retained messages, wildcard subscriptions, a switch to make publishing fail."""

    def __init__(self) -> None:
        self.published: list[BusMessage] = []
        self.retained: dict[str, BusMessage] = {}
        self._subs: list[tuple[tuple[str, ...], asyncio.Queue[BusMessage]]] = []
        self.fail_publish = False

    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        if self.fail_publish:
            raise BusError("fake bus: not connected")
        data = json.dumps(payload, separators=(",", ":")).encode() if isinstance(payload, dict) else payload
        msg = BusMessage(topic, data, retain, qos)
        self.published.append(msg)
        if retain:
            self.retained[topic] = msg
        for filters, queue in self._subs:
            if any(topic_matches(f, topic) for f in filters):
                queue.put_nowait(BusMessage(topic, data, False, qos))

    @asynccontextmanager
    async def subscribe(self, *filters: str, queue_size: int = 10_000) -> AsyncIterator[AsyncIterator[BusMessage]]:
        queue: asyncio.Queue[BusMessage] = asyncio.Queue()
        for msg in self.retained.values():
            if any(topic_matches(f, msg.topic) for f in filters):
                queue.put_nowait(msg)
        entry = (filters, queue)
        self._subs.append(entry)

        async def messages() -> AsyncIterator[BusMessage]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._subs.remove(entry)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def sent_to(self, suffix: str) -> list[dict[str, Any]]:
        return [json.loads(m.payload) for m in self.published if m.topic.endswith("/" + suffix)]


class FakeClock:
    """Time moves only when a test calls `advance`; sleepers wake in deadline order."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
        self._mono = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._mono)

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + max(0.0, seconds), fut))
        try:
            await fut
        finally:
            self._sleepers = [(d, f) for d, f in self._sleepers if f is not fut]

    async def advance(self, seconds: float) -> None:
        """Move time on, wake due sleepers, and wait (on real I/O, up to 5 s) until they sleep again."""
        self._mono += seconds
        waiting = len(self._sleepers)
        for deadline, fut in list(self._sleepers):
            if deadline <= self._mono and not fut.done():
                fut.set_result(None)
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
            while sum(1 for _, f in self._sleepers if not f.done()) < waiting:  # noqa: ASYNC110 - DB I/O in threads
                await asyncio.sleep(0.002)


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def signal_birth(ts: datetime, **extra: Any) -> dict[str, Any]:
    return {"ts": rfc3339(ts), "bd_seq": 1, "kind": "signal_controller", "model": "sim-tsc", "firmware": "1.0",
            "capabilities": ["flash", "hold_pattern"], "transport": "modbus", "phases": [1, 2, 3, 4, 5, 6, 7, 8],
            "name": "Ngã tư Hoàng Văn Thụ", **extra}


def cabinet_birth(ts: datetime) -> dict[str, Any]:
    return {"ts": rfc3339(ts), "bd_seq": 1, "kind": "lighting_cabinet", "model": "sim-lc", "firmware": "1.0",
            "capabilities": ["switch"], "transport": "mqtt", "circuits": 2}


def signal_state(ts: datetime, seq: int = 1, mode: str = "coordinated", flash_cause: str = "none") -> dict[str, Any]:
    phases = {str(n): ("green" if n in (2, 6) else "red") for n in range(1, 9)}
    return {"ts": rfc3339(ts), "seq": seq, "kind": "signal_controller",
            "values": {"mode": mode, "flash_cause": flash_cause, "pattern": 1, "cycle_timer_s": 12.0,
                       "cycle_s": 100, "phases": phases, "peds": {"2": "walk", "4": "dont_walk"}}}


def cabinet_state(ts: datetime, seq: int = 1, door_open: bool = False) -> dict[str, Any]:
    return {"ts": rfc3339(ts), "seq": seq, "kind": "lighting_cabinet",
            "values": {"circuits": [{"circuit": 1, "on": True, "level_pct": 100.0},
                                    {"circuit": 2, "on": False, "level_pct": 0.0}],
                       "door_open": door_open, "mains_ok": True}}


class FakeTelemetry:
    """A TelemetryQuery over samples held in memory; `fail` makes it raise StoreError."""

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
        self.fail = False
        self.calls: list[dict[str, Any]] = []

    async def query(self, *, kind: Any, device: str, fields: Any, start: datetime, end: datetime,
                    interval_s: float | None = None, aggregate: Any = None) -> list[Any]:
        from controllers.telemetry import Series, StoreError

        self.calls.append({"kind": kind, "device": device, "fields": list(fields), "interval_s": interval_s,
                           "aggregate": aggregate})
        if self.fail:
            raise StoreError("fake store down")
        out = []
        for name in fields:
            pts = [(ts, v) for ts, v in self.samples.get((device, name), []) if start <= ts < end]
            out.append(Series(device, name, [(ts, v) for ts, v in pts]))
        return out


async def register_devices(db_url: str, devices: dict[str, str], site: str = "tn") -> None:
    """Put devices `{id: kind}` in the registry (as a manifest import does): births create no device."""
    from api.db import create_engine, session_factory
    from api.models import Device

    engine = create_engine(db_url)
    now = datetime.now(UTC)
    async with session_factory(engine)() as session, session.begin():
        for device_id, kind in devices.items():
            session.add(Device(id=device_id, site=site, kind=kind, status="unknown", first_seen=now, last_seen=now))
    await engine.dispose()
