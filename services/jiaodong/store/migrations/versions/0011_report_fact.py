"""The SLA reports' facts: one row per delegation, kept by the coordinator beside its clocks
(store/tables.py ReportFactRow), stored in the order the report groups by (SQLite: WITHOUT ROWID)
with an index for each of the report's other queries. Existing delegations get their facts when a
coordinator becomes active (app/coordinator/report.py backfill), not here: a fact needs the SLA
policy and the calendar.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 23:50:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GOALS = ("acknowledge", "start", "progress", "complete", "supplement")
GROUPING = ("requesting_city", "entrusted_court", "task_type", "asset_kind")


def _str(name: str, length: int) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=length), nullable=False)


def _int(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def upgrade() -> None:
    if "report_fact" in sa.inspect(op.get_bind()).get_table_names():
        return  # made by create_all
    goal_columns: list[sa.Column[Any]] = []
    for goal in GOALS:
        goal_columns += [
            _int(f"{goal}_outcome"),
            sa.Column(f"{goal}_due", sa.DateTime(timezone=True), nullable=True),
            _int(f"{goal}_due_week", nullable=True),
        ]
    op.create_table(
        "report_fact",
        _str("requesting_city", 20),
        _str("entrusted_court", 6),
        _str("task_type", 30),
        _str("asset_kind", 20),
        _str("delegation_id", 40),
        _str("requesting_court", 6),
        _str("entrusted_city", 20),
        _str("priority", 10),
        _int("state"),
        _int("sent_day"),
        _int("sent_week"),
        _int("closed_day", nullable=True),
        _int("acknowledge_days", nullable=True),
        _int("complete_days", nullable=True),
        _int("met_count"),
        _int("late_count"),
        *goal_columns,
        _int("returns_jurisdiction"),
        _int("returns_materials"),
        _int("returns_unclear"),
        _int("returns_other"),
        _int("urges"),
        _int("escalations"),
        sa.PrimaryKeyConstraint(*GROUPING, "delegation_id"),
        sa.UniqueConstraint("delegation_id", name="uq_report_fact_delegation"),
        sqlite_with_rowid=False,
    )
    for goal, days in (("acknowledge", "acknowledge_days"), ("complete", "complete_days")):
        op.create_index(f"ix_report_fact_{goal}", "report_fact", [*GROUPING, days, "sent_day"])
    op.create_index(
        "ix_report_fact_week",
        "report_fact",
        ["sent_week", "sent_day", "state", "requesting_city", "entrusted_city", "met_count",
         "late_count"],
    )  # fmt: skip
    is_open = sa.text("state = 0")
    op.create_index(
        "ix_report_fact_open",
        "report_fact",
        ["state", "sent_day", "sent_week", "requesting_city", "entrusted_city"]
        + [f"{g}_{part}" for g in GOALS for part in ("outcome", "due", "due_week")],
        sqlite_where=is_open,
        postgresql_where=is_open,
    )
    for goal in GOALS:
        late = sa.text(f"{goal}_outcome = 3")
        op.create_index(
            f"ix_report_fact_late_{goal}",
            "report_fact",
            [
                f"{goal}_due_week",
                "entrusted_court",
                "requesting_city",
                "entrusted_city",
                f"{goal}_outcome",
            ],
            sqlite_where=late,
            postgresql_where=late,
        )


def downgrade() -> None:
    op.drop_table("report_fact")
