"""Versions of a document in the config DB, the part timing plans and lighting documents share: the next version
number per owner (1, 2, 3, ... in creation order) allocated under a unique index, get one version, list them.

Two engineers saving at once both get a version: the unique index refuses a duplicate number and the save retries
with the next one, up to SAVE_ATTEMPTS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from api.models import Base
from controllers.plans import ValidationReport

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3
Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True, slots=True)
class Refused:
    """A document the validator refused (nothing was stored)."""

    report: ValidationReport


@dataclass(frozen=True, slots=True)
class Versions(Generic[Row]):
    """Where a kind of document keeps its versions: its row class, the column naming the owner (an intersection,
    a lighting document id) and the version number column; `kind` names it in logs and errors."""

    model: type[Row]
    owner: InstrumentedAttribute[str]
    version: InstrumentedAttribute[int]
    kind: str

    async def add_next(self, session: AsyncSession, owner_id: str, make: Callable[[int], Row]) -> Row:
        """Store `make(n)` with n the owner's next version number, committed. Raises RuntimeError when
        SAVE_ATTEMPTS numbers were all taken by concurrent saves."""
        for attempt in range(SAVE_ATTEMPTS):
            latest = (await session.execute(select(func.max(self.version)).where(
                self.owner == owner_id))).scalar_one_or_none()
            row = make((latest or 0) + 1)
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:  # another save took this number: take the next one
                await session.rollback()
                log.info("version_race kind=%s owner=%s attempt=%d", self.kind, owner_id, attempt)
                continue
            return row
        raise RuntimeError(f"could not allocate a {self.kind} version for {owner_id} after {SAVE_ATTEMPTS} attempts")

    async def get(self, session: AsyncSession, owner_id: str, version: int) -> Row | None:
        return (await session.execute(select(self.model).where(
            self.owner == owner_id, self.version == version))).scalar_one_or_none()

    async def newest_first(self, session: AsyncSession, owner_id: str, limit: int = 100) -> list[Row]:
        return list((await session.execute(select(self.model).where(self.owner == owner_id).order_by(
            self.version.desc()).limit(limit))).scalars())
