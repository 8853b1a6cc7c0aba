"""Cabinet birth claims (one API replica reconciles each birth) and circuit relampings (lamp life restarts).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cabinet_birth_claims",
        sa.Column("device_id", sa.String(64), primary_key=True),
        sa.Column("birth", sa.String(96), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False, index=True),
    )
    op.create_table(
        "circuit_relampings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(64), nullable=False, index=True),
        sa.Column("circuit", sa.Integer(), nullable=False),
        sa.Column("relamped_on", UtcDateTime(), nullable=False),
        sa.Column("burning_h", sa.Float(), nullable=True),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("done_by", sa.String(128), nullable=False),
        sa.Column("source_addr", sa.String(64), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("circuit_relampings")
    op.drop_table("cabinet_birth_claims")
