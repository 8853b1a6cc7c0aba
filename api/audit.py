"""The audit log: every control action with who, what, when, from where, and the result."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.models import AuditEntry
from controllers.clock import to_rfc3339

log = logging.getLogger(__name__)


async def record(session: AsyncSession, *, now: datetime, actor: str, source_addr: str | None, action: str,
                 target: str | None, outcome: str, detail: dict[str, Any] | None = None) -> None:
    """Append one entry and commit."""
    session.add(AuditEntry(ts=now, actor=actor, source_addr=source_addr, action=action, target=target,
                           outcome=outcome, detail=detail))
    await session.commit()
    log.info("audit actor=%s action=%s target=%s outcome=%s", actor, action, target, outcome)


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "ts": to_rfc3339(entry.ts), "actor": entry.actor, "source_addr": entry.source_addr,
            "action": entry.action, "target": entry.target, "outcome": entry.outcome, "detail": entry.detail}
