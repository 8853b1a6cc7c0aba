"""Manual control of an intersection: hold a pattern, flash or run free until a time, then release.

Operators and engineers (scope command:signal). The controller gets short backup timers renewed by the center
(`api.manual_control`), so it returns to its schedule by itself if the center goes silent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api import audit
from api.deps import ApiDep, DevicesReader, IntersectionsWriter, SessionDep, SignalCommander, client_addr
from api.dispatch import NOT_SENT
from api.manual_control import conflict_flash, session_json
from api.models import Device, Intersection
from api.plans_runtime import PlansDep
from api.problems import Problem
from api.routes.intersections import ObjectId
from api.state import ApiState
from controllers.commands import ResetConflict
from controllers.devices import DeviceKind

router = APIRouter(prefix="/api/v1/intersections", tags=["control"])


class ControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["hold_pattern", "flash", "free", "release"]
    pattern: Annotated[int | None, Field(ge=1, le=253, description="with hold_pattern only")] = None
    until: AwareDatetime | None = Field(default=None, description="end of manual control (required but for release)")
    backup_s: float | None = Field(default=None, ge=3, le=3600,
                                   description="backup timer sent to the controller; default the API setting")
    reason: str | None = Field(default=None, max_length=500, description="why, kept in the audit log")

    @model_validator(mode="after")
    def _consistent(self) -> ControlIn:
        if self.action == "hold_pattern" and self.pattern is None:
            raise ValueError("hold_pattern needs a pattern")
        if self.action != "hold_pattern" and self.pattern is not None:
            raise ValueError(f"pattern is only for hold_pattern, not {self.action}")
        if self.action != "release" and self.until is None:
            raise ValueError(f"{self.action} needs until")
        return self


class ControlSessionOut(BaseModel):
    """Manual control of an intersection, sent to the controller as backup timers renewed by the center."""

    id: str
    intersection_id: str
    device_id: str
    action: str
    pattern: int | None
    until: str
    backup_s: float
    status: str = Field(description="active | ended | released | superseded")
    created_by: str
    created_at: str
    next_renew_at: str
    last_sent_at: str | None
    renewals: int
    ended_at: str | None


class ControlReleased(BaseModel):
    released: ControlSessionOut | None = Field(description="the session released; None when none was active")


class ControlActive(BaseModel):
    active: ControlSessionOut | None


async def _controller(session: SessionDep, intersection_id: str) -> tuple[Intersection, Device]:
    inter = await session.get(Intersection, intersection_id)
    if inter is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    device = await session.get(Device, inter.controller_id) if inter.controller_id else None
    if device is None or device.kind != DeviceKind.SIGNAL_CONTROLLER.value:
        raise Problem(409, f"intersection {intersection_id!r} has no known signal controller "
                           f"(controller_id={inter.controller_id!r})")
    return inter, device


@router.post("/{intersection_id}/control", status_code=202, response_model=ControlSessionOut | ControlReleased,
             responses={404: {}, 409: {}, 422: {}})
async def start_control(intersection_id: ObjectId, body: ControlIn, request: Request, api: ApiDep,
                        session: SessionDep, plans: PlansDep,
                        user: SignalCommander) -> ControlSessionOut | ControlReleased:
    """Start manual control until `until` (renewed as backup timers), or `release` it at once."""
    _, device = await _controller(session, intersection_id)
    if body.action == "release":
        return await _release(intersection_id, device, request, api, session, plans, user.name, body.reason)
    now = api.clock.now()
    assert body.until is not None
    if body.until <= now or body.until > now + timedelta(seconds=api.settings.control_max_s):
        raise Problem(422, f"until must be in the future and at most {api.settings.control_max_s:.0f} s ahead",
                      errors=[{"path": "body.until", "message": "in the future, within control_max_s",
                               "type": "value_error"}])
    row = await plans.control.start(session, intersection_id, device, action=body.action, pattern=body.pattern,
                                    until=body.until, backup_s=body.backup_s, user=user.name,
                                    source_addr=client_addr(request), reason=body.reason)
    return ControlSessionOut.model_validate(session_json(row))


def refuse_release_of_conflict_flash(api: ApiState, device: Device) -> None:
    """A conflict flash is latched by the conflict monitor: `release` would report success and change nothing."""
    live = api.cache.get(device.id)
    values = (live.state or {}).get("values") if live else None
    if conflict_flash(values):
        raise Problem(409, f"{device.id} is in conflict flash: release cannot end it; an engineer resets the "
                           "conflict (POST …/reset-conflict) once its cause is gone", flash_cause="conflict")


async def _release(intersection_id: str, device: Device, request: Request, api: ApiState, session: SessionDep,
                   plans: PlansDep, user: str, reason: str | None = None) -> ControlReleased:
    refuse_release_of_conflict_flash(api, device)
    row = await plans.control.release(session, intersection_id, device, user=user, source_addr=client_addr(request),
                                      reason=reason)
    return ControlReleased(released=ControlSessionOut.model_validate(session_json(row)) if row else None)


@router.delete("/{intersection_id}/control", response_model=ControlReleased, responses={404: {}, 409: {}})
async def release_control(intersection_id: ObjectId, request: Request, api: ApiDep, session: SessionDep,
                          plans: PlansDep, user: SignalCommander) -> ControlReleased:
    """Release manual control: the controller returns to its schedule now. 409 in a conflict flash."""
    _, device = await _controller(session, intersection_id)
    return await _release(intersection_id, device, request, api, session, plans, user.name)


class ResetConflictAccepted(BaseModel):
    id: str
    status: str
    device_id: str
    href: str


class ResetConflictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500, description="what was inspected or repaired")


@router.post("/{intersection_id}/reset-conflict", status_code=202, response_model=ResetConflictAccepted,
             responses={403: {}, 404: {}, 409: {}, 422: {}})
async def reset_conflict(intersection_id: ObjectId, body: ResetConflictIn, request: Request, api: ApiDep,
                         session: SessionDep,
                         user: IntersectionsWriter) -> ResetConflictAccepted:
    """Reset a latched conflict monitor (engineers: scope intersections:write), with the reason audited. The
    controller refuses while the conflict's cause persists (the command ends `failed`, error `refused`)."""
    _, device = await _controller(session, intersection_id)
    row = await api.dispatcher.issue(session, device, ResetConflict(), issued_by=user.name,
                                     source_addr=client_addr(request))
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="control.reset_conflict", target=intersection_id,
                       outcome="not_sent" if row.error == NOT_SENT else "sent",
                       detail={"command_id": row.id, "device": device.id, "reason": body.reason})
    if row.error == NOT_SENT:
        raise Problem(503, f"command {row.id} was stored but the bus is unavailable; it was not sent",
                      command_id=row.id, headers={"Retry-After": "5"})
    return ResetConflictAccepted(id=row.id, status=row.status, device_id=device.id,
                                 href=f"/api/v1/commands/{row.id}")


@router.get("/{intersection_id}/control", response_model=ControlActive, responses={404: {}})
async def get_control(intersection_id: ObjectId, session: SessionDep, plans: PlansDep,
                      _: DevicesReader) -> ControlActive:
    """The active manual-control session, or `{"active": null}`."""
    if await session.get(Intersection, intersection_id) is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    row = await plans.control.active(session, intersection_id)
    return ControlActive(active=ControlSessionOut.model_validate(session_json(row)) if row else None)
