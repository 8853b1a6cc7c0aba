"""The polling coordinator on a virtual clock: schedule, exponential backoff for a dead device, recovery within its
backoff, comm-loss alarm once, and the one supervised loop surviving a bug."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from controllers.bus import BusMessage
from controllers.devices import DeviceKind
from gateways.gateway import GatewayDevice
from gateways.manifest import ModbusDevice
from gateways.modbus.link import ModbusError, ModbusLink
from gateways.modbus.reader import ReadResult


class VirtualClock:
    """Time moves only when every task waits on it: sleep() jumps to the earliest deadline."""

    def __init__(self) -> None:
        self.t = 1000.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def now(self) -> Any:
        from datetime import UTC, datetime, timedelta
        return datetime(2026, 11, 23, tzinfo=UTC) + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.t + max(0.0, seconds), fut))
        await fut

    async def run_until(self, t: float) -> None:
        while self.t < t:
            for _ in range(20):  # let ready tasks reach their next sleep
                await asyncio.sleep(0)
            pending = [s for s in self._sleepers if not s[1].done()]
            if not pending:
                self.t = t
                break
            due = min(d for d, _ in pending)
            self.t = min(max(self.t, due), t)
            for d, fut in pending:
                if d <= self.t:
                    fut.set_result(None)
            self._sleepers = [s for s in self._sleepers if not s[1].done()]


class FakeBus:
    connected = True

    def __init__(self) -> None:
        self.messages: list[BusMessage] = []

    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.messages.append(BusMessage(topic, data, retain, qos))


def device(clock: VirtualClock, bus: FakeBus) -> tuple[GatewayDevice, list[float]]:
    entry = ModbusDevice(id="sc-9", site="tn", kind=DeviceKind.SIGNAL_CONTROLLER, host="127.0.0.1", port=1,
                         unit_id=1, profile="signal-controller-v1")
    gd = GatewayDevice(entry, ModbusLink("127.0.0.1", 1), bus, clock, offline_after=3)  # type: ignore[arg-type]
    attempts: list[float] = []
    gd.state = {"dead": False}  # type: ignore[attr-defined]

    async def read_group(group: str) -> ReadResult:
        if group == "fast":
            attempts.append(clock.t)
        if gd.state["dead"]:  # type: ignore[attr-defined]
            raise ModbusError("device=sc-9: timeout")
        values = {"mode": "coordinated", "pattern": 1, "cycle_timer_s": 0.0, "cycle_s": 90, "model": "m",
                  "firmware": "f", "phases_in_use": 0xFF, "event_count": 0}
        return ReadResult(values=dict(values))

    async def read_points(names: Any) -> ReadResult:
        return await read_group("static")

    gd.reader.read_group = read_group  # type: ignore[method-assign]
    gd.reader.read_points = read_points  # type: ignore[method-assign]
    return gd, attempts


def alarms(bus: FakeBus) -> list[tuple[str, bool]]:
    out = []
    for m in bus.messages:
        if m.topic.endswith("/event"):
            body = json.loads(m.payload)
            if "alarm" in body:
                out.append((body["alarm"], body["active"]))
    return out


async def test_dead_device_backs_off_exponentially_and_is_polled_again_within_its_backoff() -> None:
    clock, bus = VirtualClock(), FakeBus()
    gd, attempts = device(clock, bus)
    gd.coordinator.backoff_max_s = 16
    task = asyncio.create_task(gd.coordinator.run())
    try:
        await clock.run_until(1010)
        healthy = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
        assert all(x == 1.0 for x in healthy)  # on schedule, every second
        gd.state["dead"] = True  # type: ignore[attr-defined]
        died = clock.t
        await clock.run_until(1080)
        after = [t for t in attempts if t > died]
        gaps = [b - a for a, b in itertools.pairwise(after)]
        tick = gd.coordinator.tick_s  # polls start on the tick grid: a gap may grow by up to one tick
        # 2, 4, 8, 16 s (x 0.8..1.0 jitter), then capped at 16 s: a dead device costs little
        assert gaps[:4] == sorted(gaps[:4]) and 1.6 <= gaps[0] <= 2.0 + tick and 12.8 <= gaps[3] <= 16 + tick
        assert all(g <= 16 + tick for g in gaps)
        assert alarms(bus) == [("comm_loss", True)]  # raised once, not per poll
        status = [json.loads(m.payload)["status"] for m in bus.messages if m.topic.endswith("/status")]
        assert status[-1] == "offline"
        gd.state["dead"] = False  # type: ignore[attr-defined]
        back = clock.t
        await clock.run_until(back + 20)
        recovered = next(t for t in attempts if t > back)
        assert recovered - back <= 16 + tick  # within its backoff
        assert alarms(bus) == [("comm_loss", True), ("comm_loss", False)]
        status = [json.loads(m.payload)["status"] for m in bus.messages if m.topic.endswith("/status")]
        assert status[-1] == "online"
        tail = [t for t in attempts if t > recovered + 2]
        assert all(round(b - a, 3) == 1.0 for a, b in itertools.pairwise(tail))  # back on schedule
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_bug_in_one_poll_does_not_stop_the_loop(caplog: Any) -> None:
    clock, bus = VirtualClock(), FakeBus()
    gd, attempts = device(clock, bus)
    original = gd.coordinator.poll
    calls = 0

    async def flaky(group: str) -> bool:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyError("unexpected")
        return await original(group)

    gd.coordinator.poll = flaky  # type: ignore[method-assign]
    task = asyncio.create_task(gd.coordinator.run())
    try:
        await clock.run_until(1030)
        assert gd.coordinator.stats.errors == 1
        assert len(attempts) > 20
        assert "device_poll_error device=sc-9" in caplog.text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_polls_start_on_the_tick_grid_at_most_one_tick_late() -> None:
    clock, bus = VirtualClock(), FakeBus()
    gd, attempts = device(clock, bus)
    lateness: list[float] = []
    gd.coordinator.lateness_observer = lateness.append
    gd.coordinator.tick_s = 0.05
    task = asyncio.create_task(gd.coordinator.run())
    try:
        await clock.run_until(1010)
        assert len(attempts) >= 9
        assert all(abs(t / 0.05 - round(t / 0.05)) < 1e-6 for t in attempts)  # on the grid
        assert all(0 <= x <= 0.05 + 1e-9 for x in lateness)  # never more than one tick late
        assert max(lateness) > 0  # the random phase fell between ticks
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
