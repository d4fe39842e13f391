"""Each node's count of parked messages (dead letters), as its reconciliation digest reports it:
the board's node health.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:35:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before migrations existed may have them already.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("node_contact")}
    if "parked" not in columns:
        op.add_column("node_contact", sa.Column("parked", sa.Integer(), nullable=True))
    if "parked_at" not in columns:
        op.add_column(
            "node_contact", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("node_contact") as batch:
        batch.drop_column("parked_at")
        batch.drop_column("parked")
