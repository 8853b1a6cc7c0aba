"""Work orders in the config DB: create (from an alarm, for a device, or from a citizen's report), move through the
states of `controllers.work_orders` with who and when recorded per step, and attach photos.

A step is one conditional UPDATE (`WHERE state = <the state judged>`), so two phones tapping at once cannot both
move an order: the second gets 409. Resolving an order never touches its alarm: only the device's own report
clears an alarm (`api.alarm_store`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import rows_matched
from api.deps import Principal
from api.models import Alarm, Device, User, WorkOrder, WorkOrderEvent, WorkOrderPhoto
from api.photos import Photo
from api.problems import Problem
from api.security import ROLE_SCOPES, Role, Scope
from api.work_order_models import (
    EventOut,
    Label,
    PhotoOut,
    TransitionIn,
    WorkOrderCreate,
    WorkOrderDetail,
    WorkOrderOut,
)
from controllers.alarms import ALARMS, AlarmKind
from controllers.clock import to_rfc3339
from controllers.work_orders import (
    REPORT_CATEGORIES,
    STATE_LABELS,
    TRANSITIONS,
    Actor,
    IllegalTransition,
    OrderAction,
    OrderState,
    allowed_actions,
    next_state,
)

log = logging.getLogger(__name__)


def actor_of(user: Principal) -> Actor:
    return Actor.DISPATCHER if user.has(Scope.WORKORDERS_MANAGE) else Actor.CREW


def may_work(user: Principal, order: WorkOrder) -> bool:
    """A crew member works orders assigned to them, or to a crew with nobody named yet; dispatchers any."""
    if user.has(Scope.WORKORDERS_MANAGE):
        return True
    return user.has(Scope.WORKORDERS_WORK) and (order.assignee == user.name or order.assignee is None)


def caller_actions(user: Principal, order: WorkOrder) -> list[OrderAction]:
    if not may_work(user, order):
        return []
    return allowed_actions(OrderState(order.state), actor_of(user))


def order_label(order: WorkOrder) -> Label:
    kind = order.category or ""
    if order.source == "citizen" and kind in REPORT_CATEGORIES:
        vi, en = REPORT_CATEGORIES[kind]
    elif kind in AlarmKind.__members__.values():
        info = ALARMS[AlarmKind(kind)]
        vi, en = info.label_vi, info.label_en
    else:
        vi = en = order.title
    if order.circuit:
        vi, en = f"{vi} · mạch {order.circuit}", f"{en} · circuit {order.circuit}"
    return Label(vi=vi, en=en)


def order_out(order: WorkOrder, user: Principal, alarm_active: bool | None) -> WorkOrderOut:
    vi, en = STATE_LABELS[OrderState(order.state)]
    return WorkOrderOut(
        id=order.id, state=OrderState(order.state), state_label=Label(vi=vi, en=en), label=order_label(order),
        source=order.source,
        title=order.title, device_id=order.device_id, site=order.site, circuit=order.circuit,
        alarm_id=order.alarm_id, alarm_active=alarm_active, reference=order.reference, category=order.category,
        description=order.description, lat=order.lat, lon=order.lon, distance_m=order.distance_m, crew=order.crew,
        assignee=order.assignee, note=order.note, reason=order.reason, created_by=order.created_by,
        created_at=to_rfc3339(order.created_at), updated_at=to_rfc3339(order.updated_at),
        actions=caller_actions(user, order))


async def alarm_states(session: AsyncSession, orders: list[WorkOrder]) -> dict[int, bool]:
    ids = [o.alarm_id for o in orders if o.alarm_id is not None]
    if not ids:
        return {}
    rows = (await session.execute(select(Alarm.id, Alarm.active).where(Alarm.id.in_(ids)))).all()
    return {alarm_id: bool(active) for alarm_id, active in rows}


async def detail(session: AsyncSession, order: WorkOrder, user: Principal) -> WorkOrderDetail:
    active = (await alarm_states(session, [order])).get(order.alarm_id) if order.alarm_id else None
    events = (await session.execute(select(WorkOrderEvent).where(WorkOrderEvent.order_id == order.id).order_by(
        WorkOrderEvent.id))).scalars()
    photos = (await session.execute(select(
        WorkOrderPhoto.id, WorkOrderPhoto.content_type, WorkOrderPhoto.size_bytes, WorkOrderPhoto.uploaded_by,
        WorkOrderPhoto.uploaded_at).where(WorkOrderPhoto.order_id == order.id).order_by(WorkOrderPhoto.id))).all()
    base = order_out(order, user, active)
    return WorkOrderDetail(
        **base.model_dump(),
        history=[EventOut(ts=to_rfc3339(e.ts), actor=e.actor, action=e.action,
                          from_state=OrderState(e.from_state) if e.from_state else None,
                          to_state=OrderState(e.to_state), note=e.note) for e in events],
        photos=[PhotoOut(id=pid, content_type=ctype, size_bytes=size, uploaded_by=by, uploaded_at=to_rfc3339(at),
                         href=f"/api/v1/work-orders/{order.id}/photos/{pid}")
                for pid, ctype, size, by, at in photos])


async def check_assignee(session: AsyncSession, name: str) -> None:
    """422 naming `body.assignee` unless it is an active user who may work orders."""
    user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
    if user is None or not user.active or Scope.WORKORDERS_WORK not in ROLE_SCOPES.get(Role(user.role), ()):
        raise Problem(422, f"assignee {name!r} is not an active user who works orders",
                      errors=[{"path": "body.assignee", "message": "unknown user, disabled, or no crew role",
                               "type": "value_error"}])


async def create(session: AsyncSession, body: WorkOrderCreate, user: Principal, now: datetime) -> WorkOrder:
    """A new order (state open, or assigned when the body names someone); 404 for an unknown alarm, 409 when the
    alarm has an order already (the answer names it)."""
    if body.assignee:
        await check_assignee(session, body.assignee)
    alarm = None
    if body.alarm_id is not None:
        alarm = await session.get(Alarm, body.alarm_id)
        if alarm is None:
            raise Problem(404, f"no alarm {body.alarm_id}")
        if alarm.work_order_id is not None:
            raise Problem(409, f"alarm {alarm.id} already has work order {alarm.work_order_id}",
                          work_order_id=alarm.work_order_id)
    elif body.device_id is None and body.title is None:
        raise Problem(422, "a work order needs an alarm_id, a device_id or a title",
                      errors=[{"path": "body.alarm_id", "message": "give alarm_id, device_id or title",
                               "type": "missing"}])
    device_site: str | None = None
    if alarm is None and body.device_id is not None:
        device = await session.get(Device, body.device_id)
        device_site = device.site if device is not None else None  # so the live stream can tell the site's screens
    order = WorkOrder(
        state=OrderState.OPEN.value, source="alarm" if alarm else "dispatcher",
        title=body.title or (ALARMS[AlarmKind(alarm.kind)].label_vi if alarm and alarm.kind in
                             AlarmKind.__members__.values() else (alarm.kind if alarm else f"{body.device_id}")),
        device_id=alarm.device_id if alarm else body.device_id, site=alarm.site if alarm else device_site,
        circuit=(alarm.circuit or None) if alarm else body.circuit, alarm_id=alarm.id if alarm else None,
        category=alarm.kind if alarm else None, description=body.description, created_by=user.name,
        created_at=now, updated_at=now)
    session.add(order)
    try:
        await session.flush()
    except IntegrityError:  # another request made this alarm's order first
        await session.rollback()
        raise Problem(409, f"alarm {body.alarm_id} already has a work order") from None
    session.add(WorkOrderEvent(order_id=order.id, ts=now, actor=user.name, action="create", from_state=None,
                               to_state=OrderState.OPEN.value, note=body.description))
    if alarm is not None:
        alarm.work_order_id = order.id
    if body.assignee or body.crew:
        order.state, order.assignee, order.crew = OrderState.ASSIGNED.value, body.assignee, body.crew
        session.add(WorkOrderEvent(order_id=order.id, ts=now, actor=user.name, action=OrderAction.ASSIGN.value,
                                   from_state=OrderState.OPEN.value, to_state=OrderState.ASSIGNED.value,
                                   note=_assign_note(body.assignee, body.crew)))
    await session.commit()
    log.info("work_order_created id=%s device=%s alarm=%s by=%s", order.id, order.device_id, order.alarm_id,
             user.name)
    return order


def _assign_note(assignee: str | None, crew: str | None) -> str:
    return " · ".join(x for x in (crew, assignee) if x)


def _missing(field: str, action: OrderAction) -> Problem:
    return Problem(422, f"{action.value} needs a {field}",
                   errors=[{"path": f"body.{field}", "message": f"required to {action.value}", "type": "missing"}])


def illegal(exc: IllegalTransition, order_id: int) -> Problem:
    """409 in words for both languages, with what is allowed instead."""
    return Problem(409, f"work order {order_id}: {exc.message['en']}", title="Illegal transition",
                   state=exc.state.value, action=exc.action.value, allowed=[a.value for a in exc.allowed],
                   message=exc.message)


async def transition(session: AsyncSession, order: WorkOrder, body: TransitionIn, user: Principal,
                     now: datetime) -> dict[str, Any]:
    """Apply one step; returns what the audit log keeps. 403 when the caller does not work this order, 409 for an
    illegal step or one raced by another, 422 when the step misses its note, reason or assignee."""
    if not may_work(user, order):
        raise Problem(403, f"work order {order.id} is assigned to {order.assignee}, not to {user.name}")
    source = OrderState(order.state)
    if body.expected_state is not None and body.expected_state != source:
        raise Problem(409, f"work order {order.id} is {source.value} now, not {body.expected_state.value}",
                      title="Work order changed", state=source.value,
                      message={"vi": f"Lệnh công tác đã chuyển sang '{STATE_LABELS[source][0]}'",
                               "en": f"the work order is '{STATE_LABELS[source][1]}' now"})
    try:
        target = next_state(source, body.action, actor_of(user))
    except IllegalTransition as exc:
        raise illegal(exc, order.id) from None
    needs = TRANSITIONS[body.action].needs
    values: dict[str, Any] = {"state": target.value, "updated_at": now}
    note = body.note or body.reason
    if needs == "note":
        if not body.note:
            raise _missing("note", body.action)
        values["note"] = body.note
    elif needs == "reason":
        if not body.reason:
            raise _missing("reason", body.action)
        values["reason"] = body.reason
    elif needs == "assignee":
        if not body.assignee and not body.crew:
            raise _missing("assignee", body.action)
        if body.assignee:
            await check_assignee(session, body.assignee)
        values["assignee"], values["crew"] = body.assignee, body.crew
        note = _assign_note(body.assignee, body.crew)
    if body.action == OrderAction.ACCEPT and order.assignee is None:
        values["assignee"] = user.name  # a crew's order becomes the accepting member's
    if body.action == OrderAction.REOPEN:
        values["assignee"] = None
    moved = await rows_matched(session, update(WorkOrder).where(WorkOrder.id == order.id,
                                                                WorkOrder.state == source.value).values(**values))
    if moved != 1:
        order_id = order.id
        await session.rollback()  # expires `order`: say which one from the id read before
        raise Problem(409, f"work order {order_id} was changed by someone else; reload it", title="Work order changed")
    session.add(WorkOrderEvent(order_id=order.id, ts=now, actor=user.name, action=body.action.value,
                               from_state=source.value, to_state=target.value, note=note))
    await session.commit()
    await session.refresh(order)
    log.info("work_order_step id=%s action=%s from=%s to=%s by=%s", order.id, body.action.value, source.value,
             target.value, user.name)
    return {"order": order.id, "action": body.action.value, "from": source.value, "to": target.value,
            "note": note}


async def add_photo(session: AsyncSession, order: WorkOrder, photo: Photo, by: str, now: datetime) -> WorkOrderPhoto:
    row = WorkOrderPhoto(order_id=order.id, content_type=photo.content_type, size_bytes=len(photo.data),
                         sha256=photo.sha256, data=photo.data, uploaded_by=by, uploaded_at=now)
    session.add(row)
    await session.commit()
    log.info("work_order_photo order=%s photo=%s bytes=%s by=%s", order.id, row.id, row.size_bytes, by)
    return row
