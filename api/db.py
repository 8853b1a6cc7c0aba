"""Engine, sessions and schema migrations of the config database (SQLite by default, PostgreSQL in production).

`migrate(db_url)` upgrades the schema to the newest Alembic revision; it is safe to call on every start (a no-op when
the schema is current). Alembic reads its revision files synchronously: that short blocking read happens once at
start-up, inside `run_sync`, before the API serves anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, CursorResult, Executable, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class DatabaseError(Exception):
    """The config database could not be reached or migrated; the message names the database (without password)."""


def safe_url(db_url: str) -> str:
    """The URL with its password hidden, for logs and errors."""
    return make_url(db_url).render_as_string(hide_password=True)


def create_engine(db_url: str) -> AsyncEngine:
    """An async engine; for SQLite, foreign keys on and a busy timeout so concurrent writers wait, not fail."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 15})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(db_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def migrate(db_url: str, revision: str = "head") -> None:
    """Upgrade the schema of `db_url` to `revision` (default: the newest). Raises DatabaseError naming the DB."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, alembic_config(db_url), revision)
    except (OSError, SQLAlchemyError) as exc:
        raise DatabaseError(f"cannot migrate config database {safe_url(db_url)}: {type(exc).__name__}: {exc}") from exc
    finally:
        await engine.dispose()


async def downgrade(db_url: str, revision: str) -> None:
    """Downgrade the schema of `db_url` to `revision` ("base" for empty). For tests and rollbacks."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade, alembic_config(db_url), revision)
    finally:
        await engine.dispose()


async def rows_matched(session: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE or DELETE in `session` and return how many rows its WHERE matched (the way to tell that a
    conditional update lost a race)."""
    result = await session.execute(statement)
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(statement).__name__} returned rows, not a row count: not an UPDATE or DELETE")
    return result.rowcount
