"""The coordinator's stored clocks (``sla_clock``): queries outside the sweep's own set-based
statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from jiaodong.store.tables import SlaClockRow
from jiaodong.wire import to_utc


def open_due_times(session: Session) -> dict[tuple[str, str], datetime]:
    """(delegation, goal) -> due time of every clock still running or paused."""
    rows = session.exec(
        select(SlaClockRow).where(col(SlaClockRow.state).in_(["RUNNING", "PAUSED"]))
    ).all()
    return {(r.delegation_id, r.goal): to_utc(r.due_at) for r in rows}


def fired_among(session: Session, delegation_ids: Sequence[str]) -> set[str]:
    """Those of ``delegation_ids`` with a clock that warned or breached (whose actions may have
    to be asked for again): one query for a whole digest chunk."""
    if not delegation_ids:
        return set()
    query = select(SlaClockRow.delegation_id).where(
        col(SlaClockRow.delegation_id).in_(list(delegation_ids)),
        or_(col(SlaClockRow.breach_fired).is_(True), col(SlaClockRow.warned) > 0),
    )
    return set(session.exec(query).all())
