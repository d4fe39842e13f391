"""The coordinator's watch on seizures and freezes in force (domain/controls.py has the rules).

Rows, never timers, like the SLA clocks: one ``control_watch`` row per control term of a history
event, kept in step with the history in the transaction that applies it (``keep``), with
``next_at`` the next instant its state changes. The SLA sweep takes the due rows (``sweep``),
moves their state on and logs each warning (no personal data: the delegation, the courts, the
asset kind and the dates). A control is renewed when a delegation that names it as renewed
(``renews``) records controls of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from jiaodong.domain import controls as rules
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import ControlTerm, Event
from jiaodong.store.mapper import content_of, controls_from
from jiaodong.store.tables import ControlWatchRow, DelegationRow, EventRow
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import control_pb, to_stored

log = structlog.get_logger("jiaodong.controls")

_W = ControlWatchRow.__table__  # type: ignore[attr-defined]
_READ = sa_select(_W.c.seq, _W.c.idx).where(_W.c.delegation_id == bindparam("b_delegation"))
_MOVE = (
    update(_W)
    .where(
        _W.c.delegation_id == bindparam("b_d"),
        _W.c.seq == bindparam("b_s"),
        _W.c.idx == bindparam("b_i"),
        _W.c.state == bindparam("b_state"),
    )
    .values(state=bindparam("state"), next_at=bindparam("next_at"))
)


def _next_at(w: rules.Watch, today: date, renewed: bool) -> datetime | None:
    if renewed:
        return None
    day = w.next_change(today)
    return to_stored(rules.start_of(day)) if day is not None else None


def _watch_of(r: Any) -> rules.Watch:
    term = ControlTerm(r.asset, r.reference, r.starts_on, r.ends_on)
    return rules.Watch(term, r.warn_on, r.renew_by)


def keep(
    session: Session,
    row: DelegationRow,
    history: list[Event],
    policy: rules.RenewalPolicy,
    cal: WorkCalendar,
    now: datetime,
) -> None:
    """Add a watch for each control the history records that has none yet; if this delegation
    renews another and has controls, mark that one's controls of the same asset kind renewed."""
    placed = rules.placed(history)
    if not placed:
        return
    delegation_id = row.id
    conn = session.connection()
    have = {(r.seq, r.idx) for r in conn.execute(_READ, {"b_delegation": delegation_id})}
    today = rules.today(now)
    new = []
    for p in placed:
        if (p.seq, p.index) in have:
            continue
        w = rules.watch(p.term, policy, cal)
        new.append(
            {
                "delegation_id": delegation_id,
                "seq": p.seq,
                "idx": p.index,
                "requesting_court": row.requesting_court,
                "entrusted_court": p.court,
                "asset": p.term.asset,
                "reference": p.term.reference,
                "starts_on": p.term.starts_on,
                "ends_on": p.term.ends_on,
                "warn_on": w.warn_on,
                "renew_by": w.renew_by,
                "renewed_by": "",
                "state": w.state(today).value,
                "next_at": _next_at(w, today, False),
            }
        )
    if not new:
        return
    conn.execute(insert(_W), new)
    log.info("controls_watched", delegation_id=delegation_id, count=len(new))
    for values in new:  # recorded late, already due: warn now (the sweep warns of later changes)
        if values["state"] != rules.WatchState.STANDING.value:
            _warn(str(values["state"]), delegation_id, values)
    renews = content_of(row).renews  # parsed only for a delegation with controls
    if renews:
        assets = sorted({p.term.asset for p in placed})
        done = conn.execute(
            update(_W)
            .where(
                _W.c.delegation_id == renews,
                _W.c.asset.in_(assets),
                _W.c.renewed_by == "",
            )
            .values(renewed_by=delegation_id, state=rules.WatchState.RENEWED.value, next_at=None)
        )
        log.info("controls_renewed", delegation_id=renews, by=delegation_id, count=done.rowcount)


def sweep(session: Session, now: datetime, limit: int = 1000) -> Counter[str]:
    """Move on every watch whose state changes by ``now``; the count of new states."""
    conn = session.connection()
    rows = conn.execute(
        sa_select(_W).where(_W.c.next_at <= to_stored(now)).order_by(_W.c.next_at).limit(limit)
    ).all()
    today = rules.today(now)
    moved: Counter[str] = Counter()
    for r in rows:
        w = _watch_of(r)
        renewed = bool(r.renewed_by)
        state = w.state(today, renewed).value
        won = conn.execute(
            _MOVE,
            {
                "b_d": r.delegation_id,
                "b_s": r.seq,
                "b_i": r.idx,
                "b_state": r.state,
                "state": state,
                "next_at": _next_at(w, today, renewed),
            },
        )
        if won.rowcount != 1 or state == r.state:
            continue  # another coordinator moved it, or only the instant changed
        moved[state] += 1
        _warn(state, r.delegation_id, r._mapping)
    return moved


def _warn(state: str, delegation_id: str, row: Any) -> None:
    """The log line of a watch that changed state: ids, the asset kind and the dates only."""
    log.warning(
        "control_" + state.lower(),
        delegation_id=delegation_id,
        requesting_court=row["requesting_court"],
        entrusted_court=row["entrusted_court"],
        asset=row["asset"],
        renew_by=row["renew_by"].isoformat(),
        ends_on=row["ends_on"].isoformat(),
    )


def rewatch(session: Session, policy: rules.RenewalPolicy, cal: WorkCalendar, now: datetime) -> int:
    """Recompute the renewal dates of every watch not renewed (after the policy or the calendar
    changed); the number whose dates moved."""
    conn = session.connection()
    today = rules.today(now)
    moved = 0
    for r in conn.execute(sa_select(_W).where(_W.c.renewed_by == "")).all():
        w = rules.watch(ControlTerm(r.asset, r.reference, r.starts_on, r.ends_on), policy, cal)
        if (w.warn_on, w.renew_by) == (r.warn_on, r.renew_by):
            continue
        moved += 1
        conn.execute(
            update(_W)
            .where(_W.c.delegation_id == r.delegation_id, _W.c.seq == r.seq, _W.c.idx == r.idx)
            .values(
                warn_on=w.warn_on,
                renew_by=w.renew_by,
                state=w.state(today).value,
                next_at=_next_at(w, today, False),
            )
        )
    return moved


# -- what courts and operators read ------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One control as listed: its watch, its state and whose it is."""

    delegation_id: str
    case_number: str
    requesting_court: str
    entrusted_court: str
    watch: rules.Watch
    state: rules.WatchState
    renewed_by: str


def _wanted(states: tuple[str, ...], state: rules.WatchState) -> bool:
    return state.value in states if states else state is not rules.WatchState.RENEWED


def check_states(states: Sequence[str]) -> tuple[str, ...]:
    known = [s.value for s in rules.WatchState]
    bad = [s for s in states if s not in known]
    if bad:
        raise InvalidInput.one("states", f"unknown state {bad[0]!r}; one of {', '.join(known)}")
    return tuple(states)


def coordinator_listing(
    session: Session, courts: frozenset[str] | None, states: tuple[str, ...], now: datetime
) -> list[Listed]:
    """The watched controls touching ``courts`` (None: all), soonest renewal limit first; the
    state is the one for today even if the sweep has not run yet."""
    d = DelegationRow.__table__  # type: ignore[attr-defined]
    query = sa_select(_W, d.c.case_number).join(d, d.c.id == _W.c.delegation_id)
    if courts is not None:
        query = query.where(
            or_(_W.c.requesting_court.in_(courts), _W.c.entrusted_court.in_(courts))
        )
    today = rules.today(now)
    out = []
    for r in session.connection().execute(query.order_by(_W.c.renew_by, _W.c.delegation_id)):
        w = _watch_of(r)
        state = w.state(today, bool(r.renewed_by))
        if _wanted(states, state):
            out.append(
                Listed(
                    r.delegation_id,
                    r.case_number,
                    r.requesting_court,
                    r.entrusted_court,
                    w,
                    state,
                    r.renewed_by,
                )
            )
    return out


def node_listing(
    session: Session,
    court: str,
    states: tuple[str, ...],
    policy: rules.RenewalPolicy,
    cal: WorkCalendar,
    now: datetime,
) -> list[Listed]:
    """The same, computed on a court's node from the histories it holds (the renewal dates are
    a pure function of the term, the policy and the calendar: the same on every side)."""
    d = DelegationRow.__table__  # type: ignore[attr-defined]
    e = EventRow.__table__  # type: ignore[attr-defined]
    rows = (
        session.connection()
        .execute(
            sa_select(e.c.delegation_id, e.c.seq, e.c.controls, e.c.actor_court)
            .join(d, d.c.id == e.c.delegation_id)
            .where(
                e.c.controls != "[]",
                or_(d.c.requesting_court == court, d.c.entrusted_court == court),
            )
            .order_by(e.c.delegation_id, e.c.seq)
        )
        .all()
    )
    ids = sorted({r.delegation_id for r in rows})
    found = session.connection().execute(sa_select(d).where(d.c.id.in_(ids))).all()
    by_id = {r.id: r for r in found}
    contents = {i: content_of(by_id[i]) for i in ids}  # type: ignore[arg-type]
    renewals: dict[tuple[str, str], str] = {}
    for r in rows:
        renews = contents[r.delegation_id].renews
        for term in controls_from(r.controls):
            renewals.setdefault((renews, term.asset), r.delegation_id)
    today = rules.today(now)
    out = []
    for r in rows:
        row = by_id[r.delegation_id]
        for term in controls_from(r.controls):
            w = rules.watch(term, policy, cal)
            renewed_by = renewals.get((r.delegation_id, term.asset), "")
            state = w.state(today, bool(renewed_by))
            if _wanted(states, state):
                case = contents[r.delegation_id].case_number
                out.append(
                    Listed(
                        r.delegation_id,
                        case,
                        row.requesting_court,
                        r.actor_court,
                        w,
                        state,
                        renewed_by,
                    )
                )
    out.sort(key=lambda x: (x.watch.renew_by, x.delegation_id))
    return out


def listed_pb(item: Listed) -> pb.ControlWatch:
    w = item.watch
    return pb.ControlWatch(
        delegation_id=item.delegation_id,
        case_number=item.case_number,
        requesting_court=item.requesting_court,
        entrusted_court=item.entrusted_court,
        term=control_pb(w.term),
        warn_on=w.warn_on.isoformat(),
        renew_by=w.renew_by.isoformat(),
        state=item.state.value,
        renewed_by=item.renewed_by,
    )


def renewals_due(session: Session, courts: list[str] | None) -> Counter[str]:
    """How many watches stand at RENEW_SOON and RENEW_OVERDUE (as of the last sweep), for the
    board's notice; only those touching ``courts`` when given."""
    soon = (rules.WatchState.RENEW_SOON.value, rules.WatchState.RENEW_OVERDUE.value)
    query = sa_select(_W.c.state, func.count()).where(_W.c.state.in_(soon)).group_by(_W.c.state)
    if courts is not None:
        query = query.where(
            or_(_W.c.requesting_court.in_(courts), _W.c.entrusted_court.in_(courts))
        )
    return Counter({state: int(n) for state, n in session.connection().execute(query)})


def renewal_notice(due: Counter[str], city: str | None) -> str | None:
    """The board's line about controls to renew, with the command that lists them."""
    total = sum(due.values())
    if not total:
        return None
    overdue = due.get(rules.WatchState.RENEW_OVERDUE.value, 0)
    where = f" --city {city}" if city else ""
    late = f"，其中 {overdue} 项已不足一个月" if overdue else ""
    return (
        f"{total} 项查封、冻结应续封/续冻{late}："
        f"jiaodong ops controls{where} --state RENEW_SOON --state RENEW_OVERDUE"
    )
