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
from jiaodong.domain.calendar import WorkCalendar, local_day, start_of_day
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import ControlTerm, Event, EventKind
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
    return to_stored(start_of_day(day)) if day is not None else None


def _touching(courts: frozenset[str] | list[str]) -> Any:
    """Watches of controls a court asked for or put in force."""
    return or_(_W.c.requesting_court.in_(courts), _W.c.entrusted_court.in_(courts))


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
    renews another, mark the controls of that one its terms renew (``rules.renewed_keys``)."""
    placed = rules.placed(history)
    if not placed:
        return
    delegation_id = row.id
    conn = session.connection()
    have = {(r.seq, r.idx) for r in conn.execute(_READ, {"b_delegation": delegation_id})}
    today = local_day(now)
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
        _renew(conn, renews, row, [p.term for p in placed])


def _renew(conn: Any, renews: str, row: DelegationRow, terms: list[ControlTerm]) -> None:
    """Mark the renewed delegation's controls that ``row``'s terms renew. Only a delegation the
    same court sent: the requesting node checked it, and the coordinator does not take a node's
    word for it."""
    old = conn.execute(
        sa_select(_W.c.seq, _W.c.idx, _W.c.asset, _W.c.reference)
        .where(
            _W.c.delegation_id == renews,
            _W.c.requesting_court == row.requesting_court,
            _W.c.renewed_by == "",
        )
        .order_by(_W.c.seq, _W.c.idx)
    ).all()
    keys = rules.renewed_keys([((r.seq, r.idx), r.asset, r.reference) for r in old], terms)
    for seq, idx in keys:
        conn.execute(
            update(_W)
            .where(_W.c.delegation_id == renews, _W.c.seq == seq, _W.c.idx == idx)
            .values(renewed_by=row.id, state=rules.WatchState.RENEWED.value, next_at=None)
        )
    log.info("controls_renewed", delegation_id=renews, by=row.id, count=len(keys))


def sweep(session: Session, now: datetime, limit: int = 1000) -> tuple[Counter[str], int]:
    """Move on up to ``limit`` watches whose state changes by ``now``: the count of new states,
    and how many rows were due (fewer than ``limit``: none is left)."""
    conn = session.connection()
    rows = conn.execute(
        sa_select(_W).where(_W.c.next_at <= to_stored(now)).order_by(_W.c.next_at).limit(limit)
    ).all()
    today = local_day(now)
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
    return moved, len(rows)


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
    changed, e.g. a new year's holidays); the number whose dates moved. Their state is left to
    the next sweep (``next_at`` now), which moves and logs it like any other change."""
    conn = session.connection()
    moved = 0
    for r in conn.execute(sa_select(_W).where(_W.c.renewed_by == "")).all():
        w = rules.watch(_watch_of(r).term, policy, cal)
        if (w.warn_on, w.renew_by) == (r.warn_on, r.renew_by):
            continue
        moved += 1
        conn.execute(
            update(_W)
            .where(
                _W.c.delegation_id == r.delegation_id,
                _W.c.seq == r.seq,
                _W.c.idx == r.idx,
                _W.c.renewed_by == "",
            )
            .values(warn_on=w.warn_on, renew_by=w.renew_by, next_at=to_stored(now))
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
        query = query.where(_touching(courts))
    today = local_day(now)
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
    a pure function of the term, the policy and the calendar: the same on every side), with the
    renewals linked as the coordinator links them (``renewed_keys``, in the order recorded)."""
    d = DelegationRow.__table__  # type: ignore[attr-defined]
    e = EventRow.__table__  # type: ignore[attr-defined]
    steps = [k.value for k in rules.CONTROL_STEPS]
    rows = (
        session.connection()
        .execute(
            sa_select(e.c.delegation_id, e.c.seq, e.c.kind, e.c.at, e.c.controls, e.c.actor_court)
            .join(d, d.c.id == e.c.delegation_id)
            .where(
                e.c.controls != "[]",
                e.c.kind.in_(steps),
                or_(d.c.requesting_court == court, d.c.entrusted_court == court),
            )
            .order_by(e.c.at, e.c.delegation_id, e.c.seq)
        )
        .all()
    )
    ids = sorted({r.delegation_id for r in rows})
    found = session.connection().execute(sa_select(d).where(d.c.id.in_(ids))).all()
    by_id = {r.id: r for r in found}
    contents = {i: content_of(by_id[i]) for i in ids}  # type: ignore[arg-type]
    # (delegation, (seq, idx)) -> (term, entrusted court), in the order recorded.
    placed: dict[tuple[str, tuple[int, int]], tuple[ControlTerm, str]] = {}
    renewed: dict[tuple[str, tuple[int, int]], str] = {}
    watched = []
    for r in rows:
        terms = controls_from(r.controls)
        if not rules.watched(EventKind(r.kind), terms):
            continue  # decided as the coordinator's ``rules.placed`` decides it
        watched.append((r, terms))
        for i, term in enumerate(terms):
            placed[(r.delegation_id, (r.seq, i))] = (term, r.actor_court)
    for r, terms in watched:  # every term placed first: a renewal may bear the same instant
        renews = contents[r.delegation_id].renews
        if (
            renews in by_id
            and by_id[renews].requesting_court == by_id[r.delegation_id].requesting_court
        ):
            old: list[tuple[tuple[int, int], str, str]] = [
                (where, t.asset, t.reference)
                for (owner, where), (t, _) in placed.items()
                if owner == renews and (owner, where) not in renewed
            ]
            for where in rules.renewed_keys(old, terms):
                renewed[(renews, where)] = r.delegation_id
    today = local_day(now)
    out = []
    for (owner, key), (term, holder) in placed.items():
        w = rules.watch(term, policy, cal)
        renewed_by = renewed.get((owner, key), "")
        state = w.state(today, bool(renewed_by))
        if _wanted(states, state):
            row = by_id[owner]
            case = contents[owner].case_number
            out.append(Listed(owner, case, row.requesting_court, holder, w, state, renewed_by))
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
        query = query.where(_touching(courts))
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


DEFAULT_LIMIT, MAX_LIMIT = 500, 5000


def controls_page(found: list[Listed], limit: int) -> pb.ListControlsResponse:
    """The answer to ListControls: the first ``limit`` (0: the default), and how many matched."""
    if limit < 0 or limit > MAX_LIMIT:
        raise InvalidInput.one("limit", f"give 1 to {MAX_LIMIT}, or 0 for {DEFAULT_LIMIT}")
    shown = found[: limit or DEFAULT_LIMIT]
    return pb.ListControlsResponse(controls=[listed_pb(x) for x in shown], total=len(found))
