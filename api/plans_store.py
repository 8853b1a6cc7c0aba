"""Timing plan versions in the config DB: store (only what the validator accepts), list, get, and which version an
intersection runs.

A version number is per intersection, 1, 2, 3, ... in creation order; two engineers saving at once both get a
version (the unique index refuses a duplicate number and the save retries with the next one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Deployment, PlanVersion
from controllers.clock import to_rfc3339
from controllers.plans import PlanV1, ValidationReport, encode_plan, validate_plan

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Refused:
    """A plan the validator refused (nothing was stored)."""

    report: ValidationReport


def version_json(row: PlanVersion, *, with_plan: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"intersection_id": row.intersection_id, "version": row.version, "name": row.name,
                           "crc32": row.crc32, "crc32_hex": f"{row.crc32:08x}", "author": row.author,
                           "comment": row.comment, "created_at": to_rfc3339(row.created_at),
                           "warnings": row.warnings}
    if with_plan:
        out["plan"] = row.plan
    return out


async def save_version(session: AsyncSession, intersection_id: str, data: Any, *, author: str, comment: str | None,
                       now: datetime) -> PlanVersion | Refused:
    """Validate `data` (parsed JSON) and store it as the intersection's next version; `Refused` (nothing stored)
    when the validator finds an error. The caller checks that the plan names this intersection."""
    report = validate_plan(data)  # any JSON value: a non-object is a `schema` error, never an exception
    if not report.ok:
        return Refused(report)
    plan = PlanV1.model_validate(data)
    encoded = encode_plan(plan)
    warnings = [w.model_dump(mode="json") for w in report.warnings]
    for attempt in range(SAVE_ATTEMPTS):
        latest = (await session.execute(select(func.max(PlanVersion.version)).where(
            PlanVersion.intersection_id == intersection_id))).scalar_one_or_none()
        row = PlanVersion(intersection_id=intersection_id, version=(latest or 0) + 1, name=plan.name,
                          plan=plan.model_dump(mode="json", exclude_none=True), crc32=encoded.crc32,
                          warnings=warnings, comment=comment, author=author, created_at=now)
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # another save took this number: take the next one
            await session.rollback()
            log.info("plan_version_race intersection=%s attempt=%s", intersection_id, attempt)
            continue
        log.info("plan_saved intersection=%s version=%s crc32=%s author=%s", intersection_id, row.version,
                 f"{row.crc32:08x}", author)
        return row
    raise RuntimeError(f"could not allocate a plan version for {intersection_id} after {SAVE_ATTEMPTS} attempts")


async def get_version(session: AsyncSession, intersection_id: str, version: int) -> PlanVersion | None:
    return (await session.execute(select(PlanVersion).where(
        PlanVersion.intersection_id == intersection_id, PlanVersion.version == version))).scalar_one_or_none()


async def list_versions(session: AsyncSession, intersection_id: str, limit: int = 100) -> list[PlanVersion]:
    """Newest first."""
    return list((await session.execute(select(PlanVersion).where(
        PlanVersion.intersection_id == intersection_id).order_by(PlanVersion.version.desc()).limit(limit))).scalars())


async def active_deployment(session: AsyncSession, intersection_id: str) -> Deployment | None:
    """The last deployment that became active: the version the controller runs (None: none deployed here)."""
    return (await session.execute(select(Deployment).where(
        Deployment.intersection_id == intersection_id, Deployment.status == "active").order_by(
        Deployment.finished_at.desc()).limit(1))).scalar_one_or_none()
