"""The plan-preview twin: an intersection's geometry (approaches, lanes, movements, detector placements) as a JSON
column of `intersections`, and the preview jobs (kept as rows, so a reload or another replica shows them).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intersections", sa.Column("geometry", sa.JSON(), nullable=True))
    op.create_table(
        "preview_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("intersection_id", sa.String(64), nullable=True, index=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("baseline_version", sa.Integer(), nullable=True),
        sa.Column("baseline", sa.String(32), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("demand_sources", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False, index=True),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("preview_jobs")
    op.drop_column("intersections", "geometry")
