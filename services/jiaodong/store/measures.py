"""What a service's database says about its state, read when Prometheus scrapes (the metrics of
jiaodong.bootstrap). One read transaction of bounded work: grouped counts over indexed columns
(the delegations by status and city pair read the board's index only), no row is loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlmodel import Session

from jiaodong.store import outbox
from jiaodong.store.tables import DelegationRow, DocumentBlobRow

_DELEGATION = DelegationRow.__table__  # type: ignore[attr-defined]
_BLOB = DocumentBlobRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Readings:
    """``delegations``: (status, requesting city, entrusted city) -> count (an entrusted city not
    yet known is ""); ``documents``: document state (receiving, verified, rejected) -> count;
    the outbox's unpublished rows and when the oldest was queued; the parked messages."""

    delegations: dict[tuple[str, str, str], int] = field(default_factory=dict)
    documents: dict[str, int] = field(default_factory=dict)
    outbox_backlog: int = 0
    outbox_oldest: datetime | None = None
    parked: int = 0


def read(session: Session) -> Readings:
    conn = session.connection()
    by_pair = conn.execute(
        sa_select(
            _DELEGATION.c.status,
            _DELEGATION.c.requesting_city,
            _DELEGATION.c.entrusted_city,
            func.count(),
        ).group_by(
            _DELEGATION.c.status, _DELEGATION.c.requesting_city, _DELEGATION.c.entrusted_city
        )
    )
    documents = conn.execute(sa_select(_BLOB.c.state, func.count()).group_by(_BLOB.c.state))
    return Readings(
        delegations={(r[0], r[1], r[2] or ""): int(r[3]) for r in by_pair},
        documents={r[0]: int(r[1]) for r in documents},
        outbox_backlog=outbox.pending_count(session),
        outbox_oldest=outbox.oldest_unpublished(session),
        parked=outbox.parked_count(session),
    )


def answers(session: Session) -> bool:
    """The cheapest question a database can answer (the health watcher's)."""
    return session.connection().execute(text("SELECT 1")).scalar() == 1
