"""`/api/v1/intersections/{id}/events`: the hi-res event log of an intersection's controller, from the telemetry
store (every `event` the recorder kept: controllers.events), for the event-log view and the measures.

A bounded window (at most `MAX_WINDOW`), filtered by Indiana codes and parameters, paged oldest first with an
opaque cursor (`next_cursor`, present while more may follow)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from api.deps import ApiDep, SessionDep, TelemetryReader
from api.models import Intersection
from api.problems import Problem
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN
from controllers.events import MAX_PAGE, EventCursor, EventStore, in_seq_order
from controllers.telemetry import StoreError

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/intersections", tags=["events"])

MAX_WINDOW = timedelta(days=7)
STORE_TIMEOUT_S = 10.0

Code = Annotated[int, Field(ge=0, le=255)]
Param = Annotated[int, Field(ge=0, le=65535)]


class EventOut(BaseModel):
    ts: str
    seq: int
    code: int
    param: int


class EventPageOut(BaseModel):
    intersection: str
    device: str
    start: str
    end: str
    events: list[EventOut]
    next_cursor: str | None


def _bad(path: str, message: str) -> Problem:
    return Problem(422, message, errors=[{"path": path, "message": message, "type": "value_error"}])


async def controller_of(session: Any, intersection_id: str) -> str:
    """The controller device of an intersection; 404 naming what is missing."""
    row = await session.get(Intersection, intersection_id)
    if row is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    if not row.controller_id:
        raise Problem(404, f"intersection {intersection_id!r} has no controller")
    device: str = row.controller_id
    return device


def event_store(api: Any) -> EventStore:
    store = api.deps.telemetry
    if not isinstance(store, EventStore):
        raise Problem(503, "no event store is configured for this API")
    return store


@router.get("/{intersection_id}/events", response_model=EventPageOut, responses={404: {}, 422: {}, 503: {}})
async def get_events(intersection_id: Annotated[str, Path(pattern=ID_PATTERN)], api: ApiDep, session: SessionDep,
                     _: TelemetryReader,
                     start: AwareDatetime, end: AwareDatetime,
                     codes: Annotated[list[Code] | None, Query(max_length=64)] = None,
                     params: Annotated[list[Param] | None, Query(max_length=64)] = None,
                     limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
                     cursor: Annotated[str | None, Query(max_length=40)] = None) -> dict[str, Any]:
    """Events of the intersection's controller in [start, end) (at most 7 days), oldest first; `codes` and
    `params` filter (any of each); `limit` per page; `cursor` is the previous page's `next_cursor`."""
    if end <= start:
        raise _bad("query.end", "end must be after start")
    if end - start > MAX_WINDOW:
        raise _bad("query.end", f"a window of at most {MAX_WINDOW.days} days")
    after = None
    if cursor is not None:
        try:
            after = EventCursor.decode(cursor)
        except ValueError as exc:
            raise _bad("query.cursor", str(exc)) from None
    device = await controller_of(session, intersection_id)
    store = event_store(api)
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S):
            events = await store.query_events(device=device, start=start, end=end, codes=codes or (),
                                              params=params or (), limit=limit, after=after)
    except TimeoutError:
        raise Problem(503, f"event store did not answer within {STORE_TIMEOUT_S:.0f} s",
                      headers={"Retry-After": "10"}) from None
    except StoreError as exc:
        log.warning("events_query_failed intersection=%s device=%s error=%s", intersection_id, device, exc)
        raise Problem(503, f"event store unavailable: {exc}", headers={"Retry-After": "10"}) from None
    return {"intersection": intersection_id, "device": device, "start": to_rfc3339(start), "end": to_rfc3339(end),
            "events": [{"ts": to_rfc3339(e.ts), "seq": e.seq, "code": e.code, "param": e.param}
                       for e in in_seq_order(events)],
            "next_cursor": EventCursor.after(events[-1]).encode() if len(events) == limit else None}
