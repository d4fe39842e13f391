"""The spine's record: delegations, their history, requests, outbox, inbox and dead letters.

Written out by hand to match ``store/tables.py`` as the spine created it with ``create_all``:
the same columns, types, keys, constraint names (PostgreSQL names the unnamed ones the same way
as ``create_all`` did) and indexes. Times are ``DateTime(timezone=True)``, the type sqlmodel
(>= 0.0.45) gives a ``datetime`` field.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 05:57:02+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, length: int | None = None) -> sa.Column[object]:
    return sa.Column(name, sa.String(length=length), nullable=False)


def upgrade() -> None:
    op.create_table(
        "delegation",
        _text("id", 40),
        _text("request_id", 64),
        _text("requesting_court", 6),
        _text("requesting_city", 20),
        _text("entrusted_court", 6),
        _text("entrusted_city", 20),
        _text("task_type", 30),
        _text("priority", 10),
        _text("status", 20),
        sa.Column("seq", sa.Integer(), nullable=False),
        _text("last_hash", 64),
        sa.Column("cycle", sa.Integer(), nullable=False),
        _text("result", 20),
        _text("fingerprint", 64),
        _text("warnings"),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        _time("routed_at", nullable=True),
        _time("delivered_at", nullable=True),
        _time("acknowledged_at", nullable=True),
        _time("accepted_at", nullable=True),
        _time("returned_at", nullable=True),
        _time("completed_at", nullable=True),
        _time("closed_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("requesting_court", "request_id", name="uq_delegation_request"),
    )
    op.create_index("ix_delegation_requesting", "delegation", ["requesting_court", "created_at"])
    op.create_index("ix_delegation_entrusted", "delegation", ["entrusted_court", "created_at"])
    op.create_index("ix_delegation_status", "delegation", ["status"])

    op.create_table(
        "delegation_event",
        _text("delegation_id", 40),
        sa.Column("seq", sa.Integer(), nullable=False),
        _text("event_id", 40),
        _text("kind", 30),
        _text("side", 20),
        _text("actor_court", 6),
        _time("at"),
        _text("text"),
        _text("court_id", 6),
        _text("return_reason", 30),
        _text("result", 20),
        _text("documents"),
        _text("request_id", 64),
        _text("prev_hash", 64),
        _text("hash", 64),
        sa.PrimaryKeyConstraint("delegation_id", "seq"),
        sa.ForeignKeyConstraint(["delegation_id"], ["delegation.id"]),
        sa.UniqueConstraint("event_id"),
    )

    op.create_table(
        "action_request",
        _text("delegation_id", 40),
        _text("request_id", 64),
        _text("kind", 30),
        _text("side", 20),
        _text("actor_court", 6),
        _text("state", 10),
        _text("reason"),
        _time("created_at"),
        sa.PrimaryKeyConstraint("delegation_id", "request_id"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("message_id", 40),
        _text("subject", 120),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        _time("created_at"),
        _time("published_at", nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_outbox_unpublished", "outbox", ["published_at", "id"])

    op.create_table(
        "inbox",
        _text("message_id", 40),
        _text("subject", 120),
        _time("received_at"),
        sa.PrimaryKeyConstraint("message_id"),
    )

    op.create_table(
        "dead_letter",
        sa.Column("id", sa.Integer(), nullable=False),
        _text("subject", 120),
        _text("message_id", 80),
        _text("reason"),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        _time("parked_at"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("dead_letter")
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("action_request")
    op.drop_table("delegation_event")
    op.drop_index("ix_delegation_status", table_name="delegation")
    op.drop_index("ix_delegation_entrusted", table_name="delegation")
    op.drop_index("ix_delegation_requesting", table_name="delegation")
    op.drop_table("delegation")
