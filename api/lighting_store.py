"""Lighting document versions in the config DB: store (only what the validator accepts), list, get.

A version number is per document id, 1, 2, 3, ... in creation order (`api.versioned_store`, shared with timing
plans). The validator checks a year of nights from the API's local date at the document's
site; a deploy checks again at each cabinet's own coordinates.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import LightingVersion
from api.versioned_store import Refused, Versions
from controllers.clock import to_rfc3339
from controllers.lighting import LightingV1, encode_lighting, validate_lighting
from controllers.plans import ValidationReport

log = logging.getLogger(__name__)

LIGHTING_VERSIONS = Versions(LightingVersion, LightingVersion.document_id, LightingVersion.version,
                             "lighting document")
__all__ = ["Refused", "check", "get_version", "list_documents", "list_versions", "save_version", "version_json"]


def version_json(row: LightingVersion, *, with_document: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"document_id": row.document_id, "version": row.version, "name": row.name,
                           "crc32": row.crc32, "crc32_hex": f"{row.crc32:08x}", "author": row.author,
                           "comment": row.comment, "created_at": to_rfc3339(row.created_at),
                           "warnings": row.warnings}
    if with_document:
        out["document"] = row.document
    return out


def check(data: Any, today: date) -> ValidationReport:
    """Every rule, over a year of nights from `today` (never raises for a bad document)."""
    if not isinstance(data, dict):
        data = {"format": data}  # any JSON value: a non-object becomes a `schema` error, never an exception
    return validate_lighting(data, from_date=today)


async def save_version(session: AsyncSession, document_id: str, data: Any, *, author: str, comment: str | None,
                       now: datetime, today: date) -> LightingVersion | Refused:
    """Validate `data` (parsed JSON) and store it as the document's next version; `Refused` (nothing stored) when
    the validator finds an error."""
    report = check(data, today)
    if not report.ok:
        return Refused(report)
    doc = LightingV1.model_validate(data)
    encoded = encode_lighting(doc)
    warnings = [w.model_dump(mode="json") for w in report.warnings]
    row = await LIGHTING_VERSIONS.add_next(session, document_id, lambda n: LightingVersion(
        document_id=document_id, version=n, name=doc.name, document=doc.model_dump(mode="json", exclude_none=True),
        crc32=encoded.crc32, warnings=warnings, comment=comment, author=author, created_at=now))
    log.info("lighting_saved document=%s version=%s crc32=%08x author=%s", document_id, row.version, row.crc32,
             author)
    return row


async def get_version(session: AsyncSession, document_id: str, version: int) -> LightingVersion | None:
    return await LIGHTING_VERSIONS.get(session, document_id, version)


async def list_versions(session: AsyncSession, document_id: str, limit: int = 100) -> list[LightingVersion]:
    """Newest first."""
    return await LIGHTING_VERSIONS.newest_first(session, document_id, limit)


async def list_documents(session: AsyncSession) -> list[dict[str, Any]]:
    """Each document id with its newest version."""
    rows = (await session.execute(select(LightingVersion.document_id, func.max(LightingVersion.version))
                                  .group_by(LightingVersion.document_id).order_by(LightingVersion.document_id))).all()
    return [{"document_id": doc, "latest_version": latest} for doc, latest in rows]
