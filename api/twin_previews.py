"""Assemble a preview's `PreviewRequest` from the registry: each intersection's geometry, measured demand, the
candidate plan version and what it is compared with, and the pattern each plan's schedule runs at the start.

What the candidate is compared with (`baseline`): the version the last active deployment put on the street
(`deployed`); when nothing was ever deployed, the newest version older than the candidate (`previous`); when there
is none, the candidate runs alone (`none`). A baseline the current rules refuse is not run (`refused`): a plan the
validator refuses is never previewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Intersection, PlanVersion
from api.plans_store import active_deployment, get_version
from api.problems import Problem
from api.twin_demand import measured_demand
from controllers.plans import PlanV1, validate_plan
from controllers.plans.schedule import ScheduleError, scheduled_at
from controllers.twin.model import IntersectionGeometry, TwinIntersection

CANDIDATE, RUNNING = "candidate", "running"


@dataclass(frozen=True, slots=True)
class Baseline:
    kind: str  # deployed | previous | none | refused
    version: int | None
    plan: dict[str, Any] | None


def _refused(path: str, detail: str, errors: list[dict[str, Any]] | None = None) -> Problem:
    return Problem(422, detail, title="Plan refused",
                   errors=errors or [{"path": path, "message": detail, "type": "plan_refused"}])


async def candidate_plan(session: AsyncSession, intersection_id: str, version: int, path: str) -> dict[str, Any]:
    """The stored version's plan; 404 when missing, 422 with the validator's errors when today's rules refuse it."""
    row = await get_version(session, intersection_id, version)
    if row is None:
        raise Problem(404, f"intersection {intersection_id!r} has no plan version {version}")
    report = validate_plan(row.plan)
    if not report.ok:
        data = report.model_dump(mode="json")
        raise _refused(path, f"version {version} of {intersection_id!r} is refused by the current rules: "
                             "it cannot be previewed", data["errors"])
    return row.plan


def draft_plan(intersection_id: str, plan: dict[str, Any]) -> dict[str, Any]:
    """An unsaved plan judged as a save judges it: 422 naming each failed rule and its place when refused (the plan
    of another intersection included), else the plan."""
    found = plan.get("intersection_id")
    if found != intersection_id:
        shown = found if isinstance(found, str | int | float | bool) else str(found)
        raise Problem(422, f"plan refused: rule intersection_id at intersection_id: the plan is for {shown!r}, not "
                           f"{intersection_id!r}; nothing queued", title="Plan refused", errors=[{
                               "rule": "intersection_id", "path": "intersection_id", "required": intersection_id,
                               "found": shown,
                               "message": {"vi": f"Kế hoạch dành cho nút {shown!r}, không phải {intersection_id!r}",
                                           "en": f"the plan is for intersection {shown!r}, not {intersection_id!r}"}}])
    report = validate_plan(plan)
    if not report.ok:
        data = report.model_dump(mode="json")
        first = report.errors[0]
        raise Problem(422, f"plan refused: {len(report.errors)} rule(s) failed, first {first.rule} at "
                           f"{first.path or '(the plan)'}; nothing queued", title="Plan refused",
                      errors=data["errors"], warnings=data["warnings"])
    return plan


async def baseline_of(session: AsyncSession, intersection_id: str, version: int) -> Baseline:
    deployed = await active_deployment(session, intersection_id)
    kind, chosen = ("deployed", deployed.version) if deployed else ("previous", None)
    if chosen is None:
        chosen = (await session.execute(select(PlanVersion.version).where(
            PlanVersion.intersection_id == intersection_id, PlanVersion.version < version).order_by(
            PlanVersion.version.desc()).limit(1))).scalar_one_or_none()
    if chosen is None:
        return Baseline("none", None, None)
    row = await get_version(session, intersection_id, chosen)
    if row is None or not validate_plan(row.plan).ok:
        return Baseline("refused", chosen, None)
    return Baseline(kind, chosen, row.plan)


def pattern_at(plan: dict[str, Any], local: datetime) -> int | None:
    """The pattern the plan's schedule runs at `local` (None: free, or flash/dark, which the twin runs as free)."""
    try:
        return scheduled_at(PlanV1.model_validate(plan), local).pattern
    except (ScheduleError, ValidationError):
        return None


async def geometry_of(session: AsyncSession, ids: list[str]) -> dict[str, IntersectionGeometry]:
    """Each intersection's stored geometry; 404 for an unknown one, 422 naming every one without geometry."""
    rows = {r.id: r for r in (await session.execute(select(Intersection).where(Intersection.id.in_(ids)))).scalars()}
    unknown = [i for i in ids if i not in rows]
    if unknown:
        raise Problem(404, f"no intersection {', '.join(map(repr, unknown))}")
    lacking = [i for i in ids if rows[i].geometry is None]
    if lacking:
        raise Problem(422, f"no twin geometry for {', '.join(lacking)}: PUT /api/v1/intersections/{{id}}/geometry "
                           "first", errors=[{"path": "body.intersections", "message": f"{i} has no geometry",
                                             "type": "geometry_missing", "intersection_id": i} for i in lacking])
    return {i: IntersectionGeometry.model_validate(rows[i].geometry) for i in ids}


async def twin_intersection(session: AsyncSession, intersection_id: str, geometry: IntersectionGeometry,
                            candidate: dict[str, Any], baseline: dict[str, Any] | None, start_local: datetime,
                            duration_s: int, weeks: int) -> TwinIntersection:
    plans = {CANDIDATE: candidate, **({RUNNING: baseline} if baseline is not None else {})}
    demand = await measured_demand(session, intersection_id, geometry, start_local, duration_s, weeks)
    return TwinIntersection(intersection_id=intersection_id, geometry=geometry, demand=demand, plans=plans,
                            patterns={label: pattern_at(plan, start_local) for label, plan in plans.items()})
