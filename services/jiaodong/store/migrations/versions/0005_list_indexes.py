"""Indexes that give each list page in order: newest first, the id as tie-break.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_delegation_requesting", table_name="delegation")
    op.drop_index("ix_delegation_entrusted", table_name="delegation")
    op.create_index(
        "ix_delegation_requesting", "delegation", ["requesting_court", "created_at", "id"]
    )
    op.create_index(
        "ix_delegation_entrusted", "delegation", ["entrusted_court", "created_at", "id"]
    )
    # A database made by create_all before migrations existed may have it already.
    op.create_index("ix_delegation_created", "delegation", ["created_at", "id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_delegation_created", table_name="delegation")
    op.drop_index("ix_delegation_entrusted", table_name="delegation")
    op.drop_index("ix_delegation_requesting", table_name="delegation")
    op.create_index("ix_delegation_requesting", "delegation", ["requesting_court", "created_at"])
    op.create_index("ix_delegation_entrusted", "delegation", ["entrusted_court", "created_at"])
