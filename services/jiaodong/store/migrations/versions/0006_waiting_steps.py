"""Steps an entrusted court takes on an offer its node holds, before the delivery is recorded.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 10:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waiting_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("court", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("return_reason", sa.String(length=30), nullable=False),
        sa.Column("result", sa.String(length=20), nullable=False),
        sa.Column("documents", sa.String(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_waiting_step_delegation", "waiting_step", ["delegation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_waiting_step_delegation", table_name="waiting_step")
    op.drop_table("waiting_step")
