"""Migrations: up from empty and from each revision, down and up again, on SQLite and PostgreSQL; the migrated
schema equals the models (so a model change without a migration fails here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from api.db import alembic_config, create_engine, downgrade, migrate
from api.models import Base

REVISIONS = [r.revision for r in reversed(list(ScriptDirectory.from_config(alembic_config("sqlite://"))
                                                .walk_revisions()))]


def test_revisions_form_one_line() -> None:
    assert REVISIONS[0] == "0001" and len(REVISIONS) == len(set(REVISIONS)) >= 3
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [REVISIONS[-1]]


def _diff(conn: Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)


async def _current(db_url: str) -> str:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return str((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one())
    finally:
        await engine.dispose()


async def _schema_diff(db_url: str) -> list[Any]:
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def _check_from_each_revision(db_url: str) -> None:
    await migrate(db_url)
    assert await _current(db_url) == REVISIONS[-1]
    assert await _schema_diff(db_url) == []
    for start in ["base", *REVISIONS[:-1]]:
        await downgrade(db_url, start)
        await migrate(db_url)
        assert await _current(db_url) == REVISIONS[-1], f"upgrade from {start}"
    await migrate(db_url)  # a no-op at head


async def test_sqlite_from_each_revision(tmp_path: Path) -> None:
    await _check_from_each_revision(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


async def test_data_survives_upgrade(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    await migrate(db_url, "0001")
    engine = create_engine(db_url)
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO users (name, password_hash, role, active, created_at, failed_logins) "
                                "VALUES ('lan', 'h', 'crew', true, '2026-11-23 07:00:00.000000', 0)"))
    await engine.dispose()
    await migrate(db_url)
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM users"))).scalar_one() == "lan"
    await engine.dispose()


@pytest.mark.integration
async def test_postgresql_from_each_revision(postgres_url: str) -> None:
    await _check_from_each_revision(postgres_url)


async def test_unreachable_database_is_a_clear_error() -> None:
    from api.db import DatabaseError

    with pytest.raises(DatabaseError, match=r"x:\*\*\*@127\.0\.0\.1:1/nodb"):
        await migrate("postgresql+asyncpg://x:secretpw@127.0.0.1:1/nodb")
