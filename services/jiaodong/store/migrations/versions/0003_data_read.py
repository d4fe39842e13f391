"""The record of personal-data reads (who, when, which delegation, which RPC).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reader", sa.String(length=60), nullable=False),
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("rpc", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_data_read_at", "data_read", ["at"])
    op.create_index("ix_data_read_delegation", "data_read", ["delegation_id"])


def downgrade() -> None:
    op.drop_index("ix_data_read_delegation", table_name="data_read")
    op.drop_index("ix_data_read_at", table_name="data_read")
    op.drop_table("data_read")
