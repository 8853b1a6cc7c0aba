"""`/api/v1/alarms`: active and past alarms, filterable; acknowledgement by a named user.

Acknowledging needs `alarms:ack`, and for an alarm of anything but a lighting cabinet also `command:signal`: a
lighting crew acknowledges the cabinets' alarms it works on, never a signal's (a conflict flash is the traffic
operators' to handle).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import audit
from api.alarm_store import alarm_json
from api.deps import AlarmsAcknowledger, AlarmsReader, ApiDep, SessionDep, client_addr
from api.models import Alarm, Device
from api.problems import Problem
from api.security import Scope
from controllers.alarms import AlarmKind, Severity
from controllers.devices import ID_PATTERN, DeviceKind

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
    circuit: int | None = None  # the lighting cabinet's circuit the alarm is about (None: the whole device)
    work_order_id: int | None = None  # the work order made from this alarm


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500, description="what was seen or done, kept with the alarm")


@router.get("", response_model=list[AlarmOut])
async def list_alarms(session: SessionDep, _: AlarmsReader,
                      active: bool | None = None, acked: bool | None = None,
                      site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                      device: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                      kind: AlarmKind | None = None, severity: Severity | None = None,
                      order: Literal["newest", "oldest"] = "newest",
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[AlarmOut]:
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
    return [AlarmOut.model_validate(alarm_json(r)) for r in rows]


@router.get("/{alarm_id}", response_model=AlarmOut, responses={404: {}})
async def get_alarm(alarm_id: AlarmId, session: SessionDep, _: AlarmsReader) -> AlarmOut:
    row = await session.get(Alarm, alarm_id)
    if row is None:
        raise Problem(404, f"no alarm {alarm_id}")
    return AlarmOut.model_validate(alarm_json(row))


@router.post("/{alarm_id}/ack", response_model=AlarmOut, responses={403: {}, 404: {}, 409: {}})
async def ack_alarm(alarm_id: AlarmId, request: Request, api: ApiDep, session: SessionDep,
                    user: AlarmsAcknowledger,
                    body: Annotated[AckIn | None, Body()] = None) -> AlarmOut:
    """Acknowledge: records who and when, and an optional note. An alarm is acknowledged once; a second ack is
    409 naming who did. A signal's alarm (any device not known as a lighting cabinet) also needs scope
    command:signal (403)."""
    row = await session.get(Alarm, alarm_id)
    if row is None:
        raise Problem(404, f"no alarm {alarm_id}")
    live = api.cache.get(row.device_id)
    kind = live.kind if live is not None and live.kind else None
    if kind is None:
        device = await session.get(Device, row.device_id)
        kind = device.kind if device is not None else None
    if kind != DeviceKind.LIGHTING_CABINET and not user.has(Scope.COMMAND_SIGNAL):
        raise Problem(403, f"role {user.role.value} acknowledges lighting alarms only; alarm {alarm_id} is of "
                           f"{row.device_id} ({kind or 'unknown kind'}) and needs scope {Scope.COMMAND_SIGNAL.value}")
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
    return AlarmOut.model_validate(data)
