"""`/api/v1/devices/{id}/telemetry`: samples or aggregates of one device's fields, from the telemetry store."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import ApiDep, SessionDep, TelemetryReader
from api.models import Device
from api.problems import Problem
from api.state import ApiState
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN, DeviceKind
from controllers.telemetry import FIELDS, Aggregate, StoreError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/devices", tags=["telemetry"])

FIELD_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
FIELD_RE = re.compile(FIELD_PATTERN)
MAX_POINTS = 10_000
STORE_TIMEOUT_S = 10.0


class SeriesOut(BaseModel):
    device: str
    field: str
    unit: str | None
    points: list[tuple[str, float | None]]


class TelemetryOut(BaseModel):
    device: str
    kind: DeviceKind
    start: str
    end: str
    interval_s: float | None
    aggregate: Aggregate
    series: list[SeriesOut]


async def _kind(api: ApiState, session: AsyncSession, device_id: str) -> DeviceKind:
    live = api.cache.get(device_id)
    if live is not None and live.kind:
        return DeviceKind(live.kind)
    row = await session.get(Device, device_id)
    if row is None:
        raise Problem(404, f"no device {device_id!r}")
    return DeviceKind(row.kind)


@router.get("/{device_id}/telemetry", response_model=TelemetryOut, responses={404: {}, 422: {}, 503: {}})
async def get_telemetry(device_id: Annotated[str, Path(pattern=ID_PATTERN)], api: ApiDep, session: SessionDep,
                        _: TelemetryReader,
                        field: Annotated[list[str], Query(min_length=1, max_length=20)],
                        start: AwareDatetime, end: AwareDatetime,
                        interval_s: Annotated[float | None, Query(ge=1, le=86400 * 31)] = None,
                        aggregate: Aggregate = Aggregate.MEAN) -> dict[str, Any]:
    """Fields of one device in [start, end): raw samples, or one point per `interval_s` aggregated (mean, min,
    max, last). At most 10 000 points per field; 503 when the store cannot answer."""
    bad = [f for f in field if not FIELD_RE.match(f)]
    if bad:
        raise Problem(422, f"invalid field name {bad[0]!r}", errors=[
            {"path": "query.field", "message": f"field names match {FIELD_PATTERN}", "type": "pattern"}])
    if end <= start:
        raise Problem(422, "end must be after start",
                      errors=[{"path": "query.end", "message": "must be after start", "type": "value_error"}])
    span_s = (end - start).total_seconds()
    if interval_s is not None and span_s / interval_s > MAX_POINTS:
        raise Problem(422, f"{span_s / interval_s:.0f} intervals asked; at most {MAX_POINTS}", errors=[
            {"path": "query.interval_s", "message": f"at least {span_s / MAX_POINTS:.0f} s for this range",
             "type": "value_error"}])
    kind = await _kind(api, session, device_id)
    store = api.deps.telemetry
    if store is None:
        raise Problem(503, "no telemetry store is configured for this API")
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            series = await store.query(kind=kind, device=device_id, fields=field, start=start, end=end,
                                       interval_s=interval_s, aggregate=aggregate)
    except TimeoutError:
        raise Problem(503, f"telemetry store did not answer within {STORE_TIMEOUT_S:.0f} s",
                      headers={"Retry-After": "10"}) from None
    except StoreError as exc:
        log.warning("telemetry_query_failed device=%s error=%s", device_id, str(exc))
        raise Problem(503, f"telemetry store unavailable: {exc}", headers={"Retry-After": "10"}) from None
    units = FIELDS.get(kind, {})
    return {"device": device_id, "kind": kind, "start": to_rfc3339(start), "end": to_rfc3339(end),
            "interval_s": interval_s, "aggregate": aggregate,
            "series": [{"device": s.device, "field": s.field, "unit": units.get(s.field),
                        "points": [(to_rfc3339(ts), v) for ts, v in s.points[:MAX_POINTS]]} for s in series]}
