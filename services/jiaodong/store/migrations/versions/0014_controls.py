"""Seizures and freezes in force: the terms on history events, and the coordinator's watch on
their expiry (domain/controls.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 11:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before migrations existed may have these columns already.
    inspector = sa.inspect(op.get_bind())
    for table in ("delegation_event", "waiting_step"):
        if "controls" not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(
                table, sa.Column("controls", sa.String(), nullable=False, server_default="[]")
            )
    if "control_no" not in {c["name"] for c in inspector.get_columns("registry_task")}:
        op.add_column(
            "registry_task",
            sa.Column("control_no", sa.String(), nullable=False, server_default=""),
        )
    op.create_table(
        "control_watch",
        sa.Column("delegation_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("requesting_court", sa.String(length=6), nullable=False),
        sa.Column("entrusted_court", sa.String(length=6), nullable=False),
        sa.Column("asset", sa.String(length=20), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("warn_on", sa.Date(), nullable=False),
        sa.Column("renew_by", sa.Date(), nullable=False),
        sa.Column("renewed_by", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("delegation_id", "seq", "idx"),
    )
    op.create_index("ix_control_watch_next", "control_watch", ["next_at"])
    op.create_index("ix_control_watch_ends", "control_watch", ["ends_on"])
    op.create_index("ix_control_watch_state", "control_watch", ["state"])


def downgrade() -> None:
    op.drop_index("ix_control_watch_state", table_name="control_watch")
    op.drop_index("ix_control_watch_ends", table_name="control_watch")
    op.drop_index("ix_control_watch_next", table_name="control_watch")
    op.drop_table("control_watch")
    for table, column in (
        ("registry_task", "control_no"),
        ("waiting_step", "controls"),
        ("delegation_event", "controls"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
