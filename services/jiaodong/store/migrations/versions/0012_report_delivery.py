"""The SLA reports' delivery figure: minutes from sending to the first delivery per fact, and the
week index made to cover it (the weekly trend counts late deliveries per week).

The facts stored before this revision lack the figure. Facts are derived data (domain/report.py
``fact_of`` over the history and clocks), so they are removed here and the coordinator that next
becomes active writes every one again (app/coordinator/report.py backfill, in batches): one code
path computes every fact, old or new.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 03:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEEK = ["sent_week", "sent_day", "state", "requesting_city", "entrusted_city", "met_count",
        "late_count"]  # fmt: skip


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("report_fact")}
    if "delivery_minutes" in columns:
        return  # made by create_all with this revision's tables
    op.execute("DELETE FROM report_fact")
    op.add_column("report_fact", sa.Column("delivery_minutes", sa.Integer(), nullable=True))
    op.drop_index("ix_report_fact_week", table_name="report_fact")
    op.create_index("ix_report_fact_week", "report_fact", [*WEEK, "delivery_minutes"])


def downgrade() -> None:
    op.drop_index("ix_report_fact_week", table_name="report_fact")
    op.create_index("ix_report_fact_week", "report_fact", WEEK)
    with op.batch_alter_table("report_fact") as batch:
        batch.drop_column("delivery_minutes")
