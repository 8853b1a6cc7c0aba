"""Work orders for the lighting crews, their history and photos; citizens' reports become work orders; an alarm
names the work order made from it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from api.models import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("site", sa.String(64), nullable=True),
        sa.Column("circuit", sa.Integer(), nullable=True),
        sa.Column("alarm_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(16), nullable=True),
        sa.Column("category", sa.String(32), nullable=True),
        sa.Column("description", sa.String(1000), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("crew", sa.String(64), nullable=True),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("reporter_key", sa.String(64), nullable=True),
        sa.Column("area_cell", sa.String(32), nullable=True),
        sa.Column("photo_until", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("alarm_id"),
        sa.UniqueConstraint("reference"),
    )
    for column in ("state", "device_id", "assignee", "created_at", "reporter_key", "area_cell"):
        op.create_index(f"ix_work_orders_{column}", "work_orders", [column])
    op.create_table(
        "work_order_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("work_orders.id"), nullable=False),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
    )
    op.create_index("ix_work_order_events_order_id", "work_order_events", ["order_id"])
    op.create_table(
        "work_order_photos",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("work_orders.id"), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
        sa.Column("uploaded_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_work_order_photos_order_id", "work_order_photos", ["order_id"])
    with op.batch_alter_table("alarms") as batch:
        batch.add_column(sa.Column("work_order_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        batch.drop_column("work_order_id")
    op.drop_index("ix_work_order_photos_order_id", "work_order_photos")
    op.drop_table("work_order_photos")
    op.drop_index("ix_work_order_events_order_id", "work_order_events")
    op.drop_table("work_order_events")
    for column in ("state", "device_id", "assignee", "created_at", "reporter_key", "area_cell"):
        op.drop_index(f"ix_work_orders_{column}", "work_orders")
    op.drop_table("work_orders")
