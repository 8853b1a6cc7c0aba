"""`/api/v1/audit`: the audit log, filtered by who, what, target and time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel
from sqlalchemy import select

from api.audit import audit_json
from api.deps import AuditReader, SessionDep
from api.models import AuditEntry
from api.problems import Problem

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditOut(BaseModel):
    id: int
    ts: str
    actor: str
    source_addr: str | None
    action: str
    target: str | None
    outcome: str
    detail: dict[str, Any] | None


@router.get("", response_model=list[AuditOut])
async def list_audit(session: SessionDep, _: AuditReader,
                     actor: Annotated[str | None, Query(max_length=128)] = None,
                     action: Annotated[str | None, Query(max_length=64, description="exact, or a prefix ending "
                                                                                     "in '.' e.g. command.")] = None,
                     target: Annotated[str | None, Query(max_length=128)] = None,
                     outcome: Annotated[str | None, Query(max_length=32)] = None,
                     since: AwareDatetime | None = None, until: AwareDatetime | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                     offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[dict[str, Any]]:
    """Newest first. Times are RFC 3339 with a zone."""
    if since and until and since >= until:
        raise Problem(422, "since must be before until",
                      errors=[{"path": "query.since", "message": "must be before until", "type": "value_error"}])
    query = select(AuditEntry)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEntry.action == action)
    if target:
        query = query.where(AuditEntry.target == target)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    if since:
        query = query.where(AuditEntry.ts >= since)
    if until:
        query = query.where(AuditEntry.ts < until)
    rows = (await session.execute(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))).scalars()
    return [audit_json(r) for r in rows]

