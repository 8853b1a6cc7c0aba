"""Timing plan versions in the config DB: store (only what the validator accepts), list, get, and which version an
intersection runs.

A version number is per intersection, 1, 2, 3, ... in creation order; two engineers saving at once both get a
version (`api.versioned_store`, shared with lighting documents).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import Deployment, PlanVersion
from api.versioned_store import Refused, Versions
from controllers.clock import to_rfc3339
from controllers.plans import PlanV1, encode_plan, validate_plan

log = logging.getLogger(__name__)

PLAN_VERSIONS = Versions(PlanVersion, PlanVersion.intersection_id, PlanVersion.version, "plan")
__all__ = ["Refused", "active_deployment", "get_version", "list_versions", "save_version", "version_json"]


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
    row = await PLAN_VERSIONS.add_next(session, intersection_id, lambda n: PlanVersion(
        intersection_id=intersection_id, version=n, name=plan.name, plan=plan.model_dump(mode="json",
                                                                                       exclude_none=True),
        crc32=encoded.crc32, warnings=warnings, comment=comment, author=author, created_at=now))
    log.info("plan_saved intersection=%s version=%s crc32=%s author=%s", intersection_id, row.version,
             f"{row.crc32:08x}", author)
    return row


async def get_version(session: AsyncSession, intersection_id: str, version: int) -> PlanVersion | None:
    return await PLAN_VERSIONS.get(session, intersection_id, version)


async def list_versions(session: AsyncSession, intersection_id: str, limit: int = 100) -> list[PlanVersion]:
    """Newest first."""
    return await PLAN_VERSIONS.newest_first(session, intersection_id, limit)


async def active_deployment(session: AsyncSession, intersection_id: str) -> Deployment | None:
    """The last deployment that became active: the version the controller runs (None: none deployed here)."""
    return (await session.execute(select(Deployment).where(
        Deployment.intersection_id == intersection_id, Deployment.status == "active").order_by(
        Deployment.finished_at.desc()).limit(1))).scalar_one_or_none()
