"""Detector configuration per intersection and the ATSPM measure bins computed from the stored events.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "detectors",
        sa.Column("intersection_id", sa.String(64), primary_key=True),
        sa.Column("channel", sa.Integer(), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("lane", sa.String(32), nullable=True),
        sa.Column("setback_m", sa.Float(), nullable=False),
    )
    op.create_table(
        "measure_bins",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("intersection_id", sa.String(64), nullable=False),
        sa.Column("measure", sa.String(32), nullable=False),
        sa.Column("bin_start", UtcDateTime(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=True),
        sa.Column("detector", sa.Integer(), nullable=True),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("run_start", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_measure_bins_lookup", "measure_bins", ["intersection_id", "measure", "bin_start"])
    op.create_table(
        "measure_carry",
        sa.Column("intersection_id", sa.String(64), primary_key=True),
        sa.Column("until", UtcDateTime(), nullable=False),
        sa.Column("unmatched", sa.LargeBinary(), nullable=True),
        sa.Column("sf_unmatched", sa.LargeBinary(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("measure_carry")
    op.drop_index("ix_measure_bins_lookup", "measure_bins")
    op.drop_table("measure_bins")
    op.drop_table("detectors")
