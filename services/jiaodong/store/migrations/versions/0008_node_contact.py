"""The command-centre board: when the coordinator last heard from each city's node (node health),
and each delegation's case number as a column (the board's case-number search), filled in from
the stored content for the delegations already there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 14:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from jiaodong.v1 import delegation_pb2

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before migrations existed may have either already.
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("node_contact"):
        op.create_table(
            "node_contact",
            sa.Column("node", sa.String(length=40), nullable=False),
            sa.Column("court", sa.String(length=6), nullable=False),
            sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("node"),
        )
    if "case_number" not in {c["name"] for c in inspector.get_columns("delegation")}:
        op.add_column(
            "delegation",
            sa.Column("case_number", sa.String(length=60), nullable=False, server_default=""),
        )
        _fill_case_numbers()  # a database that has the column was made by code that fills it


def _fill_case_numbers() -> None:
    """The case number is field 3 of the stored content (a Delegation message): read it with the
    generated code of the time, in pages, so a large table is not held in memory at once."""
    bind = op.get_bind()
    table = sa.table(
        "delegation",
        sa.column("id", sa.String),
        sa.column("content", sa.LargeBinary),
        sa.column("case_number", sa.String),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(table.c.id, table.c.content)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(1000)
        ).all()
        if not rows:
            return
        updates = []
        for delegation_id, content in rows:
            message = delegation_pb2.Delegation()
            message.ParseFromString(content)
            if message.case_number:
                updates.append({"b_id": delegation_id, "b_case": message.case_number[:60]})
        if updates:
            bind.execute(
                table.update()
                .where(table.c.id == sa.bindparam("b_id"))
                .values(case_number=sa.bindparam("b_case")),
                updates,
            )
        after = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("delegation") as batch:
        batch.drop_column("case_number")
    op.drop_table("node_contact")
