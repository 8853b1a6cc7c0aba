"""Street lighting: document versions, per-cabinet deployments, circuit overrides, alarms per circuit,
the scheduler's leader lease.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Alarms of a lighting cabinet's circuits name the circuit (0: the whole device).
    op.add_column("alarms", sa.Column("circuit", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.drop_index("ux_alarms_active", table_name="alarms")
    op.create_index("ux_alarms_active", "alarms", ["device_id", "kind", "circuit"], unique=True,
                    sqlite_where=sa.text("active"), postgresql_where=sa.text("active"))
    op.create_table(
        "lighting_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("document_id", sa.String(48), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("comment", sa.String(512), nullable=True),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ux_lighting_versions_document_version", "lighting_versions", ["document_id", "version"],
                    unique=True)
    op.create_table(
        "lighting_deployments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.String(64), nullable=False, index=True),
        sa.Column("document_id", sa.String(48), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=True, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("source_addr", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "circuit_overrides",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("circuit", sa.Integer(), nullable=False),
        sa.Column("level_pct", sa.Float(), nullable=False),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("set_by", sa.String(128), nullable=False),
        sa.Column("source_addr", sa.String(64), nullable=True),
        sa.Column("set_at", UtcDateTime(), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM alarms WHERE circuit <> 0"))
    op.drop_index("ux_alarms_active", table_name="alarms")
    op.create_index("ux_alarms_active", "alarms", ["device_id", "kind"], unique=True,
                    sqlite_where=sa.text("active"), postgresql_where=sa.text("active"))
    with op.batch_alter_table("alarms") as batch:
        batch.drop_column("circuit")
    op.drop_table("circuit_overrides")
    op.drop_table("scheduler_leases")
    op.drop_table("lighting_deployments")
    op.drop_index("ux_lighting_versions_document_version", table_name="lighting_versions")
    op.drop_table("lighting_versions")
