"""SLA clocks: the current clock of each goal of each delegation (used by the coordinator).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:33:01+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_clock",
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("goal", sa.String(length=20), nullable=False),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("court", sa.String(length=6), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("on_breach", sa.String(length=10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("original_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warn_at", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("warned", sa.Integer(), nullable=False),
        sa.Column("breach_fired", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("delegation_id", "goal"),
    )
    op.create_index("ix_sla_clock_next", "sla_clock", ["next_at"])


def downgrade() -> None:
    op.drop_index("ix_sla_clock_next", table_name="sla_clock")
    op.drop_table("sla_clock")
