"""Token versions per user (and per API token's creator), login failures per (account, address), idempotency keys of
commands, one deployment in flight per intersection.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: API tokens made before tokens expired by default get this long from the upgrade (not from their creation, which
#: could end a rig's access the moment the upgrade runs).
LEGACY_TOKEN_TTL = timedelta(days=90)


def upgrade() -> None:
    op.add_column("users", sa.Column("token_version", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("api_tokens", sa.Column("creator_version", sa.Integer(), nullable=False,
                                          server_default=sa.text("0")))
    op.add_column("commands", sa.Column("idempotency_key", sa.String(128), nullable=True))
    op.create_index("ux_commands_idempotency", "commands", ["issued_by", "idempotency_key"], unique=True)
    op.create_table(
        "login_failures",
        sa.Column("account", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", UtcDateTime(), nullable=False),
        sa.Column("blocked_until", UtcDateTime(), nullable=True),
    )
    bind = op.get_bind()
    tokens = sa.table("api_tokens", sa.column("expires_at", UtcDateTime()))
    bind.execute(tokens.update().where(tokens.c.expires_at.is_(None))
                 .values(expires_at=datetime.now(UTC) + LEGACY_TOKEN_TTL))
    # Older code could start two deploys on one intersection in a race; keep the newest in flight, end the others.
    deployments = sa.table("deployments", sa.column("id", sa.String()), sa.column("intersection_id", sa.String()),
                           sa.column("created_at", UtcDateTime()), sa.column("finished_at", UtcDateTime()),
                           sa.column("status", sa.String()), sa.column("error", sa.String()))
    unfinished = bind.execute(sa.select(deployments.c.id, deployments.c.intersection_id)
                              .where(deployments.c.finished_at.is_(None))
                              .order_by(deployments.c.intersection_id, deployments.c.created_at.desc())).all()
    seen: set[str] = set()
    now = datetime.now(UTC)
    for deployment_id, intersection_id in unfinished:
        if intersection_id in seen:
            bind.execute(deployments.update().where(deployments.c.id == deployment_id)
                         .values(status="failed", error="superseded", finished_at=now))
        seen.add(intersection_id)
    op.create_index("ux_deployments_in_flight", "deployments", ["intersection_id"], unique=True,
                    sqlite_where=sa.text("finished_at IS NULL"), postgresql_where=sa.text("finished_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ux_deployments_in_flight", table_name="deployments")
    op.drop_table("login_failures")
    op.drop_index("ux_commands_idempotency", table_name="commands")
    with op.batch_alter_table("commands") as batch:
        batch.drop_column("idempotency_key")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("creator_version")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("token_version")
