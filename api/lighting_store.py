"""Lighting document versions in the config DB: store (only what the validator accepts), list, get.

A version number is per document id, 1, 2, 3, ... in creation order; a race for a number retries with the next one
(the unique index decides). The validator checks a year of nights from the API's local date at the document's
site; a deploy checks again at each cabinet's own coordinates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import LightingVersion
from controllers.clock import to_rfc3339
from controllers.lighting import LightingV1, encode_lighting, validate_lighting
from controllers.plans import ValidationReport

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Refused:
    """A document the validator refused (nothing was stored)."""

    report: ValidationReport


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
    for attempt in range(SAVE_ATTEMPTS):
        latest = (await session.execute(select(func.max(LightingVersion.version)).where(
            LightingVersion.document_id == document_id))).scalar_one_or_none()
        row = LightingVersion(document_id=document_id, version=(latest or 0) + 1, name=doc.name,
                              document=doc.model_dump(mode="json", exclude_none=True), crc32=encoded.crc32,
                              warnings=warnings, comment=comment, author=author, created_at=now)
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:  # another save took this number: take the next one
            await session.rollback()
            log.info("lighting_version_race", extra={"document": document_id, "attempt": attempt})
            continue
        log.info("lighting_saved", extra={"document": document_id, "version": row.version,
                                          "crc32": f"{row.crc32:08x}", "author": author})
        return row
    raise RuntimeError(f"could not allocate a version of lighting document {document_id} after {SAVE_ATTEMPTS} "
                       "attempts")


async def get_version(session: AsyncSession, document_id: str, version: int) -> LightingVersion | None:
    return (await session.execute(select(LightingVersion).where(
        LightingVersion.document_id == document_id, LightingVersion.version == version))).scalar_one_or_none()


async def list_versions(session: AsyncSession, document_id: str, limit: int = 100) -> list[LightingVersion]:
    """Newest first."""
    return list((await session.execute(select(LightingVersion).where(
        LightingVersion.document_id == document_id).order_by(LightingVersion.version.desc()).limit(limit)))
        .scalars())


async def list_documents(session: AsyncSession) -> list[dict[str, Any]]:
    """Each document id with its newest version."""
    rows = (await session.execute(select(LightingVersion.document_id, func.max(LightingVersion.version))
                                  .group_by(LightingVersion.document_id).order_by(LightingVersion.document_id))).all()
    return [{"document_id": doc, "latest_version": latest} for doc, latest in rows]
