"""One polling coordinator per Modbus device: poll groups on their intervals, state, telemetry, comm loss.

Each poll group runs its own loop on the injected clock: due times advance by the interval from a random phase (so a
fleet does not poll in lockstep); a loop that falls more than one interval behind skips ahead and counts the misses.
Polls start on a grid of `tick_s` (20 ms by default): a poll due between two ticks waits for the next one, so the
fleet's polls come in bursts whose requests, answers and publishes share event-loop iterations and system calls
(in benchmarks/fleet.py this cut p99 lateness at 2,000 devices from about 1 s to under 300 ms, for at most one tick
of lateness added). A failed poll is retried after an exponential backoff with jitter (capped at `backoff_max_s`), so
a dead device costs little and one device never waits for another (each has its own tasks; only devices behind one
TCP link share it).

Time: samples (state and telemetry) are stamped with the gateway's clock, or, for a profile with a `device_clock`
(read with every poll group), with the device's own clock as read in the same poll: what the device measured is
placed at its time, whatever the polling latency, and a device living in another time (a simulator's --start and
--speed) is reported in its own. A device clock reading 0 (never set) is not used.

First contact: static points read, then `birth` + `status online`, then `state`. After `offline_after` consecutive
failed polls: `status offline` and an alarm event `comm_loss`; the first good poll after that publishes a new birth and
clears the alarm. Logs on the change (first failure, offline, recovered), never on every poll.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controllers.bus import BusError
from controllers.clock import Clock, to_rfc3339
from controllers.normalize import normalize_state
from gateways.modbus.events import EventReader
from gateways.modbus.link import ModbusError
from gateways.modbus.reader import DeviceReader
from gateways.modbus.report import Reporter
from gateways.publisher import DevicePublisher

log = logging.getLogger(__name__)


@dataclass
class PollStats:
    polls: int = 0
    failures: int = 0
    missed: int = 0
    errors: int = 0
    lateness_max_s: float = 0.0
    last_lateness_s: float = 0.0


class DeviceCoordinator:
    def __init__(self, reader: DeviceReader, publisher: DevicePublisher, clock: Clock, *, offline_after: int = 3,
                 backoff_max_s: float = 60.0, rng: random.Random | None = None, tick_s: float = 0.02,
                 lateness_observer: Callable[[float], None] | None = None) -> None:
        self.reader = reader
        self.publisher = publisher
        self.clock = clock
        self.entry = reader.entry
        self.profile = reader.profile
        self.offline_after = offline_after
        self.backoff_max_s = backoff_max_s
        self.tick_s = tick_s
        self.rng = rng or random.Random()
        self.values: dict[str, Any] = {}
        self.online = False
        self.failures = 0
        self.stats = PollStats()
        self._alarms: set[str] = set()
        self._contact = asyncio.Lock()
        # State is complete only once every group holding state points has been read since the last contact.
        self._state_groups = {g for g in self.profile.poll_groups if self._state_group(g) and reader.plans[g]}
        self._read_since_contact: set[str] = set()
        self.lateness_observer = lateness_observer  # told each poll's lateness in seconds
        self.reporter = Reporter(self.profile.points)
        self.events = EventReader(reader, publisher) if "event_fifo" in self.profile.areas else None
        self.device_now: datetime | None = None   # the device's clock at the last poll that read it

    def _device_time(self, values: dict[str, Any]) -> datetime | None:
        """The device's clock in freshly polled `values` (None: no device clock in the profile, or never set)."""
        spec = self.profile.device_clock
        if spec is None:
            return None
        seconds = values.get(spec.seconds)
        if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
            return None
        millis = values.get(spec.millis) if spec.millis else 0
        if not isinstance(millis, int) or isinstance(millis, bool) or not 0 <= millis < 1000:
            millis = 0
        return datetime.fromtimestamp(seconds + millis / 1000, UTC)

    def _state_group(self, group: str) -> bool:
        return any(p.role in ("state", "both") for p in self.profile.polled(group))

    async def run(self) -> None:
        """Poll every group forever (until cancelled)."""
        async with asyncio.TaskGroup() as tg:
            for group, cfg in self.profile.poll_groups.items():
                if self.reader.plans[group]:
                    tg.create_task(self._loop(group, cfg.interval_s), name=f"poll-{self.entry.id}-{group}")

    def _wake(self, due: float) -> float:
        """When to start a poll due at `due`: the next tick at or after it (see the module doc)."""
        if self.tick_s <= 0:
            return due
        return math.ceil(due / self.tick_s - 1e-9) * self.tick_s

    async def _loop(self, group: str, interval_s: float) -> None:
        due = self.clock.monotonic() + self.rng.uniform(0, min(interval_s, 1.0))
        backoff = interval_s
        while True:
            await self.clock.sleep(self._wake(due) - self.clock.monotonic())
            lateness = max(0.0, self.clock.monotonic() - due)
            self.stats.last_lateness_s = lateness
            self.stats.lateness_max_s = max(self.stats.lateness_max_s, lateness)
            if self.lateness_observer is not None:
                self.lateness_observer(lateness)
            try:
                ok = await self.poll(group)
            except Exception:
                # The one supervised top of this loop: a bug on one device's data must not stop its polling.
                self.stats.errors += 1
                log.exception("device_poll_error device=%s group=%s", self.entry.id, group)
                ok = False
            if ok:
                backoff = interval_s
                due += interval_s
                now = self.clock.monotonic()
                if due < now - interval_s:
                    skipped = int((now - due) // interval_s)
                    self.stats.missed += skipped
                    due += skipped * interval_s
            else:
                backoff = min(backoff * 2, max(self.backoff_max_s, interval_s))
                # Jitter: devices that died together (a cabinet's shared link) do not retry together.
                due = self.clock.monotonic() + backoff * self.rng.uniform(0.8, 1.0)

    async def poll(self, group: str) -> bool:
        """Poll one group and publish what follows from it. Returns False when the device could not be read."""
        self.stats.polls += 1
        try:
            result = await self.reader.read_group(group)
        except ModbusError as exc:
            await self._failed(str(exc))
            return False
        self.values.update(result.values)
        stamp = self._device_time(result.values)
        if stamp is not None:
            self.device_now = stamp
        if self.online and self.failures:
            log.info("device_poll_recovered device=%s failures=%d", self.entry.id, self.failures)
            self.failures = 0
        try:
            if not self.online:
                await self._first_contact()
            self._read_since_contact.add(group)
            if self._state_group(group) and self._state_groups <= self._read_since_contact:
                await self.publish_state()
            telemetry = self.reporter.select(result.values, self.clock.monotonic())
            if telemetry:
                await self.publisher.publish_telemetry(telemetry, ts=to_rfc3339(stamp) if stamp else None)
            count = result.values.get("event_count")
            if self.events is not None and isinstance(count, int) and count > 0:
                await self.events.drain(count)
        except BusError as exc:
            # The device was read; only the bus is down. The bus reconnects by itself and republishes state.
            log.warning("gateway_publish_failed device=%s group=%s error=%s", self.entry.id, group, exc)
        except ModbusError as exc:
            await self._failed(str(exc))
            return False
        return True

    async def _first_contact(self) -> None:
        async with self._contact:
            if self.online:
                return
            static = [p.name for g in self.profile.poll_groups for p in self.profile.polled(g) if p.role == "meta"]
            missing = [n for n in static if n not in self.values]
            if missing:
                self.values.update((await self.reader.read_points(missing)).values)
            extra: dict[str, Any] = {}
            if isinstance(self.values.get("circuits"), int) and 1 <= self.values["circuits"] <= 16:
                extra["circuits"] = self.values["circuits"]
            mask = self.values.get("phases_in_use")
            if isinstance(mask, int) and mask:
                extra["phases"] = [n for n in range(1, 17) if mask >> (n - 1) & 1]
            await self.publisher.publish_birth(str(self.values.get("model", "")), str(self.values.get("firmware", "")),
                                               sorted(self.profile.commands), extra)
            was_lost = self.failures >= self.offline_after
            self.online = True
            self.failures = 0
            if was_lost:
                log.info("device_recovered device=%s", self.entry.id)
                await self.publisher.publish_event({"alarm": "comm_loss", "active": False})
            else:
                log.info("device_online device=%s host=%s unit=%s", self.entry.id, self.entry.host,
                         self.entry.unit_id)

    async def publish_state(self, *, force: bool = False) -> dict[str, Any]:
        """Normalize the latest values; publish when they changed (or `force`). Returns the state values."""
        now = self.device_now or self.clock.now()
        state = normalize_state(self.entry.kind, self.values, now)
        alarms = set(state.get("alarms", []))
        for name in sorted(alarms ^ self._alarms):
            await self.publisher.publish_event({"alarm": name, "active": name in alarms})
        self._alarms = alarms
        last = self.publisher.state
        if force or last is None or last["values"] != state:
            await self.publisher.publish_state(state, ts=to_rfc3339(now) if self.device_now else None)
        return state

    async def _failed(self, reason: str) -> None:
        self.failures += 1
        self.stats.failures += 1
        if self.failures == 1:
            log.warning("device_poll_failed device=%s error=%s", self.entry.id, reason)
        if self.failures == self.offline_after and (self.online or self.publisher.status is None):
            self.online = False
            self._read_since_contact.clear()
            log.warning("device_offline device=%s failures=%d error=%s", self.entry.id, self.failures, reason)
            try:
                await self.publisher.publish_status("offline", reason)
                await self.publisher.publish_event({"alarm": "comm_loss", "active": True, "detail": reason[:512]})
            except BusError as exc:
                log.warning("gateway_publish_failed device=%s error=%s", self.entry.id, exc)
