"""The SLA reports' facts: one row per delegation, kept by the coordinator beside its clocks
(store/tables.py ReportFactRow). Existing delegations get theirs when the coordinator starts
(app/coordinator backfill), not here: a fact needs the SLA policy and the calendar.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 23:50:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GOALS = ("acknowledge", "start", "progress", "complete", "supplement")


def upgrade() -> None:
    if "report_fact" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by create_all
    goal_columns: list[sa.Column[Any]] = []
    for goal in GOALS:
        goal_columns += [
            sa.Column(f"{goal}_outcome", sa.Integer(), nullable=False),
            sa.Column(f"{goal}_due", sa.DateTime(timezone=True), nullable=True),
            sa.Column(f"{goal}_due_week", sa.Integer(), nullable=True),
        ]
    op.create_table(
        "report_fact",
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("requesting_court", sa.String(length=6), nullable=False),
        sa.Column("requesting_city", sa.String(length=20), nullable=False),
        sa.Column("entrusted_court", sa.String(length=6), nullable=False),
        sa.Column("entrusted_city", sa.String(length=20), nullable=False),
        sa.Column("task_type", sa.String(length=30), nullable=False),
        sa.Column("asset_kind", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("sent_day", sa.Integer(), nullable=False),
        sa.Column("sent_week", sa.Integer(), nullable=False),
        sa.Column("closed_day", sa.Integer(), nullable=True),
        sa.Column("acknowledge_days", sa.Integer(), nullable=True),
        sa.Column("complete_days", sa.Integer(), nullable=True),
        *goal_columns,
        sa.Column("returns_jurisdiction", sa.Integer(), nullable=False),
        sa.Column("returns_materials", sa.Integer(), nullable=False),
        sa.Column("returns_unclear", sa.Integer(), nullable=False),
        sa.Column("returns_other", sa.Integer(), nullable=False),
        sa.Column("urges", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("delegation_id"),
    )
    op.create_index("ix_report_fact_sent", "report_fact", ["sent_day"])
    op.create_index("ix_report_fact_open", "report_fact", ["state", "sent_day"])


def downgrade() -> None:
    op.drop_table("report_fact")
