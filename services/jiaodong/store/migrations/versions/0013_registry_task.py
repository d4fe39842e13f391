"""A node's requests to its city's registries (automatic inquiries and controls).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 07:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "registry_task",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("court", sa.String(length=6), nullable=False),
        sa.Column("requesting_court", sa.String(length=6), nullable=False),
        sa.Column("case_number", sa.String(length=60), nullable=False),
        sa.Column("asset_kind", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registry_no", sa.String(length=80), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("results", sa.String(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=60), nullable=False),
        sa.Column("accepted_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_registry_task_next", "registry_task", ["next_at"])
    op.create_index("ix_registry_task_delegation_id", "registry_task", ["delegation_id"])


def downgrade() -> None:
    op.drop_index("ix_registry_task_delegation_id", table_name="registry_task")
    op.drop_index("ix_registry_task_next", table_name="registry_task")
    op.drop_table("registry_task")
