"""The APScheduler job that keeps the measures current: one minute after every 15-minute bin ends (late events
settle), `api.measures_service.measures_job` computes each intersection's finished bins. Started by the API when
its telemetry store keeps events and atspm (the `measures` extra) is installed; otherwise logged and skipped, and
the on-demand route answers 503. Every API replica schedules it; a DB lease (`MEASURES_LEASE`) lets one of them
run it (api.measures_service.measures_job)."""

from __future__ import annotations

import importlib.util
import logging
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from api.lighting_scheduler import holder_id
from api.measures_service import measures_job
from api.state import ApiState
from controllers.events import EventStore

log = logging.getLogger(__name__)

JOB_ID = "atspm_measures"


def start(api: ApiState) -> AsyncIOScheduler | None:
    """The running scheduler with the measures job, or None when measures cannot run here (logged why)."""
    store = api.deps.telemetry
    if not isinstance(store, EventStore):
        log.info("measures_job_disabled reason=the telemetry store keeps no events")
        return None
    if importlib.util.find_spec("atspm") is None:
        log.warning("measures_job_disabled reason=atspm is not installed (pip install signalight[measures])")
        return None
    scheduler = AsyncIOScheduler(timezone=UTC)
    # max_instances=1 and coalesce: a slow run is never overlapped; missed runs fold into one, which catches up
    # from each intersection's carry-over anyway.
    scheduler.add_job(measures_job, CronTrigger(minute="1,16,31,46", timezone=UTC), id=JOB_ID,
                      args=[api.sessions, store, api.clock], kwargs={"holder": holder_id()}, max_instances=1,
                      coalesce=True, misfire_grace_time=600)
    scheduler.start()
    log.info("measures_job_scheduled every=15min")
    return scheduler
