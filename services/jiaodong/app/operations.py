"""The command centre's calendar of on-site assistance operations (异地执行协助), and the reminder
both courts get on the working day before one (issue 15).

An operation's day lives on its delegation row (``operation_day``, kept by the ledger from the
request, each plan and each move asked), so the calendar reads the index of the days it shows,
not every request ever made. Its officers are shown masked: the calendar is a board."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlmodel import Session, col, or_, select

from jiaodong.domain import assistance as assist
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.identifiers import mask_name
from jiaodong.domain.lifecycle import ASSISTANCE_TASK, Status
from jiaodong.domain.registry import Registry
from jiaodong.store import ledger
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.wire import status_pb
from jiaodong.wire_assistance import asked_support, support_items_pb

CALENDAR_DAYS = 14
# Requests whose operation is still to come: routed to the local court, not yet carried out.
ON_THE_CALENDAR = (
    Status.ROUTED,
    Status.DELIVERED,
    Status.ACKNOWLEDGED,
    Status.PROPOSED,
    Status.AGREED,
)


def coming(
    session: Session,
    today: date,
    city: str | None,
    statuses: Sequence[Status] = ON_THE_CALENDAR,
    days: int = CALENDAR_DAYS,
) -> Sequence[DelegationRow]:
    """The assistance requests in ``statuses`` whose operation falls in ``days`` days from
    ``today``, touching ``city`` (None: the region), soonest first."""
    query = select(DelegationRow).where(
        DelegationRow.task_type == ASSISTANCE_TASK,
        col(DelegationRow.operation_day) >= today,
        col(DelegationRow.operation_day) < today + timedelta(days=days),
        col(DelegationRow.status).in_([s.value for s in statuses]),
    )
    if city:
        query = query.where(
            or_(DelegationRow.entrusted_city == city, DelegationRow.requesting_city == city)
        )
    order = (col(DelegationRow.operation_day), DelegationRow.operation_window, DelegationRow.id)
    return session.exec(query.order_by(*order)).all()


def operations(
    session: Session,
    registry: Registry,
    calendar: WorkCalendar,
    today: date,
    city: str | None,
) -> list[capi.Operation]:
    """The calendar of the coming two weeks, masked, with each support item's state."""
    out = []
    for row in coming(session, today, city):
        content = content_of(row)
        state = assist.progress(asked_support(content), ledger.history(session, row.id))
        items = (
            state.plan.support
            if state.plan is not None
            else tuple((s, assist.SupportState.ASKED) for s in state.asked)
        )
        assert row.operation_day is not None
        out.append(
            capi.Operation(
                delegation_id=row.id,
                case_number=row.case_number,
                city=row.entrusted_city,
                day=row.operation_day.isoformat(),
                window=row.operation_window,
                local_court=row.entrusted_court,
                local_court_name=registry.court(row.entrusted_court).name_zh,
                requesting_court=row.requesting_court,
                requesting_court_name=registry.court(row.requesting_court).name_zh,
                measure=content.assistance.measure,
                status=status_pb(row.status),  # type: ignore[arg-type]
                officers=[
                    f"{mask_name(o.name)} {assist.mask_id(o.enforcement_id)}"
                    for o in content.assistance.officers
                ],
                support=support_items_pb(items),
                reminder_today=assist.reminder_day(calendar, row.operation_day) == today,
            )
        )
    return out
