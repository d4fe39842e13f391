"""The coordinator's stored clocks (``sla_clock``): queries outside the sweep's own set-based
statements."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from jiaodong.store.tables import SlaClockRow
from jiaodong.wire import to_utc


def open_due_times(session: Session) -> dict[tuple[str, str], datetime]:
    """(delegation, goal) -> due time of every clock still running or paused."""
    rows = session.exec(
        select(SlaClockRow).where(col(SlaClockRow.state).in_(["RUNNING", "PAUSED"]))
    ).all()
    return {(r.delegation_id, r.goal): to_utc(r.due_at) for r in rows}
