"""Backoff of failed logins per (account name, client address): a guesser waits longer and longer, while the same
account still logs in from anywhere else (no global lock an attacker could use to keep an admin out).

The name is the one typed, known or not, so an unknown user gets exactly the answers of a known one. After
`login_max_failures` failures in a row from one address, each further failure makes that pair wait
`login_backoff_s`, doubling up to `login_lockout_s`; failures older than `login_lockout_s` are forgotten, and a
success clears the pair. The counter is incremented by the database in one upsert (`INSERT .. ON CONFLICT DO UPDATE
.. RETURNING`), so parallel attempts are all counted (SQLite ≥ 3.35 and PostgreSQL both have it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import ApiSettings
from api.models import LoginFailures

UNKNOWN_ADDRESS = "unknown"


def backoff_s(failures: int, settings: ApiSettings) -> float | None:
    """How long a pair waits after its `failures`-th failure in a row; None below the threshold."""
    over = failures - settings.login_max_failures
    if over < 0:
        return None
    return min(settings.login_backoff_s * 2.0 ** min(over, 32), settings.login_lockout_s)


async def wait_s(session: AsyncSession, account: str, address: str | None, now: datetime) -> float | None:
    """Seconds the pair must still wait before its next attempt is checked; None when it may try now."""
    blocked_until = (await session.execute(select(LoginFailures.blocked_until).where(
        LoginFailures.account == account, LoginFailures.address == (address or UNKNOWN_ADDRESS)))).scalar()
    if blocked_until is None or blocked_until <= now:
        return None
    return (blocked_until - now).total_seconds()


async def record_failure(session: AsyncSession, account: str, address: str | None, now: datetime,
                         settings: ApiSettings) -> int:
    """Count one failure of the pair (committed) and set its wait; the number of failures in a row."""
    address = address or UNKNOWN_ADDRESS
    stale = now - timedelta(seconds=settings.login_lockout_s)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    upsert = insert(LoginFailures).values(account=account, address=address, failures=1, last_failure_at=now)
    stmt = upsert.on_conflict_do_update(
        index_elements=[LoginFailures.account, LoginFailures.address],
        set_={"failures": case((LoginFailures.last_failure_at < stale, 1), else_=LoginFailures.failures + 1),
              "last_failure_at": now},
    ).returning(LoginFailures.failures)
    failures = int((await session.execute(stmt)).scalar_one())
    wait = backoff_s(failures, settings)
    if wait is not None:
        # Only the attempt that made this count sets its wait: a later (higher) count sets a longer one.
        await session.execute(update(LoginFailures).where(
            LoginFailures.account == account, LoginFailures.address == address, LoginFailures.failures == failures)
            .values(blocked_until=now + timedelta(seconds=wait)))
    await session.commit()
    return failures


async def clear(session: AsyncSession, account: str, address: str | None, now: datetime,
                settings: ApiSettings) -> None:
    """A success: forget the pair's failures, and every pair's that is stale (keeps the table small). Committed."""
    stale = now - timedelta(seconds=settings.login_lockout_s)
    await session.execute(delete(LoginFailures).where(
        (LoginFailures.account == account) & (LoginFailures.address == (address or UNKNOWN_ADDRESS))
        | ((LoginFailures.last_failure_at < stale)
           & (LoginFailures.blocked_until.is_(None) | (LoginFailures.blocked_until < now)))))
    await session.commit()
