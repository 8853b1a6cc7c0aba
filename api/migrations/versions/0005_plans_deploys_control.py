"""Timing plan versions, deployments and manual-control sessions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("intersection_id", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("comment", sa.String(512), nullable=True),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ux_plan_versions_intersection_version", "plan_versions", ["intersection_id", "version"],
                    unique=True)
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("intersection_id", sa.String(64), nullable=False, index=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("crc32", sa.BigInteger(), nullable=False),
        sa.Column("command_id", sa.String(64), nullable=True, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("source_addr", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "control_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("intersection_id", sa.String(64), nullable=False, index=True),
        sa.Column("device_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("pattern", sa.Integer(), nullable=True),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("backup_s", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("source_addr", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("next_renew_at", UtcDateTime(), nullable=False),
        sa.Column("last_sent_at", UtcDateTime(), nullable=True),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("control_sessions")
    op.drop_table("deployments")
    op.drop_index("ux_plan_versions_intersection_version", table_name="plan_versions")
    op.drop_table("plan_versions")
