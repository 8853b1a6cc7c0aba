"""Detector configuration and ATSPM measures of an intersection.

- `GET|PUT /api/v1/intersections/{id}/detectors`: the detector channels (export / import: PUT replaces the whole
  list). Engineers write (intersections:write); readers of devices read.
- `POST /api/v1/intersections/{id}/measures/run?start=&end=`: compute a window now (whole 15-minute bins, at most a
  day); engineers.
- `GET /api/v1/intersections/{id}/measures/{measure}?start=&end=&phase=`: the stored bins of one measure (at most
  31 days); viewers.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select

from api import audit
from api.deps import ApiDep, DevicesReader, IntersectionsWriter, SessionDep, TelemetryReader, client_addr
from api.measures import BIN, DETECTOR_TYPES, MEASURES, Cycle, aligned, cycles_of, phase_intervals
from api.measures_service import MAX_RUN, detectors_of, fetch_events, run_window
from api.models import DetectorConfig, Intersection, MeasureBin
from api.problems import Problem
from api.routes.events import controller_of, event_store
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN
from controllers.events import ControllerEvent

router = APIRouter(prefix="/api/v1/intersections", tags=["measures"])

IntersectionId = Annotated[str, Path(pattern=ID_PATTERN)]
MAX_READ = timedelta(days=31)
MAX_DETECTORS = 128


class DetectorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: int = Field(ge=1, le=255, description="detector channel (the param of events 81/82)")
    phase: int = Field(ge=1, le=16)
    type: str = Field(description=f"one of {', '.join(DETECTOR_TYPES)}")
    lane: str | None = Field(default=None, max_length=32)
    setback_m: float = Field(default=0.0, ge=0, le=1000, description="distance upstream of the stop bar")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in DETECTOR_TYPES:
            raise ValueError(f"unknown detector type {value!r}; one of {', '.join(DETECTOR_TYPES)}")
        return value

    @field_validator("setback_m")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class MeasureRowOut(BaseModel):
    bin_start: str
    phase: int | None
    detector: int | None
    values: dict[str, float | int | str | bool | None]


class MeasureOut(BaseModel):
    intersection: str
    measure: str
    start: str
    end: str
    rows: list[MeasureRowOut]


class RunOut(BaseModel):
    intersection: str
    start: str
    end: str
    events: int
    rows: dict[str, int]
    carried_in: bool


class PcdDetectorOut(BaseModel):
    channel: int


class PcdCycleOut(BaseModel):
    start: str
    length_s: float
    green_start_s: float | None
    green_s: float
    yellow_start_s: float | None
    yellow_s: float


class PcdArrivalOut(BaseModel):
    ts: str
    cycle: int = Field(description="index into cycles")
    t_s: float = Field(description="seconds into its cycle")
    channel: int
    on_green: bool


class PcdOut(BaseModel):
    intersection: str
    phase: int
    start: str
    end: str
    detectors: list[PcdDetectorOut]
    cycles: list[PcdCycleOut]
    arrivals: list[PcdArrivalOut]


class SplitOut(BaseModel):
    cycle_start: str
    green_start: str
    green_s: float
    yellow_s: float
    red_clearance_s: float
    split_s: float


class SplitsOut(BaseModel):
    intersection: str
    start: str
    end: str
    phases: dict[str, list[SplitOut]] = Field(description="by phase number")


class PeriodOut(BaseModel):
    start: str
    end: str
    summary: list[dict[str, int | float | None]] = Field(
        description="per phase and detector: phase, detector, bins, and each numeric column summed (counts) or "
                    "averaged (ratios, weighted by Total_Actuations where the rows have it)")


class CompareOut(BaseModel):
    intersection: str
    measure: str
    at: str
    days: float
    before: PeriodOut
    after: PeriodOut


def _bad(path: str, message: str) -> Problem:
    return Problem(422, message, errors=[{"path": path, "message": message, "type": "value_error"}])


async def _intersection(session: Any, intersection_id: str) -> None:
    if await session.get(Intersection, intersection_id) is None:
        raise Problem(404, f"no intersection {intersection_id!r}")


@router.get("/{intersection_id}/detectors", response_model=list[DetectorIn], responses={404: {}})
async def get_detectors(intersection_id: IntersectionId, session: SessionDep,
                        _: DevicesReader) -> list[dict[str, Any]]:
    await _intersection(session, intersection_id)
    rows = (await session.execute(select(DetectorConfig).where(DetectorConfig.intersection_id == intersection_id)
                                  .order_by(DetectorConfig.channel, DetectorConfig.type))).scalars()
    return [{"channel": r.channel, "phase": r.phase, "type": r.type, "lane": r.lane, "setback_m": r.setback_m}
            for r in rows]


@router.put("/{intersection_id}/detectors", response_model=list[DetectorIn], responses={404: {}, 422: {}})
async def put_detectors(intersection_id: IntersectionId, request: Request, api: ApiDep, session: SessionDep,
                        body: Annotated[list[DetectorIn], Field(max_length=MAX_DETECTORS)],
                        user: IntersectionsWriter) -> list[dict[str, Any]]:
    """Replace the intersection's detector configuration (an import; GET exports the same shape)."""
    await _intersection(session, intersection_id)
    seen: set[tuple[int, str]] = set()
    for i, d in enumerate(body):
        if (d.channel, d.type) in seen:
            raise _bad(f"body.{i}.channel", f"channel {d.channel} is listed twice as {d.type}")
        seen.add((d.channel, d.type))
    await session.execute(delete(DetectorConfig).where(DetectorConfig.intersection_id == intersection_id))
    for d in body:
        session.add(DetectorConfig(intersection_id=intersection_id, **d.model_dump()))
    await session.commit()
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="intersection.detectors", target=intersection_id, outcome="ok")
    return [d.model_dump() for d in sorted(body, key=lambda d: (d.channel, d.type))]


@router.post("/{intersection_id}/measures/run", response_model=RunOut, responses={404: {}, 422: {}, 503: {}})
async def run_measures(intersection_id: IntersectionId, request: Request, api: ApiDep, session: SessionDep,
                       start: AwareDatetime, end: AwareDatetime,
                       user: IntersectionsWriter) -> dict[str, Any]:
    """Compute the measures of [start, end) now (whole 15-minute bins, at most one day) and store them."""
    for name, ts in (("start", start), ("end", end)):
        if not aligned(ts):
            raise _bad(f"query.{name}", f"{name} must fall on a 15-minute bin edge")
    if end <= start:
        raise _bad("query.end", "end must be after start")
    if end - start > MAX_RUN:
        raise _bad("query.end", "a window of at most one day")
    device = await controller_of(session, intersection_id)
    store = event_store(api)
    try:
        summary = await run_window(api.sessions, store, intersection_id, device, start, end)
    except ImportError as exc:
        raise Problem(503, f"measures need the `measures` extra (atspm): {exc}") from None
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="measures.run", target=intersection_id, outcome="ok")
    return {"intersection": intersection_id, "start": to_rfc3339(start), "end": to_rfc3339(end),
            "events": summary.events, "rows": summary.rows, "carried_in": summary.carried_in}


@router.get("/{intersection_id}/measures/{measure}", response_model=MeasureOut, responses={404: {}, 422: {}})
async def get_measure(intersection_id: IntersectionId, measure: str, session: SessionDep,
                      start: AwareDatetime, end: AwareDatetime,
                      _: TelemetryReader,
                      phase: Annotated[int | None, Query(ge=1, le=16)] = None) -> dict[str, Any]:
    """The stored rows of one measure in bins [start, end), oldest first (atspm's columns in `values`)."""
    if measure not in MEASURES:
        raise Problem(404, f"no measure {measure!r}; one of {', '.join(MEASURES)}")
    if end <= start:
        raise _bad("query.end", "end must be after start")
    if end - start > MAX_READ:
        raise _bad("query.end", f"a window of at most {MAX_READ.days} days")
    await _intersection(session, intersection_id)
    query = select(MeasureBin).where(MeasureBin.intersection_id == intersection_id, MeasureBin.measure == measure,
                                     MeasureBin.bin_start >= start, MeasureBin.bin_start < end)
    if phase is not None:
        query = query.where(MeasureBin.phase == phase)
    rows = (await session.execute(query.order_by(MeasureBin.bin_start, MeasureBin.phase, MeasureBin.detector,
                                                 MeasureBin.id))).scalars()
    return {"intersection": intersection_id, "measure": measure, "start": to_rfc3339(start), "end": to_rfc3339(end),
            "rows": [{"bin_start": to_rfc3339(r.bin_start), "phase": r.phase, "detector": r.detector,
                      "values": r.values} for r in rows]}


# --- cycle-level views and the before/after comparison ------------------------------------------------------------
MAX_CYCLE_WINDOW = timedelta(days=1)


def _window(start: datetime, end: datetime, longest: timedelta) -> None:
    if end <= start:
        raise _bad("query.end", "end must be after start")
    if end - start > longest:
        raise _bad("query.end", f"a window of at most {longest}")


async def _intervals(api: Any, session: Any, intersection_id: str, start: datetime,
                     end: datetime) -> tuple[list[ControllerEvent], list[tuple[str, int, datetime, datetime]]]:
    device = await controller_of(session, intersection_id)
    events = await fetch_events(event_store(api), device, start, end)
    try:
        return events, await asyncio.to_thread(phase_intervals, events)
    except ImportError as exc:
        raise Problem(503, f"measures need the `measures` extra (atspm): {exc}") from None


@router.get("/{intersection_id}/pcd", response_model=PcdOut, responses={404: {}, 422: {}, 503: {}})
async def get_pcd(intersection_id: IntersectionId, api: ApiDep, session: SessionDep, start: AwareDatetime,
                  end: AwareDatetime, phase: Annotated[int, Query(ge=1, le=16)],
                  _: TelemetryReader) -> dict[str, Any]:
    """Purdue coordination diagram data of one phase: its cycles (from one red-clearance start to the next) with
    the green and yellow bands as seconds into the cycle, and every vehicle arrival (detector on, event 82, at the
    phase's advance detectors) as seconds into its cycle. Bands come from atspm's timeline."""
    _window(start, end, MAX_CYCLE_WINDOW)
    detectors = [d for d in await detectors_of(session, intersection_id) if d.phase == phase and d.type == "advance"]
    if not detectors:
        raise Problem(422, f"phase {phase} of {intersection_id!r} has no advance detector configured", errors=[
            {"path": "query.phase", "message": "no advance detector on this phase", "type": "value_error"}])
    events, intervals = await _intervals(api, session, intersection_id, start, end)
    cycles = cycles_of(intervals, phase)
    channels = {d.channel for d in detectors}
    arrivals = [e for e in events if e.code == 82 and e.param in channels]
    starts = [c.start for c in cycles]
    out_arrivals = []
    for e in arrivals:
        i = bisect.bisect_right(starts, e.ts) - 1
        if i < 0 or e.ts >= cycles[i].end:
            continue
        c = cycles[i]
        on_green = (c.green_start is not None and c.green_start <= e.ts
                    < c.green_start + timedelta(seconds=c.green_s))
        out_arrivals.append({"ts": to_rfc3339(e.ts), "cycle": i, "t_s": (e.ts - c.start).total_seconds(),
                             "channel": e.param, "on_green": on_green})

    def offset(ts: datetime | None, c: Cycle) -> float | None:
        return None if ts is None else (ts - c.start).total_seconds()

    return {"intersection": intersection_id, "phase": phase, "start": to_rfc3339(start), "end": to_rfc3339(end),
            "detectors": [{"channel": d.channel} for d in detectors],
            "cycles": [{"start": to_rfc3339(c.start), "length_s": (c.end - c.start).total_seconds(),
                        "green_start_s": offset(c.green_start, c), "green_s": c.green_s,
                        "yellow_start_s": offset(c.yellow_start, c), "yellow_s": c.yellow_s} for c in cycles],
            "arrivals": out_arrivals}


@router.get("/{intersection_id}/splits", response_model=SplitsOut, responses={404: {}, 422: {}, 503: {}})
async def get_splits(intersection_id: IntersectionId, api: ApiDep, session: SessionDep, start: AwareDatetime,
                     end: AwareDatetime,
                     _: TelemetryReader) -> dict[str, Any]:
    """Cycle-by-cycle splits of every phase that ran: green, yellow and red clearance (atspm's timeline) and their
    sum, the split."""
    _window(start, end, MAX_CYCLE_WINDOW)
    intervals = (await _intervals(api, session, intersection_id, start, end))[1]
    phases = sorted({p for _, p, _, _ in intervals})
    out: dict[str, list[dict[str, Any]]] = {}
    for p in phases:
        rows = [{"cycle_start": to_rfc3339(c.start), "green_start": to_rfc3339(c.green_start),
                 "green_s": round(c.green_s, 3), "yellow_s": round(c.yellow_s, 3),
                 "red_clearance_s": round(c.red_clearance_s, 3),
                 "split_s": round(c.green_s + c.yellow_s + c.red_clearance_s, 3)}
                for c in cycles_of(intervals, p) if c.green_start is not None]
        if rows:
            out[str(p)] = rows
    return {"intersection": intersection_id, "start": to_rfc3339(start), "end": to_rfc3339(end), "phases": out}


def summarize(rows: Sequence[MeasureBin]) -> list[dict[str, Any]]:
    """Rows of one measure over a period, per (phase, detector): integer columns summed, fractional ones averaged
    (weighted by Total_Actuations where the rows have it: arrivals on green, platoon ratio)."""
    groups: dict[tuple[int | None, int | None], list[MeasureBin]] = {}
    for r in rows:
        groups.setdefault((r.phase, r.detector), []).append(r)
    out = []
    for (phase, detector), members in sorted(groups.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or 0)):
        summary: dict[str, Any] = {"phase": phase, "detector": detector, "bins": len({m.bin_start for m in members})}
        keys = sorted({k for m in members for k, v in m.values.items() if isinstance(v, (int, float))
                       and not isinstance(v, bool)})
        for k in keys:
            numbers: list[float] = []
            weights: list[float] = []
            integral = True
            for m in members:
                v, w = m.values.get(k), m.values.get("Total_Actuations")
                if isinstance(v, (int, float)):
                    integral = integral and isinstance(v, int)
                    numbers.append(float(v))
                    weights.append(float(w) if isinstance(w, (int, float)) else math.nan)
            total_weight = sum(weights)
            if integral:
                summary[k] = int(sum(numbers))
            elif math.isfinite(total_weight) and total_weight > 0:
                summary[k] = sum(v * w for v, w in zip(numbers, weights, strict=True)) / total_weight
            else:
                summary[k] = sum(numbers) / len(numbers)
        out.append(summary)
    return out


@router.get("/{intersection_id}/measures/{measure}/compare", response_model=CompareOut,
            responses={404: {}, 422: {}})
async def compare_measure(intersection_id: IntersectionId, measure: str, session: SessionDep, at: AwareDatetime,
                          _: TelemetryReader,
                          days: Annotated[float, Query(gt=0, le=31)] = 7.0) -> dict[str, Any]:
    """Before/after a plan deploy at `at`: the measure's stored bins over `days` before and `days` after,
    summarized per phase (and detector) side by side. A bin that straddles `at` (a deploy activates at a cycle
    boundary, rarely on a bin edge) ran under both plans and is left out of both sides."""
    if measure not in MEASURES:
        raise Problem(404, f"no measure {measure!r}; one of {', '.join(MEASURES)}")
    await _intersection(session, intersection_id)
    span = timedelta(days=days)
    periods = {}
    before, after = MeasureBin.bin_start <= at - BIN, MeasureBin.bin_start >= at    # only whole bins each side
    for name, (a, b), side in (("before", (at - span, at), before), ("after", (at, at + span), after)):
        rows = list((await session.execute(select(MeasureBin).where(
            MeasureBin.intersection_id == intersection_id, MeasureBin.measure == measure,
            MeasureBin.bin_start >= a, MeasureBin.bin_start < b, side))).scalars())
        periods[name] = {"start": to_rfc3339(a), "end": to_rfc3339(b), "summary": summarize(rows)}
    return {"intersection": intersection_id, "measure": measure, "at": to_rfc3339(at), "days": days, **periods}
