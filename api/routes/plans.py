"""Timing plans: validate, versions per intersection (JSON or file import), export, diff, deploy.

Engineers write and deploy plans (scope plans:write); whoever may read devices may read plans and deployments.
A refused plan answers 422 problem+json whose `errors` are the validator's issues (`rule`, `path`, `required`,
`found`, `message{vi,en}`) and is never stored. Any JSON body (or none) yields 200/201 or a 4xx, never a 500.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from starlette.datastructures import UploadFile

from api import audit
from api.compliance import compare
from api.deploys import TERMINAL, DeployInFlight, deployment_json
from api.deps import ApiDep, DevicesReader, PlansWriter, SessionDep, client_addr
from api.json_depth import json_depth_exceeds
from api.models import Deployment, Device, Intersection
from api.plans_runtime import PlansDep
from api.plans_store import Refused, active_deployment, get_version, list_versions, save_version, version_json
from api.problems import Problem
from api.routes.intersections import ObjectId
from controllers.plans import Change, PlanV1, diff_plans, validate_plan
from controllers.plans.schedule import ScheduleError, scheduled_at

router = APIRouter(prefix="/api/v1", tags=["plans"])

MAX_COMMENT = 512
MAX_VERSION = 2**31 - 1  # fits an INTEGER column on every backend: a bigger number is a 422, not a DB error
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]
_PLAN_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": "a signalight.plan/v1 plan"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "a plan exported as .json"}}}}}}}


def _refused(report_errors: list[dict[str, Any]], warnings: list[dict[str, Any]], detail: str) -> Problem:
    return Problem(422, detail, title="Plan refused", errors=report_errors, warnings=warnings)


async def _intersection(session: SessionDep, intersection_id: str) -> Intersection:
    row = await session.get(Intersection, intersection_id)
    if row is None:
        raise Problem(404, f"no intersection {intersection_id!r}")
    return row


async def _read_plan_body(request: Request) -> Any:
    """The plan of a JSON body or of the `file` part of a multipart upload. 422 when it is not JSON."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:  # closes the spooled upload files
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise Problem(422, "multipart upload without a `file` part", errors=[
                    {"path": "body.file", "message": "attach the plan .json as the form field `file`",
                     "type": "missing"}])
            raw = await upload.read()
            where = f"file {upload.filename or ''}".strip()
    else:
        raw = await request.body()
        where = "body"
    limit = request.app.state.api.settings.max_json_depth
    if json_depth_exceeds(raw, limit):  # json.loads would recurse into a RecursionError (a 500)
        raise Problem(422, f"{where} is JSON nested deeper than {limit} levels", errors=[
            {"path": "body", "message": f"nested deeper than {limit} levels", "type": "json_too_deep"}])
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(422, f"{where} is not JSON: {exc}", errors=[
            {"path": "body", "message": f"not JSON: {exc}", "type": "json_invalid"}]) from None


class PlanAccepted(BaseModel):
    ok: bool = Field(description="always true: a refused plan is a 422")
    warnings: list[dict[str, Any]] = Field(description="rules a value exceeds without contradiction (caps, MUTCD)")


class PlanVersionOut(BaseModel):
    intersection_id: str
    version: int
    name: str
    crc32: int = Field(description="CRC-32 of the plan's transfer encoding")
    crc32_hex: str
    author: str
    comment: str | None
    created_at: str
    warnings: list[dict[str, Any]]


class PlanVersionWithPlan(PlanVersionOut):
    plan: dict[str, Any] = Field(description="the signalight.plan/v1 plan")


class PlanVersions(BaseModel):
    intersection_id: str
    active_version: int | None = Field(description="the version the controller runs; None before any deploy")
    versions: list[PlanVersionOut]


@router.post("/plans/validate", response_model=PlanAccepted,
             responses={422: {"description": "refused: problem+json with `errors`"}})
async def validate(plan: Annotated[Any, Body(description="a signalight.plan/v1 plan")],
                   _: DevicesReader) -> PlanAccepted:
    """Check a plan against every rule at once: 200 `{ok: true, warnings}` or 422 with `errors` and `warnings`."""
    report = validate_plan(plan)
    data = report.model_dump(mode="json")
    if not report.ok:
        raise _refused(data["errors"], data["warnings"], f"plan refused: {len(report.errors)} rule(s) failed")
    return PlanAccepted(ok=True, warnings=data["warnings"])


@router.post("/intersections/{intersection_id}/plans", status_code=201, openapi_extra=_PLAN_BODY,
             response_model=PlanVersionOut, responses={404: {}, 422: {"description": "refused, nothing stored"}})
async def create_version(intersection_id: ObjectId, request: Request, api: ApiDep, session: SessionDep,
                         user: PlansWriter,
                         comment: Annotated[str | None, Query(max_length=MAX_COMMENT)] = None) -> PlanVersionOut:
    """Store a new version (JSON body, or a .json file as multipart `file` to import). Only plans the validator
    accepts are stored; the plan's `intersection_id` must be this intersection."""
    await _intersection(session, intersection_id)
    data = await _read_plan_body(request)
    if isinstance(data, dict) and "intersection_id" in data and data["intersection_id"] != intersection_id:
        found = data["intersection_id"]
        raise _refused([{"rule": "intersection_id", "path": "intersection_id", "required": intersection_id,
                         "found": found if isinstance(found, str | int | float | bool) else str(found),
                         "message": {"vi": f"Kế hoạch dành cho nút {found!r}, không phải {intersection_id!r}",
                                     "en": f"the plan is for intersection {found!r}, not {intersection_id!r}"}}],
                       [], "plan is for another intersection")
    saved = await save_version(session, intersection_id, data, author=user.name, comment=comment,
                               now=api.clock.now())
    if isinstance(saved, Refused):
        report = saved.report.model_dump(mode="json")
        raise _refused(report["errors"], report["warnings"],
                       f"plan refused: {len(saved.report.errors)} rule(s) failed; nothing stored")
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="plan.create", target=intersection_id, outcome="ok",
                       detail={"version": saved.version, "crc32": f"{saved.crc32:08x}"})
    return PlanVersionOut.model_validate(version_json(saved))


@router.get("/intersections/{intersection_id}/plans", response_model=PlanVersions, responses={404: {}})
async def list_plan_versions(intersection_id: ObjectId, session: SessionDep, _: DevicesReader) -> PlanVersions:
    """Versions, newest first, and which one the controller runs (`active_version`, None before any deploy)."""
    await _intersection(session, intersection_id)
    active = await active_deployment(session, intersection_id)
    return PlanVersions(intersection_id=intersection_id, active_version=active.version if active else None,
                        versions=[PlanVersionOut.model_validate(version_json(r))
                                  for r in await list_versions(session, intersection_id)])


class PlanDiffOut(BaseModel):
    intersection_id: str
    from_: int = Field(alias="from")
    to: int
    changes: list[Change] = Field(description="every difference, each with a one-line `text`")


class ScheduledOut(BaseModel):
    action: Literal["free", "flash", "pattern", "dark"]
    pattern: int | None
    day_plan: int
    since: str = Field(description="local date and time the event began, `YYYY-MM-DD HH:MM`")


class ScheduleNowOut(BaseModel):
    intersection_id: str
    local_time: str = Field(description="the API's local time (its `timezone`), RFC 3339 with the offset")
    active_version: int | None
    expected: ScheduledOut | None = Field(description="what the deployed plan's schedule says runs now")
    reported: str | None = Field(description="what the controller reports (`pattern 3`, `free`, `flash`)")
    status: Literal["agree", "mismatch", "skipped"]
    reason: str | None = Field(description="why `skipped`")


@router.get("/intersections/{intersection_id}/plans/diff", response_model=PlanDiffOut, responses={404: {}})
async def diff_versions(intersection_id: ObjectId, session: SessionDep,
                        _: DevicesReader,
                        from_: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
                        to: Annotated[int, Query(ge=1, le=MAX_VERSION)]) -> PlanDiffOut:
    """Every difference from version `from` to version `to`, each with a one-line `text`."""
    rows = [await get_version(session, intersection_id, v) for v in (from_, to)]
    missing = [v for v, r in zip((from_, to), rows, strict=True) if r is None]
    if missing:
        raise Problem(404, f"intersection {intersection_id!r} has no plan version {missing[0]}")
    old, new = (PlanV1.model_validate(r.plan) for r in rows if r is not None)
    return PlanDiffOut(intersection_id=intersection_id, **{"from": from_}, to=to, changes=diff_plans(old, new))


@router.get("/intersections/{intersection_id}/plans/{version}", response_model=PlanVersionWithPlan,
            responses={404: {}})
async def get_plan_version(intersection_id: ObjectId, version: Version, session: SessionDep,
                           _: DevicesReader) -> PlanVersionWithPlan:
    """The plan and its metadata (author, created_at, crc32, comment, warnings)."""
    row = await get_version(session, intersection_id, version)
    if row is None:
        raise Problem(404, f"intersection {intersection_id!r} has no plan version {version}")
    return PlanVersionWithPlan.model_validate(version_json(row, with_plan=True))


@router.get("/intersections/{intersection_id}/plans/{version}/export", responses={404: {}})
async def export_plan_version(intersection_id: ObjectId, version: Version, session: SessionDep,
                              _: DevicesReader) -> JSONResponse:
    """The plan as a downloadable .json file (import it again with a multipart POST)."""
    row = await get_version(session, intersection_id, version)
    if row is None:
        raise Problem(404, f"intersection {intersection_id!r} has no plan version {version}")
    name = f"{intersection_id}-v{version}.json"
    return JSONResponse(row.plan, headers={"Content-Disposition": f'attachment; filename="{name}"'})


class DeploymentOut(BaseModel):
    """One deploy of a plan version: pending → transferring → verifying → activating → active, or failed /
    rolled_back with the controller's error and message (`api.deploys`)."""

    id: str
    intersection_id: str
    version: int
    device_id: str
    crc32: int
    command_id: str | None
    status: str
    error: str | None
    message: str | None
    requested_by: str
    created_at: str
    updated_at: str
    expires_at: str
    finished_at: str | None


@router.post("/intersections/{intersection_id}/plans/{version}/deploy", status_code=202,
             response_model=DeploymentOut,
             responses={404: {}, 409: {"description": "no controller, or a deploy still in flight"}, 422: {}})
async def deploy_version(intersection_id: ObjectId, version: Version, request: Request, session: SessionDep,
                         plans: PlansDep, user: PlansWriter) -> DeploymentOut:
    """Send the version to the intersection's controller; follow the deployment at `/api/v1/deployments/{id}`."""
    inter = await _intersection(session, intersection_id)
    row = await get_version(session, intersection_id, version)
    if row is None:
        raise Problem(404, f"intersection {intersection_id!r} has no plan version {version}")
    device = await session.get(Device, inter.controller_id) if inter.controller_id else None
    if device is None:
        raise Problem(409, f"intersection {intersection_id!r} has no known controller "
                           f"(controller_id={inter.controller_id!r})")
    running = (await session.execute(select(Deployment.id).where(
        Deployment.intersection_id == intersection_id, Deployment.status.not_in(sorted(TERMINAL))))).first()
    if running is not None:  # the controller takes one transfer at a time; a second would be refused as busy
        raise Problem(409, f"deployment {running[0]} to {intersection_id!r} is still in progress",
                      deployment_id=running[0])
    report = validate_plan(row.plan)  # the rules may have changed since it was stored: never send a refused plan
    if not report.ok:
        data = report.model_dump(mode="json")
        raise _refused(data["errors"], data["warnings"], f"version {version} is refused by the current rules")
    try:
        deployment = await plans.deploys.start(session, row, device, requested_by=user.name,
                                               source_addr=client_addr(request))
    except DeployInFlight as exc:  # a concurrent request started one since the check above
        raise Problem(409, str(exc)) from None
    return DeploymentOut.model_validate(deployment_json(deployment))


@router.get("/deployments/{deployment_id}", response_model=DeploymentOut, responses={404: {}})
async def get_deployment(deployment_id: str, session: SessionDep, _: DevicesReader) -> DeploymentOut:
    row = await session.get(Deployment, deployment_id[:64])
    if row is None:
        raise Problem(404, f"no deployment {deployment_id!r}")
    return DeploymentOut.model_validate(deployment_json(row))


@router.get("/intersections/{intersection_id}/deployments", response_model=list[DeploymentOut],
            responses={404: {}})
async def list_deployments(intersection_id: ObjectId, session: SessionDep, _: DevicesReader,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[DeploymentOut]:
    """Deployments of the intersection, newest first."""
    await _intersection(session, intersection_id)
    rows = (await session.execute(select(Deployment).where(Deployment.intersection_id == intersection_id)
                                  .order_by(Deployment.created_at.desc()).limit(limit))).scalars()
    return [DeploymentOut.model_validate(deployment_json(r)) for r in rows]



@router.get("/intersections/{intersection_id}/schedule", response_model=ScheduleNowOut, responses={404: {}})
async def schedule_now(intersection_id: ObjectId, api: ApiDep, session: SessionDep,
                       _: DevicesReader) -> ScheduleNowOut:
    """What the deployed plan's schedule says should run now (local time of the API's `timezone`), what the
    controller reports, and whether they agree (`agree` | `mismatch` | `skipped`, as the compliance check)."""
    inter = await _intersection(session, intersection_id)
    local = api.clock.now().astimezone(api.settings.tz)
    deployed = await active_deployment(session, intersection_id)
    row = await get_version(session, intersection_id, deployed.version) if deployed else None
    out = ScheduleNowOut(intersection_id=intersection_id, local_time=local.isoformat(timespec="seconds"),
                         active_version=deployed.version if deployed else None, expected=None, reported=None,
                         status="skipped", reason="no plan deployed")
    if row is None:
        return out
    try:
        expected = scheduled_at(PlanV1.model_validate(row.plan), local)
    except ScheduleError as exc:
        return out.model_copy(update={"reason": str(exc)})
    out.expected = ScheduledOut(action=expected.action, pattern=expected.pattern, day_plan=expected.day_plan,
                                since=f"{expected.date.isoformat()} {expected.at}")
    live = api.cache.get(inter.controller_id) if inter.controller_id else None
    values = (live.state or {}).get("values") if live else None
    if not values:
        return out.model_copy(update={"reason": "controller state unknown"})
    status, reported = compare(expected, values)
    out.status = "agree" if status == "agree" else "mismatch" if status == "mismatch" else "skipped"
    out.reported, out.reason = (None, reported) if status == "skipped" else (reported, None)
    return out
