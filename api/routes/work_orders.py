"""`/api/v1/work-orders`: the lighting crews' jobs, from alarms and citizens' reports to resolved.

Dispatchers (operator, engineer, admin: `workorders:manage`) create, assign, review, cancel and reopen; crews
(`workorders:work`) accept, travel, arrive, resolve (with a note and optional photos) or say it cannot be fixed (with
a reason) on the orders assigned to them. Every step is kept in the order's history and in the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import or_, select

from api import audit
from api import work_orders as store
from api.alarm_store import alarm_json
from api.deps import AlarmsReader, ApiDep, SessionDep, WorkOrderManager, WorkOrderWorker, client_addr
from api.models import Alarm, WorkOrder, WorkOrderPhoto
from api.photos import check_photo
from api.problems import Problem
from api.work_order_models import PhotoOut, TransitionIn, WorkOrderCreate, WorkOrderDetail, WorkOrderOut
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN
from controllers.work_orders import CLOSED, OrderState

router = APIRouter(prefix="/api/v1/work-orders", tags=["work orders"])

OrderId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PHOTO_BODY = {"requestBody": {"required": True, "content": {
    ct: {"schema": {"type": "string", "format": "binary"}} for ct in ("image/jpeg", "image/png", "image/webp")}}}


async def _order(session: SessionDep, order_id: int) -> WorkOrder:
    order = await session.get(WorkOrder, order_id)
    if order is None:
        raise Problem(404, f"no work order {order_id}")
    return order


@router.get("", response_model=list[WorkOrderOut])
async def list_orders(session: SessionDep, user: AlarmsReader,
                      state: Annotated[list[OrderState] | None, Query()] = None,
                      open_only: Annotated[bool, Query(alias="open")] = False,
                      assignee: Annotated[str | None, Query(max_length=64)] = None,
                      crew: Annotated[str | None, Query(max_length=64)] = None,
                      device: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                      alarm: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                      mine: bool = False,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[WorkOrderOut]:
    """Work orders, newest first: by state (repeatable), `open=true` for everything not closed, by assignee or
    crew, by cabinet (`device`: its history), by alarm; `mine=true` for the caller's own and their crews'."""
    query = select(WorkOrder)
    if state:
        query = query.where(WorkOrder.state.in_([s.value for s in state]))
    if open_only:
        query = query.where(WorkOrder.state.not_in([s.value for s in CLOSED]))
    if assignee:
        query = query.where(WorkOrder.assignee == assignee)
    if crew:
        query = query.where(WorkOrder.crew == crew)
    if device:
        query = query.where(WorkOrder.device_id == device)
    if alarm:
        query = query.where(WorkOrder.alarm_id == alarm)
    if mine:
        query = query.where(or_(WorkOrder.assignee == user.name,
                                (WorkOrder.assignee.is_(None)) & WorkOrder.crew.is_not(None)))
    rows = list((await session.execute(query.order_by(WorkOrder.id.desc()).limit(limit).offset(offset))).scalars())
    alarms = await store.alarm_states(session, rows)
    return [store.order_out(o, user, alarms.get(o.alarm_id) if o.alarm_id else None) for o in rows]


@router.post("", response_model=WorkOrderDetail, status_code=201, responses={404: {}, 409: {}, 422: {}})
async def create_order(body: WorkOrderCreate, request: Request, api: ApiDep, session: SessionDep,
                       user: WorkOrderManager) -> WorkOrderDetail:
    """A work order from an alarm (`alarm_id`; the alarm then names it, 409 if it has one), or for a device or
    with a title. Naming `assignee` or `crew` assigns it at once."""
    now = api.clock.now()
    order = await store.create(session, body, user, now)
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request),
                       action="work_order.create", target=f"work_order:{order.id}", outcome="ok",
                       detail={"alarm_id": order.alarm_id, "device_id": order.device_id, "assignee": order.assignee})
    if order.alarm_id is not None:
        alarm = await session.get(Alarm, order.alarm_id)
        if alarm is not None:  # every alarm list shows the link at once
            api.hub.publish("alarm", alarm.site, alarm.device_id, alarm_json(alarm))
    return await _publish(api, session, order, user)


@router.get("/{order_id}", response_model=WorkOrderDetail, responses={404: {}})
async def get_order(order_id: OrderId, session: SessionDep, user: AlarmsReader) -> WorkOrderDetail:
    """One order with its history (who, when, from which state to which) and its photos."""
    return await store.detail(session, await _order(session, order_id), user)


@router.post("/{order_id}/transitions", response_model=WorkOrderDetail,
             responses={403: {}, 404: {}, 409: {"description": "illegal step, with `message` {vi, en} and `allowed`"},
                        422: {}})
async def step(order_id: OrderId, body: TransitionIn, request: Request, api: ApiDep, session: SessionDep,
               user: WorkOrderWorker) -> WorkOrderDetail:
    """Move the order one step (`controllers.work_orders`): 409 names the state, the refused action and the
    allowed ones, in Vietnamese and English."""
    order = await _order(session, order_id)
    now = api.clock.now()
    addr = client_addr(request)
    try:
        result = await store.transition(session, order, body, user, now)
    except Problem as exc:
        if exc.status in (403, 409):
            await audit.record(session, now=now, actor=user.name, source_addr=addr,
                               action=f"work_order.{body.action.value}", target=f"work_order:{order_id}",
                               outcome="refused", detail={"status": exc.status, "reason": exc.detail})
        raise
    await audit.record(session, now=now, actor=user.name, source_addr=addr, action=f"work_order.{body.action.value}",
                       target=f"work_order:{order_id}", outcome="ok", detail=result)
    return await _publish(api, session, order, user)


@router.post("/{order_id}/photos", response_model=PhotoOut, status_code=201, openapi_extra=PHOTO_BODY,
             responses={403: {}, 404: {}, 409: {}, 413: {}, 415: {}})
async def upload_photo(order_id: OrderId, request: Request, api: ApiDep, session: SessionDep,
                       user: WorkOrderWorker) -> PhotoOut:
    """Attach a photo (the raw image as the body: JPEG, PNG or WebP by its content, at most `photo_max_bytes`).
    Refused photos store nothing. Closed orders take no photos (409)."""
    order = await _order(session, order_id)
    if not store.may_work(user, order):
        raise Problem(403, f"work order {order.id} is assigned to {order.assignee}, not to {user.name}")
    if OrderState(order.state) in CLOSED:
        raise Problem(409, f"work order {order.id} is {order.state}: reopen it to add photos")
    photo = check_photo(await request.body(), api.settings.photo_max_bytes)
    now = api.clock.now()
    row = await store.add_photo(session, order, photo, user.name, now)
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request), action="work_order.photo",
                       target=f"work_order:{order.id}", outcome="ok",
                       detail={"photo": row.id, "bytes": row.size_bytes, "type": row.content_type})
    return PhotoOut(id=row.id, content_type=row.content_type, size_bytes=row.size_bytes, uploaded_by=row.uploaded_by,
                    uploaded_at=to_rfc3339(row.uploaded_at), href=f"/api/v1/work-orders/{order.id}/photos/{row.id}")


@router.get("/{order_id}/photos/{photo_id}", response_class=Response, responses={
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}, 404: {}})
async def get_photo(order_id: OrderId, photo_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep,
                    _: AlarmsReader) -> Response:
    """The photo's bytes, with the type judged at upload."""
    row = (await session.execute(select(WorkOrderPhoto).where(
        WorkOrderPhoto.id == photo_id, WorkOrderPhoto.order_id == order_id))).scalar_one_or_none()
    if row is None:
        raise Problem(404, f"no photo {photo_id} on work order {order_id}")
    return Response(row.data, media_type=row.content_type,
                    headers={"Cache-Control": "private, max-age=3600", "Content-Disposition": "inline"})


async def _publish(api: ApiDep, session: SessionDep, order: WorkOrder, user: WorkOrderWorker) -> WorkOrderDetail:
    out = await store.detail(session, order, user)
    if order.device_id and order.site:
        # the stream tells every screen; `actions` are the caller's, so listeners re-read the order for theirs
        api.hub.publish("work_order", order.site, order.device_id,
                        {"id": order.id, "state": order.state, "alarm_id": order.alarm_id,
                         "assignee": order.assignee, "updated_at": to_rfc3339(order.updated_at)})
    return out
