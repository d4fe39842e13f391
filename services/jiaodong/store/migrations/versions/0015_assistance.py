"""On-site assistance (异地执行协助): the payload of its steps on history events and waiting steps,
and the operation's day and window on the delegation row for the board's calendar.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 14:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before migrations existed may have these already.
    inspector = sa.inspect(op.get_bind())

    def has(table: str, column: str) -> bool:
        return column in {c["name"] for c in inspector.get_columns(table)}

    for table in ("delegation_event", "waiting_step"):
        if not has(table, "detail"):
            op.add_column(
                table, sa.Column("detail", sa.String(), nullable=False, server_default="")
            )
    if not has("delegation", "operation_day"):
        op.add_column("delegation", sa.Column("operation_day", sa.Date(), nullable=True))
    if not has("delegation", "operation_window"):
        op.add_column(
            "delegation",
            sa.Column("operation_window", sa.String(length=11), nullable=False, server_default=""),
        )
    if "ix_delegation_operation_day" not in {
        i["name"] for i in inspector.get_indexes("delegation")
    }:
        op.create_index("ix_delegation_operation_day", "delegation", ["operation_day"])


def downgrade() -> None:
    op.drop_index("ix_delegation_operation_day", table_name="delegation")
    op.drop_column("delegation", "operation_window")
    op.drop_column("delegation", "operation_day")
    for table in ("waiting_step", "delegation_event"):
        op.drop_column(table, "detail")
