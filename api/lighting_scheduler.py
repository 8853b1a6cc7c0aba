"""The scheduled lighting jobs (APScheduler 3.x, the design card's scheduler): the daily energy and burning-hours
report. Runs in its own `signalight scheduler` process; several may run (or a replica restart overlaps the old
one): each job first takes the DB lease, so exactly one process does the work each time.

APScheduler fires on wall time (its own clock): this module only wires it. What a run does is
`run_energy_once(now)`, which takes every time from its argument, so tests drive it with any `now`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.alarm_store import AlarmStore
from api.lighting_energy import ENERGY_LEASE, EnergyJob, TelemetryStore, hold_lease
from controllers.clock import Clock
from controllers.telemetry import StoreError

log = logging.getLogger(__name__)

LEASE_TTL_S = 3600.0        # longer than a run of the job; a holder that dies frees it within the hour
RUN_AT = dt.time(0, 20)     # local: the last telemetry of the day has reached the store by then
CATCH_UP_DAYS = 3           # a scheduler started after an outage reports the days it missed


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LightingScheduler:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: TelemetryStore, clock: Clock,
                 tz: ZoneInfo, *, holder: str | None = None, alarms: AlarmStore | None = None) -> None:
        self.job = EnergyJob(sessions, store, tz, alarms)
        self._sessions = sessions
        self._clock = clock
        self._tz = tz
        self.holder = holder or holder_id()
        self.done: set[dt.date] = set()

    async def run_energy_once(self, now: dt.datetime) -> list[dt.date]:
        """If this process holds the lease: report every finished local day of the last CATCH_UP_DAYS not yet
        reported by it; the days reported. Without the lease: nothing (another process does it)."""
        if not await hold_lease(self._sessions, ENERGY_LEASE, self.holder, now, LEASE_TTL_S):
            log.info("energy_job_not_leader holder=%s", self.holder)
            return []
        today = now.astimezone(self._tz).date()
        days = [today - dt.timedelta(days=n) for n in range(CATCH_UP_DAYS, 0, -1)]
        reported: list[dt.date] = []
        for day in days:
            if day in self.done:
                continue
            try:
                await self.job.run_day(day)
            except StoreError as exc:   # the store is down: the next run tries again
                log.warning("energy_job_failed day=%s error=%s", day.isoformat(), exc)
                break
            self.done.add(day)
            reported.append(day)
        return reported

    def build(self) -> AsyncIOScheduler:
        """An APScheduler running the energy job daily at RUN_AT local (and once at start, to catch up)."""
        scheduler = AsyncIOScheduler(timezone=self._tz)

        async def energy() -> None:
            await self.run_energy_once(self._clock.now())

        scheduler.add_job(energy, CronTrigger(hour=RUN_AT.hour, minute=RUN_AT.minute, timezone=self._tz),
                          id="lighting_energy", max_instances=1, coalesce=True, misfire_grace_time=3600)
        scheduler.add_job(energy, id="lighting_energy_catch_up", max_instances=1)
        return scheduler
