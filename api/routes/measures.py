"""Detector configuration and ATSPM measures of an intersection.

- `GET|PUT /api/v1/intersections/{id}/detectors`: the detector channels (export / import: PUT replaces the whole
  list). Engineers write (intersections:write); readers of devices read.
- `POST /api/v1/intersections/{id}/measures/run?start=&end=`: compute a window now (whole 15-minute bins, at most a
  day); engineers.
- `GET /api/v1/intersections/{id}/measures/{measure}?start=&end=&phase=`: the stored bins of one measure (at most
  31 days); viewers.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import delete, select

from api import audit
from api.deps import ApiDep, SessionDep, client_addr, require
from api.measures import DETECTOR_TYPES, MEASURES, aligned
from api.measures_service import MAX_RUN, run_window
from api.models import DetectorConfig, Intersection, MeasureBin
from api.problems import Problem
from api.routes.events import controller_of, event_store
from api.security import Scope
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN

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


def _bad(path: str, message: str) -> Problem:
    return Problem(422, message, errors=[{"path": path, "message": message, "type": "value_error"}])


async def _intersection(session: Any, intersection_id: str) -> None:
    if await session.get(Intersection, intersection_id) is None:
        raise Problem(404, f"no intersection {intersection_id!r}")


@router.get("/{intersection_id}/detectors", response_model=list[DetectorIn], responses={404: {}})
async def get_detectors(intersection_id: IntersectionId, session: SessionDep,
                        _: require(Scope.DEVICES_READ)) -> list[dict[str, Any]]:  # type: ignore[valid-type]
    await _intersection(session, intersection_id)
    rows = (await session.execute(select(DetectorConfig).where(DetectorConfig.intersection_id == intersection_id)
                                  .order_by(DetectorConfig.channel, DetectorConfig.type))).scalars()
    return [{"channel": r.channel, "phase": r.phase, "type": r.type, "lane": r.lane, "setback_m": r.setback_m}
            for r in rows]


@router.put("/{intersection_id}/detectors", response_model=list[DetectorIn], responses={404: {}, 422: {}})
async def put_detectors(intersection_id: IntersectionId, request: Request, api: ApiDep, session: SessionDep,
                        body: Annotated[list[DetectorIn], Field(max_length=MAX_DETECTORS)],
                        user: require(Scope.INTERSECTIONS_WRITE)) -> list[dict[str, Any]]:  # type: ignore[valid-type]
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
                       user: require(Scope.INTERSECTIONS_WRITE)) -> dict[str, Any]:  # type: ignore[valid-type]
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
                      _: require(Scope.TELEMETRY_READ),  # type: ignore[valid-type]
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
