"""Citizens' reports: the public page `/report` and its unauthenticated endpoints under `/api/v1/public/reports`.

No account, no token: anyone may report a dark street or a broken lamp. So the endpoints are narrow: a bounded
JSON body (`api.work_order_models.ReportIn`: finite coordinates, a category from a list, at most 500 characters),
one optional photo, rate limits per address and per ~500 m cell (429 with Retry-After), and the result is only a
work order in `review` — nothing a citizen sends can command a device. The lookup by reference shows the status,
never who reported or who works it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from api import audit
from api.citizen_reports import REFERENCE_PATTERN, area_cell, check_rate, nearest_cabinet, new_reference, reporter_key
from api.db import rows_matched
from api.deps import ApiDep, SessionDep, client_addr
from api.limits import SlidingWindow
from api.models import WorkOrder, WorkOrderEvent, WorkOrderPhoto
from api.photos import check_photo
from api.problems import Problem
from api.work_order_models import Label, ReportCreated, ReportIn, ReportStatus
from controllers.clock import to_rfc3339
from controllers.work_orders import PUBLIC_STATUS, PUBLIC_STATUS_LABELS, REPORT_CATEGORIES, OrderState

log = logging.getLogger(__name__)

router = APIRouter(tags=["citizen reports"])
STATIC = FilePath(__file__).resolve().parent.parent / "static"
PHOTO_WINDOW_S = 1800.0  # a citizen may add their one photo within 30 minutes of reporting
LOOKUPS_PER_MIN = 30  # per address: references are not for guessing

Reference = Annotated[str, Path(pattern=REFERENCE_PATTERN, description="as given to the citizen, e.g. PA-7K3Q9XM2")]


def _lookups(request: Request) -> SlidingWindow:
    limiter: SlidingWindow | None = getattr(request.app.state, "report_lookups", None)
    if limiter is None:
        limiter = request.app.state.report_lookups = SlidingWindow(LOOKUPS_PER_MIN, 60.0)
    return limiter


def _status(order: WorkOrder) -> tuple[str, Label]:
    status = PUBLIC_STATUS[OrderState(order.state)]
    vi, en = PUBLIC_STATUS_LABELS[status]
    return status, Label(vi=vi, en=en)


@router.get("/report", include_in_schema=False)
async def report_page() -> FileResponse:
    """The public reporting page (Vietnamese by default, English available), under the page CSP."""
    return FileResponse(STATIC / "report.html", media_type="text/html; charset=utf-8")


@router.post("/api/v1/public/reports", response_model=ReportCreated, status_code=201,
             responses={422: {}, 429: {"description": "too many reports from this address or area; Retry-After"}})
async def create_report(body: ReportIn, request: Request, api: ApiDep, session: SessionDep) -> ReportCreated:
    """Report a street-lighting problem. Matched to the nearest cabinet within `report_match_radius_m`; becomes a
    work order in review. Answers the reference to look it up, and where to PUT one photo."""
    now = api.clock.now()
    addr = client_addr(request)
    key, cell = reporter_key(api.settings.secret_key, addr), area_cell(body.lat, body.lon)
    await check_rate(session, api.settings, key, cell, now)
    match = await nearest_cabinet(session, body.lat, body.lon, api.settings.report_match_radius_m)
    vi, en = REPORT_CATEGORIES[body.category]
    text = " ".join(body.text.split())  # one line: no layout games in the dispatcher's list
    for _ in range(5):
        order = WorkOrder(
            state=OrderState.REVIEW.value, source="citizen", title=f"{vi} / {en}", reference=new_reference(),
            category=body.category, description=text or None, lat=body.lat, lon=body.lon,
            device_id=match.device_id if match else None, site=match.site if match else None,
            distance_m=round(match.distance_m, 1) if match else None, created_by="citizen", created_at=now,
            updated_at=now, reporter_key=key, area_cell=cell, photo_until=now + timedelta(seconds=PHOTO_WINDOW_S))
        session.add(order)
        try:
            await session.flush()
            break
        except IntegrityError:  # a reference drawn twice (about one in 10^12): draw again
            await session.rollback()
    else:
        raise Problem(503, "could not allocate a reference; try again")
    session.add(WorkOrderEvent(order_id=order.id, ts=now, actor="citizen", action="report", from_state=None,
                               to_state=OrderState.REVIEW.value, note=text or None))
    await session.commit()
    assert order.reference is not None
    await audit.record(session, now=now, actor="citizen", source_addr=addr, action="report.create",
                       target=f"work_order:{order.id}", outcome="ok",
                       detail={"reference": order.reference, "category": body.category,
                               "device_id": order.device_id, "distance_m": order.distance_m})
    log.info("citizen_report reference=%s device=%s distance_m=%s", order.reference, order.device_id,
             order.distance_m)
    status, label = _status(order)
    return ReportCreated(reference=order.reference, status=status, status_label=label,
                         photo_href=f"/api/v1/public/reports/{order.reference}/photo",
                         photo_until=to_rfc3339(order.photo_until or now))


async def _by_reference(request: Request, api: ApiDep, session: SessionDep, reference: str) -> WorkOrder:
    addr = client_addr(request) or "unknown"
    wait = _lookups(request).hit(addr, api.clock.monotonic())
    if wait is not None:
        raise Problem(429, f"too many lookups; try again in {int(wait) + 1} s", headers={"Retry-After":
                                                                                      str(int(wait) + 1)})
    order = (await session.execute(select(WorkOrder).where(
        WorkOrder.reference == reference.upper()))).scalar_one_or_none()
    if order is None:
        raise Problem(404, f"no report {reference.upper()}",
                      message={"vi": "Không tìm thấy mã báo cáo này", "en": "No report with this reference"})
    return order


@router.get("/api/v1/public/reports/{reference}", response_model=ReportStatus, responses={404: {}, 429: {}})
async def lookup_report(reference: Reference, request: Request, api: ApiDep, session: SessionDep) -> ReportStatus:
    """The status of a report by its reference: nothing else (no names, no notes, no photos)."""
    order = await _by_reference(request, api, session, reference)
    status, label = _status(order)
    return ReportStatus(reference=order.reference or reference, status=status, status_label=label,
                        category=order.category,
                        created_at=to_rfc3339(order.created_at), updated_at=to_rfc3339(order.updated_at))


@router.put("/api/v1/public/reports/{reference}/photo", response_model=ReportStatus, openapi_extra={
    "requestBody": {"required": True, "content": {ct: {"schema": {"type": "string", "format": "binary"}}
                                                  for ct in ("image/jpeg", "image/png", "image/webp")}}},
    responses={404: {}, 409: {}, 413: {}, 415: {}, 429: {}})
async def report_photo(reference: Reference, request: Request, api: ApiDep, session: SessionDep) -> ReportStatus:
    """The report's one photo (JPEG, PNG or WebP, at most `photo_max_bytes`), within 30 minutes of reporting."""
    order = await _by_reference(request, api, session, reference)
    now = api.clock.now()
    photo = check_photo(await request.body(), api.settings.photo_max_bytes)
    # one photo: closing the window and taking the photo is one conditional UPDATE, so two uploads cannot both win
    taken = await rows_matched(session, update(WorkOrder).where(WorkOrder.id == order.id,
                                                                WorkOrder.photo_until > now).values(photo_until=now))
    if taken != 1:
        await session.rollback()
        raise Problem(409, "this report has its photo already, or the 30 minutes to add one are over")
    session.add(WorkOrderPhoto(order_id=order.id, content_type=photo.content_type, size_bytes=len(photo.data),
                               sha256=photo.sha256, data=photo.data, uploaded_by="citizen", uploaded_at=now))
    await session.commit()
    await audit.record(session, now=now, actor="citizen", source_addr=client_addr(request), action="report.photo",
                       target=f"work_order:{order.id}", outcome="ok", detail={"bytes": len(photo.data)})
    status, label = _status(order)
    return ReportStatus(reference=order.reference or reference, status=status, status_label=label,
                        category=order.category,
                        created_at=to_rfc3339(order.created_at), updated_at=to_rfc3339(order.updated_at))
