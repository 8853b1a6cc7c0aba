"""`/api/v1/sites` and `/api/v1/intersections`: where things are and which controller runs each intersection.

Engineers create and edit them (scope intersections:write); everyone who may read devices may read them. The plan
timing-plan routes hang under `/api/v1/intersections/{id}/plans` in their own router.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import audit
from api.config import ApiSettings
from api.deps import ApiDep, DevicesReader, IntersectionsWriter, SessionDep, client_addr
from api.models import Intersection, Site
from api.problems import Problem
from api.state import ApiState
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN

router = APIRouter(prefix="/api/v1", tags=["intersections"])

ObjectId = Annotated[str, Path(pattern=ID_PATTERN)]


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    timezone: str = "Asia/Ho_Chi_Minh"
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class SiteOut(SiteIn):
    created_at: str


class Approach(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, examples=["Bắc (Hoàng Văn Thụ)"])
    bearing_deg: float = Field(ge=0, lt=360, description="direction of travel towards the stop line")
    speed_kph: float = Field(default=50, gt=0, le=130)
    lanes: int = Field(default=1, ge=1, le=12)
    grade_pct: float = Field(default=0, ge=-15, le=15)
    phases: list[int] = Field(default_factory=list, max_length=4, description="NEMA phases serving it")


class IntersectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN)
    site: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    controller_id: str | None = Field(default=None, pattern=ID_PATTERN)
    approaches: list[Approach] = Field(default_factory=list, max_length=8)


class IntersectionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=128)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    controller_id: str | None = Field(default=None, pattern=ID_PATTERN)
    approaches: list[Approach] | None = Field(default=None, max_length=8)

    @field_validator("name", "approaches", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class IntersectionOut(IntersectionIn):
    created_at: str
    updated_at: str
    controller: dict[str, Any] | None = Field(default=None, description="live status and state of the controller")


def _site_out(row: Site) -> SiteOut:
    return SiteOut(id=row.id, name=row.name, timezone=row.timezone, lat=row.lat, lon=row.lon,
                   created_at=to_rfc3339(row.created_at))


def _out(row: Intersection, api: ApiState) -> IntersectionOut:
    live = api.cache.get(row.controller_id) if row.controller_id else None
    return IntersectionOut.model_validate({
        "id": row.id, "site": row.site, "name": row.name, "lat": row.lat, "lon": row.lon,
        "controller_id": row.controller_id, "approaches": row.approaches,
        "created_at": to_rfc3339(row.created_at), "updated_at": to_rfc3339(row.updated_at),
        "controller": {"status": live.status, "state": live.state} if live else None})


@router.get("/sites", response_model=list[SiteOut], tags=["sites"])
async def list_sites(session: SessionDep, _: DevicesReader) -> list[SiteOut]:
    return [_site_out(r) for r in (await session.execute(select(Site).order_by(Site.id))).scalars()]


@router.post("/sites", response_model=SiteOut, status_code=201, tags=["sites"], responses={409: {}})
async def create_site(body: SiteIn, request: Request, api: ApiDep, session: SessionDep,
                      user: IntersectionsWriter) -> SiteOut:
    try:
        ApiSettings(timezone=body.timezone)
    except ValueError:
        raise Problem(422, f"unknown time zone {body.timezone!r}", errors=[
            {"path": "body.timezone", "message": "an IANA time zone, e.g. Asia/Ho_Chi_Minh", "type": "value_error"}
        ]) from None
    if await session.get(Site, body.id) is not None:
        raise Problem(409, f"site {body.id!r} exists")
    row = Site(**body.model_dump(), created_at=api.clock.now())
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # created by a concurrent request since the check: the first one stays
        await session.rollback()
        raise Problem(409, f"site {body.id!r} exists") from None
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="site.create", target=body.id, outcome="ok")
    return _site_out(row)


@router.get("/intersections", response_model=list[IntersectionOut])
async def list_intersections(api: ApiDep, session: SessionDep, _: DevicesReader,
                             site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None) -> list[IntersectionOut]:
    query = select(Intersection).order_by(Intersection.site, Intersection.id)
    if site:
        query = query.where(Intersection.site == site)
    return [_out(r, api) for r in (await session.execute(query)).scalars()]


@router.get("/intersections/{intersection_id}", response_model=IntersectionOut, responses={404: {}})
async def get_intersection(intersection_id: ObjectId, api: ApiDep, session: SessionDep,
                           _: DevicesReader) -> IntersectionOut:
    row = await session.get(Intersection, intersection_id)
    if row is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    return _out(row, api)


@router.post("/intersections", response_model=IntersectionOut, status_code=201, responses={409: {}})
async def create_intersection(body: IntersectionIn, request: Request, api: ApiDep, session: SessionDep,
                              user: IntersectionsWriter) -> IntersectionOut:
    if await session.get(Intersection, body.id) is not None:
        raise Problem(409, f"intersection {body.id!r} exists")
    now = api.clock.now()
    row = Intersection(**body.model_dump(mode="json"), created_at=now, updated_at=now)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # created by a concurrent request since the check: the first one stays
        await session.rollback()
        raise Problem(409, f"intersection {body.id!r} exists") from None
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request),
                       action="intersection.create", target=body.id, outcome="ok")
    return _out(row, api)


@router.patch("/intersections/{intersection_id}", response_model=IntersectionOut, responses={404: {}})
async def update_intersection(intersection_id: ObjectId, body: IntersectionPatch, request: Request, api: ApiDep,
                              session: SessionDep,
                              user: IntersectionsWriter) -> IntersectionOut:
    row = await session.get(Intersection, intersection_id)
    if row is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    changes = body.model_dump(mode="json", exclude_unset=True)
    for key, value in changes.items():
        setattr(row, key, value)
    row.updated_at = api.clock.now()
    await session.commit()
    await audit.record(session, now=row.updated_at, actor=user.name, source_addr=client_addr(request),
                       action="intersection.update", target=intersection_id, outcome="ok",
                       detail={"fields": sorted(changes)})
    return _out(row, api)
