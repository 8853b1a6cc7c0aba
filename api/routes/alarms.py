"""`/api/v1/alarms`: active and past alarms, filterable; acknowledgement by a named user."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import audit
from api.alarm_store import alarm_json
from api.deps import ApiDep, SessionDep, client_addr, require
from api.models import Alarm
from api.problems import Problem
from api.security import Scope
from controllers.alarms import AlarmKind, Severity
from controllers.devices import ID_PATTERN

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

AlarmId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # INTEGER on PostgreSQL is 32-bit


class AlarmOut(BaseModel):
    id: int
    device_id: str
    site: str
    kind: str
    severity: str
    active: bool
    label: dict[str, str]
    raised_at: str
    cleared_at: str | None
    acked_at: str | None
    acked_by: str | None
    ack_note: str | None = None
    detail: str | None


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500, description="what was seen or done, kept with the alarm")


@router.get("", response_model=list[AlarmOut])
async def list_alarms(session: SessionDep, _: require(Scope.ALARMS_READ),  # type: ignore[valid-type]
                      active: bool | None = None, acked: bool | None = None,
                      site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                      device: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                      kind: AlarmKind | None = None, severity: Severity | None = None,
                      order: Literal["newest", "oldest"] = "newest",
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[dict[str, Any]]:
    """Alarms, newest first by default; `active=true` for what needs attention now, `acked=false` for unhandled."""
    query = select(Alarm)
    if active is not None:
        query = query.where(Alarm.active.is_(active))
    if acked is not None:
        query = query.where(Alarm.acked_at.is_not(None) if acked else Alarm.acked_at.is_(None))
    if site:
        query = query.where(Alarm.site == site)
    if device:
        query = query.where(Alarm.device_id == device)
    if kind:
        query = query.where(Alarm.kind == kind.value)
    if severity:
        query = query.where(Alarm.severity == severity.value)
    ordering = Alarm.id.desc() if order == "newest" else Alarm.id.asc()
    rows = (await session.execute(query.order_by(ordering).limit(limit).offset(offset))).scalars()
    return [alarm_json(r) for r in rows]


@router.get("/{alarm_id}", response_model=AlarmOut, responses={404: {}})
async def get_alarm(alarm_id: AlarmId, session: SessionDep,
                    _: require(Scope.ALARMS_READ)) -> dict[str, Any]:  # type: ignore[valid-type]
    row = await session.get(Alarm, alarm_id)
    if row is None:
        raise Problem(404, f"no alarm {alarm_id}")
    return alarm_json(row)


@router.post("/{alarm_id}/ack", response_model=AlarmOut, responses={404: {}, 409: {}})
async def ack_alarm(alarm_id: AlarmId, request: Request, api: ApiDep, session: SessionDep,
                    user: require(Scope.ALARMS_ACK),  # type: ignore[valid-type]
                    body: Annotated[AckIn | None, Body()] = None) -> dict[str, Any]:
    """Acknowledge: records who and when. An alarm is acknowledged once; a second ack is 409 naming who did."""
    row = await session.get(Alarm, alarm_id)
    if row is None:
        raise Problem(404, f"no alarm {alarm_id}")
    if row.acked_at is not None:
        raise Problem(409, f"alarm {alarm_id} was already acknowledged by {row.acked_by}")
    now = api.clock.now()
    row.acked_at, row.acked_by = now, user.name
    row.ack_note = body.note if body and body.note else None
    await session.commit()
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request), action="alarm.ack",
                       target=row.device_id, outcome="ok",
                       detail={"alarm_id": row.id, "kind": row.kind, "note": row.ack_note})
    data = alarm_json(row)
    api.hub.publish("alarm", row.site, row.device_id, data)
    return data
