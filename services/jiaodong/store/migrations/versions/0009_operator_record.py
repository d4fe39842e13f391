"""The command centres' record at the coordinator: operators' notes on delegations, and every
operator action (urge, escalate, reroute, note, retry or discard of a parked message) with the
operator identity that asked for it; and the indexes the board's counts read (open delegations
by status and cities; clocks by state, met and due time).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:10:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operator_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("operator", sa.String(length=60), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delegation_id", "request_id", name="uq_operator_note_request"),
    )
    op.create_table(
        "operator_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=60), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_operator_action_target", "operator_action", ["target", "id"])
    op.create_index(
        "ix_delegation_board",
        "delegation",
        ["status", "requesting_city", "entrusted_city", "created_at"],
        if_not_exists=True,
    )
    op.create_index(
        "ix_sla_clock_board", "sla_clock", ["state", "met_at", "due_at"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_sla_clock_board", table_name="sla_clock")
    op.drop_index("ix_delegation_board", table_name="delegation")
    op.drop_index("ix_operator_action_target", table_name="operator_action")
    op.drop_table("operator_action")
    op.drop_table("operator_note")
