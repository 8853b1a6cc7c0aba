"""Measures per intersection: events from the store and detectors from the registry into `api.measures` (atspm),
results and carry-over into the registry DB; the periodic job that computes every finished bin.

A window [start, end) is whole 15-minute bins. Its rows replace those of any earlier run that started inside it (a
recomputation never doubles a bin). The carry-over atspm leaves at `end` is kept per intersection and used by the
run that starts there; a run starting elsewhere starts fresh (logged), as atspm would on its first run.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.lighting_energy import hold_lease
from api.measures import BIN, Detector, RunResult, compute
from api.models import DetectorConfig, Intersection, MeasureBin, MeasureCarry
from controllers.clock import Clock
from controllers.events import MAX_PAGE, ControllerEvent, EventCursor, EventStore, in_seq_order

log = logging.getLogger(__name__)

#: The longest window one run takes (a day of a busy controller is ~1 M events).
MAX_RUN = timedelta(days=1)
#: The scheduler's lease (table scheduler_leases): 2 runs of the job, so a holder that dies frees it in 30 min.
MEASURES_LEASE = "atspm_measures"
LEASE_TTL = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class RunSummary:
    intersection: str
    start: datetime
    end: datetime
    events: int
    rows: dict[str, int]
    carried_in: bool


async def fetch_events(store: EventStore, device: str, start: datetime, end: datetime) -> list[ControllerEvent]:
    """Every stored event of `device` in [start, end), page by page, in the order sent (`in_seq_order`)."""
    out: list[ControllerEvent] = []
    after: EventCursor | None = None
    while True:
        page = await store.query_events(device=device, start=start, end=end, limit=MAX_PAGE, after=after)
        out += page
        if len(page) < MAX_PAGE:
            return in_seq_order(out)
        after = EventCursor.after(page[-1])


async def detectors_of(session: AsyncSession, intersection_id: str) -> list[Detector]:
    rows = (await session.execute(select(DetectorConfig).where(
        DetectorConfig.intersection_id == intersection_id).order_by(DetectorConfig.channel))).scalars()
    return [Detector(r.channel, r.phase, r.type) for r in rows]


async def run_window(sessions: async_sessionmaker[AsyncSession], store: EventStore, intersection_id: str,
                     device: str, start: datetime, end: datetime) -> RunSummary:
    """Compute and store the measures of one intersection for [start, end) (whole bins, at most MAX_RUN)."""
    async with sessions() as session:
        detectors = await detectors_of(session, intersection_id)
        carry = await session.get(MeasureCarry, intersection_id)
    carried = carry is not None and carry.until == start
    if carry is not None and not carried:
        log.info("measures_carry_unused intersection=%s carry_until=%s start=%s", intersection_id, carry.until,
                 start)
    events = await fetch_events(store, device, start, end)
    result: RunResult = await asyncio.to_thread(
        compute, events, detectors, unmatched=carry.unmatched if carried and carry else None,
        sf_unmatched=carry.sf_unmatched if carried and carry else None)
    counts: dict[str, int] = {}
    async with sessions() as session, session.begin():
        await session.execute(delete(MeasureBin).where(
            MeasureBin.intersection_id == intersection_id, MeasureBin.run_start >= start, MeasureBin.run_start < end))
        for row in result.rows:
            counts[row.measure] = counts.get(row.measure, 0) + 1
            session.add(MeasureBin(intersection_id=intersection_id, measure=row.measure, bin_start=row.bin_start,
                                   phase=row.phase, detector=row.detector, values=row.values, run_start=start))
        state = await session.get(MeasureCarry, intersection_id)
        if state is None:
            session.add(MeasureCarry(intersection_id=intersection_id, until=end, unmatched=result.unmatched,
                                     sf_unmatched=result.sf_unmatched))
        else:
            state.until, state.unmatched, state.sf_unmatched = end, result.unmatched, result.sf_unmatched
    log.info("measures_computed intersection=%s start=%s end=%s events=%d rows=%d carried_in=%s", intersection_id,
             start, end, len(events), len(result.rows), carried)
    return RunSummary(intersection_id, start, end, len(events), counts, carried)


def floor_bin(ts: datetime) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=ts.tzinfo)
    return ts - (ts - epoch) % BIN


async def measures_job(sessions: async_sessionmaker[AsyncSession], store: EventStore, clock: Clock, *,
                       settle: timedelta = timedelta(minutes=1), first: timedelta = BIN,
                       holder: str | None = None) -> list[RunSummary]:
    """The periodic job: for every intersection with a controller, every finished bin since its carry-over (the
    last `first` on its first run), in windows of at most MAX_RUN. A bin counts as finished `settle` after its end
    (late events still arriving). One intersection failing is logged; the others still run.

    `holder`: this process's name when several API replicas run the job: it first takes the DB lease
    `MEASURES_LEASE` (renewed by its holder at every run, free `LEASE_TTL` after its holder's last run), and
    without it does nothing: one replica computes, the others would only recompute the same bins."""
    if holder is not None and not await hold_lease(sessions, MEASURES_LEASE, holder, clock.now(),
                                                   LEASE_TTL.total_seconds()):
        log.info("measures_job_not_leader holder=%s", holder)
        return []
    until = floor_bin(clock.now() - settle)
    async with sessions() as session:
        rows = (await session.execute(select(Intersection.id, Intersection.controller_id).where(
            Intersection.controller_id.is_not(None)).order_by(Intersection.id))).all()
        carries = {c.intersection_id: c.until for c in (await session.execute(select(MeasureCarry))).scalars()}
    done: list[RunSummary] = []
    for intersection_id, device in rows:
        if device is None:
            continue
        start = carries.get(intersection_id, until - first)
        while start < until:
            end = min(until, start + MAX_RUN)
            try:
                done.append(await run_window(sessions, store, intersection_id, device, start, end))
            except Exception as exc:  # one intersection's failure must not stop the fleet's measures
                log.error("measures_failed intersection=%s start=%s end=%s error=%r", intersection_id, start, end,
                          exc)
                break
            start = end
    return done
