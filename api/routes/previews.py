"""Plan previews on the twin: run a candidate plan version against the running one on the same seeded demand.

- `POST /api/v1/intersections/{id}/plans/{version}/preview` (engineers: plans:write; audited): 202 with the job;
  404 unknown intersection or version; 422 no geometry, a plan today's rules refuse, bad body; 501 when the twin is
  not installed (the message says how to enable it); 503 + Retry-After when the preview queue is full.
- `POST /api/v1/intersections/{id}/plans/draft/preview`: the same for a plan not saved yet (the editor's draft, in
  the body's `plan`), judged by the validator a save uses: a refused draft is a 422 with the validator's `errors`
  (rule, path) and no job. Compared with the deployed version, else the newest saved one.
- `POST /api/v1/corridors/preview`: several adjacent intersections with their links, run together (an offset is
  judged on the platoon it is meant to catch); 422 names every intersection without geometry and every bad link.
- `GET /api/v1/previews/{job_id}`: state queued | running | done | failed | cancelled, progress 0..1, the result.
- `GET /api/v1/intersections/{id}/previews`: its recent jobs, newest first (a reload finds the one it ran).
The stream carries `preview` events (id, state, progress) as a job moves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from api import audit
from api.deps import ApiDep, DevicesReader, PlansWriter, SessionDep, client_addr
from api.models import PreviewJob
from api.problems import Problem, field_errors
from api.routes.intersections import ObjectId
from api.routes.plans import MAX_VERSION, Version
from api.twin_jobs import RETRY_AFTER_S, PreviewJobs, PreviewQueueFull, job_json
from api.twin_previews import RUNNING, baseline_of, candidate_plan, draft_plan, geometry_of, twin_intersection
from controllers.devices import ID_PATTERN
from controllers.twin.model import CorridorLink, IntersectionGeometry, PreviewRequest, PreviewResult, TwinIntersection

router = APIRouter(prefix="/api/v1", tags=["twin"])

Seed = Annotated[int, Field(ge=0, le=2**31 - 1)]


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    start: datetime | None = Field(default=None, description="local time the preview starts (a time without an "
                                   "offset is the API's timezone); floored to 15 minutes. Default: now")
    duration_s: int = Field(default=3600, ge=300, le=4 * 3600, description="simulated time measured")
    warmup_s: int = Field(default=300, ge=0, le=1800, description="simulated time run before measuring")
    seeds: list[Seed] = Field(default=[1, 2, 3], min_length=1, max_length=10)


class DraftPreviewIn(PreviewIn):
    plan: dict[str, Any] = Field(description="the plan document (signalight.plan/v1) as the editor holds it")


class CorridorMember(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intersection_id: str = Field(pattern=ID_PATTERN)
    version: int = Field(ge=1, le=2**31 - 1)


class CorridorIn(PreviewIn):
    intersections: list[CorridorMember] = Field(min_length=2, max_length=12)
    links: list[CorridorLink] = Field(min_length=1, max_length=24)


class PreviewJobOut(BaseModel):
    id: str
    kind: str
    intersection_id: str | None
    version: int | None
    baseline: str | None = Field(description="what the candidate is compared with: deployed | previous | none | "
                                 "refused (see api.twin_previews)")
    baseline_version: int | None
    state: str = Field(description="queued | running | done | failed | cancelled")
    progress: float
    demand_sources: dict[str, Any] = Field(description="per intersection: measured | partial | default")
    result: PreviewResult | None
    error: str | None = Field(description="twin_unavailable | twin_error | worker_error | worker_died | timeout | "
                              "interrupted | shutdown")
    message: str | None
    requested_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    request: dict[str, Any]


async def get_jobs(request: Request) -> PreviewJobs:
    jobs: PreviewJobs = request.app.state.previews
    return jobs


JobsDep = Annotated[PreviewJobs, Depends(get_jobs)]


def _start_local(api: ApiDep, start: datetime | None) -> datetime:
    tz = api.settings.tz
    local = api.clock.now().astimezone(tz) if start is None else (
        start.replace(tzinfo=tz) if start.tzinfo is None else start.astimezone(tz))
    return local.replace(second=0, microsecond=0) - timedelta(minutes=local.minute % 15)


def _check_available(jobs: PreviewJobs) -> None:
    reason = jobs.unavailable()
    if reason is not None:
        raise Problem(501, reason, title="Twin not installed")


def _request(body: PreviewIn, members: list[TwinIntersection], start: datetime,
             links: list[CorridorLink] | None = None) -> PreviewRequest:
    try:
        return PreviewRequest(intersections=members, links=links or [], start_local=start.strftime("%H:%M"),
                              duration_s=body.duration_s, warmup_s=body.warmup_s, seeds=body.seeds)
    except ValidationError as exc:
        errors = field_errors(exc.errors(), ("body",))
        raise Problem(422, f"the preview cannot be built: {errors[0]['message'] if errors else exc}",
                      errors=errors) from None


async def _submit(jobs: PreviewJobs, session: SessionDep, request: PreviewRequest, **meta: Any) -> PreviewJob:
    try:
        return await jobs.submit(session, request, **meta)
    except PreviewQueueFull as exc:
        raise Problem(503, f"the preview queue is full ({exc}); try again later",
                      headers={"Retry-After": str(RETRY_AFTER_S)}) from None


@router.post("/intersections/{intersection_id}/plans/draft/preview", status_code=202,
             response_model=PreviewJobOut, responses={404: {}, 422: {}, 501: {}, 503: {}})
async def preview_draft(intersection_id: ObjectId, body: DraftPreviewIn, request: Request, api: ApiDep,
                        session: SessionDep, jobs: JobsDep, user: PlansWriter) -> dict[str, Any]:
    """Queue a preview of an unsaved plan (`plan`) against the running one; nothing is stored but the job.
    Registered before `/plans/{version}/preview`, whose integer `version` would otherwise refuse "draft"."""
    geometry = (await geometry_of(session, [intersection_id]))[intersection_id]
    candidate = draft_plan(intersection_id, body.plan)
    return await _queue_intersection(intersection_id, geometry, candidate, None, body, request, api, session, jobs,
                                     user)


@router.post("/intersections/{intersection_id}/plans/{version}/preview", status_code=202,
             response_model=PreviewJobOut, responses={404: {}, 422: {}, 501: {}, 503: {}})
async def preview_version(intersection_id: ObjectId, version: Version, request: Request, api: ApiDep,
                          session: SessionDep, jobs: JobsDep, user: PlansWriter,
                          body: PreviewIn | None = None) -> dict[str, Any]:
    """Queue a preview of `version` against the running plan; follow it at `/api/v1/previews/{id}`."""
    body = body or PreviewIn()
    geometry = (await geometry_of(session, [intersection_id]))[intersection_id]
    candidate = await candidate_plan(session, intersection_id, version, "path.version")
    return await _queue_intersection(intersection_id, geometry, candidate, version, body, request, api, session,
                                     jobs, user)


async def _queue_intersection(intersection_id: str, geometry: IntersectionGeometry, candidate: dict[str, Any],
                              version: int | None, body: PreviewIn, request: Request, api: ApiDep,
                              session: SessionDep, jobs: JobsDep, user: PlansWriter) -> dict[str, Any]:
    """Queue a one-intersection preview of `candidate` (saved `version`, or None for a draft) against the running
    plan, and audit it."""
    _check_available(jobs)
    baseline = await baseline_of(session, intersection_id, MAX_VERSION + 1 if version is None else version)
    start = _start_local(api, body.start)
    member = await twin_intersection(session, intersection_id, geometry, candidate, baseline.plan, start,
                                     body.duration_s, api.settings.twin_demand_weeks)
    row = await _submit(jobs, session, _request(body, [member], start), kind="intersection",
                        requested_by=user.name, intersection_id=intersection_id, version=version,
                        baseline=baseline.kind, baseline_version=baseline.version,
                        demand_sources={intersection_id: member.demand.source})
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="plan.preview", target=intersection_id, outcome="queued",
                       detail={"job": row.id, "version": version, **({"draft": True} if version is None else {}),
                               "baseline": baseline.kind, "baseline_version": baseline.version,
                               "seeds": body.seeds, "duration_s": body.duration_s,
                               "start": start.isoformat(timespec="minutes")})
    return job_json(row)


@router.post("/corridors/preview", status_code=202, response_model=PreviewJobOut,
             responses={404: {}, 422: {}, 501: {}, 503: {}})
async def preview_corridor(body: CorridorIn, request: Request, api: ApiDep, session: SessionDep, jobs: JobsDep,
                           user: PlansWriter) -> dict[str, Any]:
    """Queue a corridor preview: each member's `version` against its running plan (a member with nothing to
    compare with runs its candidate in both variants), joined by `links`."""
    ids = [m.intersection_id for m in body.intersections]
    if len(set(ids)) != len(ids):
        raise Problem(422, "an intersection is listed twice", errors=[
            {"path": "body.intersections", "message": "intersections must be distinct", "type": "value_error"}])
    geometries = await geometry_of(session, ids)
    bad = [{"path": f"body.links.{i}", "type": "value_error",
            "message": f"link {i}: {problem}"} for i, link in enumerate(body.links) for problem in (
        [f"{end_id} is not one of the corridor's intersections" for end_id in (link.from_id, link.to_id)
         if end_id not in geometries]
        + [f"{end_id} has no leg {leg}" for end_id, leg in ((link.from_id, link.from_leg), (link.to_id, link.to_leg))
           if end_id in geometries and leg not in {a.leg for a in geometries[end_id].approaches}])]
    if bad:
        raise Problem(422, f"bad corridor links: {bad[0]['message']}", errors=bad)
    _check_available(jobs)
    start = _start_local(api, body.start)
    members, baselines = [], {}
    for i, m in enumerate(body.intersections):
        candidate = await candidate_plan(session, m.intersection_id, m.version, f"body.intersections.{i}.version")
        baseline = await baseline_of(session, m.intersection_id, m.version)
        baselines[m.intersection_id] = {"baseline": baseline.kind, "version": baseline.version}
        members.append(await twin_intersection(session, m.intersection_id, geometries[m.intersection_id], candidate,
                                               baseline.plan if baseline.plan is not None else candidate, start,
                                               body.duration_s, api.settings.twin_demand_weeks))
    row = await _submit(jobs, session, _request(body, members, start, body.links), kind="corridor",
                        requested_by=user.name, intersection_id=None, version=None, baseline=RUNNING,
                        baseline_version=None, demand_sources={m.intersection_id: m.demand.source for m in members})
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="corridor.preview", target=",".join(ids)[:128], outcome="queued",
                       detail={"job": row.id, "members": {m.intersection_id: m.version for m in body.intersections},
                               "baselines": baselines, "seeds": body.seeds, "duration_s": body.duration_s})
    return job_json(row)


@router.get("/previews/{job_id}", response_model=PreviewJobOut, responses={404: {}})
async def get_preview(job_id: str, session: SessionDep, _: DevicesReader) -> dict[str, Any]:
    row = await session.get(PreviewJob, job_id[:64])
    if row is None:
        raise Problem(404, f"no preview {job_id!r}")
    return job_json(row)


@router.get("/intersections/{intersection_id}/previews", response_model=list[PreviewJobOut])
async def list_previews(intersection_id: ObjectId, session: SessionDep, _: DevicesReader,
                        version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
                        limit: Annotated[int, Query(ge=1, le=50)] = 10) -> list[dict[str, Any]]:
    query = select(PreviewJob).where(PreviewJob.intersection_id == intersection_id)
    if version is not None:
        query = query.where(PreviewJob.version == version)
    rows = (await session.execute(query.order_by(PreviewJob.created_at.desc()).limit(limit))).scalars()
    return [job_json(r) for r in rows]
