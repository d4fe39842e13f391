"""The re-send schedule: messages that may have been lost are re-sent with back-off per message;
and when this database last appended to a delegation's history (reconciliation sends no sync for
a delegation that changed after the digest was made: that change's sync went after it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resend",
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    # A database made by create_all before migrations existed may have it already.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("delegation")}
    if "changed_at" not in columns:
        op.add_column(
            "delegation", sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("delegation") as batch:
        batch.drop_column("changed_at")
    op.drop_table("resend")
