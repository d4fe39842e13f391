"""The coordinator's SLA engine: stores each delegation's current clocks and sweeps for due work.

Deadlines are rows, never in-memory timers: ``sla_clock.next_at`` (indexed) is the next instant a
clock owes something. A sweep takes the rows with ``next_at <= now``, claims each with a version
check (so two coordinators never act twice on one clock), and asks the delegation's writer for the
owed events (warning, breach, urge / escalation / withdrawal) under deterministic request ids that
the writer also refuses to apply twice. A coordinator that was down for a week finds every breach
of that week on its first sweep and acts once on each.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from jiaodong.app import controls
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_court
from jiaodong.domain import report, sla
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.clock import Clock
from jiaodong.domain.ids import new_id
from jiaodong.domain.lifecycle import Event, Side, Status
from jiaodong.domain.periods import Period, Unit
from jiaodong.domain.sla_policy import BreachAction, Goal, GoalPolicy, SlaPolicy
from jiaodong.store import report as facts
from jiaodong.store.mapper import asset_key, asset_name
from jiaodong.store.tables import DelegationRow, OutboxRow, SlaClockRow
from jiaodong.wire import to_stored, to_utc

log = structlog.get_logger("jiaodong.sla")


@dataclass
class SweepReport:
    due: int = 0
    claimed: int = 0
    warnings: int = 0
    breaches: int = 0
    actions: int = 0
    skipped: int = 0
    by_goal: dict[str, int] = field(default_factory=dict)
    # Watches of seizures and freezes that changed state, by their new state.
    controls: Counter[str] = field(default_factory=Counter)
    # Reminders sent on the working day before an on-site assistance operation.
    reminders: int = 0
    # The events asked for, by kind (SLA_WARNING, SLA_BREACHED, URGED, ESCALATED, ...): metrics.
    kinds: Counter[str] = field(default_factory=Counter)

    def figures(self) -> dict[str, int]:
        """What a sweep did, for the log."""
        names = ("due", "warnings", "breaches", "actions", "reminders")
        out = {n: getattr(self, n) for n in names}
        return out | {f"controls_{k.lower()}": n for k, n in sorted(self.controls.items())}

    def add(self, other: SweepReport) -> None:
        """Count ``other``'s figures into this report (one sweep in several batches)."""
        for name in ("due", "claimed", "warnings", "breaches", "actions", "skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for goal, n in other.by_goal.items():
            self.by_goal[goal] = self.by_goal.get(goal, 0) + n
        self.kinds.update(other.kinds)


def _period_text(period: Period) -> str:
    return f"{period.length} {period.unit.value}"


def _period_from(text: str) -> Period:
    length, unit = text.split(" ", 1)
    return Period(int(length), Unit(unit))


_CLOCKS = SlaClockRow.__table__  # type: ignore[attr-defined]


# Statements built once (building one per call cost as much as running it).
_CLOCK_FIELDS = (
    "instance",
    "court",
    "state",
    "period",
    "on_breach",
    "started_at",
    "due_at",
    "original_due_at",
    "met_at",
    "warned",
    "breach_fired",
    "next_at",
    "warn_at",
    "source",
)
_READ_CLOCKS = sa_select(_CLOCKS).where(_CLOCKS.c.delegation_id == bindparam("b_delegation"))
_UPDATE_CLOCK = (
    update(_CLOCKS)
    .where(
        _CLOCKS.c.delegation_id == bindparam("b_delegation"),
        _CLOCKS.c.goal == bindparam("b_goal"),
    )
    .values({name: bindparam(name) for name in _CLOCK_FIELDS})
)


def _same(stored: Any, value: Any) -> bool:
    """Whether a stored column already holds ``value`` (times compared in UTC: SQLite gives them
    back naive, PostgreSQL aware)."""
    if isinstance(stored, datetime) and isinstance(value, datetime):
        return bool(to_utc(stored) == to_utc(value))
    return bool(stored == value)


def goals_for(policy: SlaPolicy, row: DelegationRow) -> dict[Goal, GoalPolicy]:
    """The limits the policy sets for this delegation's task, asset kind and priority."""
    return policy.goals_for(row.task_type, asset_key(row), row.priority)


class SlaEngine:
    """Computes and stores clocks; finds and handles due ones."""

    def __init__(self, policy: SlaPolicy, calendar: WorkCalendar, clock: Clock) -> None:
        self.policy = policy
        self.calendar = calendar
        self.clock = clock

    def clocks(self, row: DelegationRow, history: list[Event]) -> list[sla.Clock]:
        return sla.fold(history, goals_for(self.policy, row), self.calendar)

    def fact(
        self, row: DelegationRow, history: list[Event], clocks: list[sla.Clock]
    ) -> dict[str, Any]:
        """The delegation's ``report_fact`` row, from the same fold as its clocks."""
        fact = report.fact_of(
            to_utc(row.created_at), history, clocks, self.calendar, self.clock.now()
        )
        return facts.fact_values(row, asset_name(row), fact)

    # -- keeping the stored clocks in step with the history ------------------------------------

    def refresh(self, session: Session, row: DelegationRow, history: list[Event]) -> None:
        """Recompute this delegation's current clocks and store those that changed (claims are
        kept), and its report fact. SQLAlchemy Core, not ORM objects: this runs on every change of
        every delegation, and most changes leave most clocks as they were (docs/benchmarks.md,
        the profile)."""
        now = self.clock.now()
        done = sla.fired(history)
        conn = session.connection()
        stored = {r.goal: r for r in conn.execute(_READ_CLOCKS, {"b_delegation": row.id})}
        new: list[dict[str, Any]] = []
        every = self.clocks(row, history)
        facts.save_fact(session, self.fact(row, history, every))
        controls.keep(session, row, history, self.policy.renewal, self.calendar, now)
        for clock in sla.current_clocks(every):
            v = sla.view(clock)
            warned, breached = sla.claimed(v, done)
            existing = stored.get(clock.goal.value)
            if existing is not None and existing.instance == clock.instance:
                warned = max(warned, existing.warned)
                breached = breached or existing.breach_fired
            nxt = sla.next_instant(v, warned, breached)
            fields: dict[str, Any] = {
                "instance": clock.instance,
                "court": clock.court,
                "state": clock.state(now).value,
                "period": _period_text(clock.policy.period),
                "on_breach": clock.policy.on_breach.value,
                "started_at": to_stored(clock.started_at),
                "due_at": to_stored(clock.due),
                "original_due_at": to_stored(clock.original_due),
                "met_at": to_stored(clock.met_at) if clock.met_at else None,
                "warned": warned,
                "breach_fired": breached,
                "next_at": to_stored(nxt) if nxt else None,
                "warn_at": json.dumps(list(clock.policy.warn_at)),
                "source": clock.policy.source[:500],
            }
            if existing is None:
                new.append({"delegation_id": row.id, "goal": clock.goal.value, **fields})
            elif any(not _same(getattr(existing, k), value) for k, value in fields.items()):
                conn.execute(
                    _UPDATE_CLOCK, {"b_delegation": row.id, "b_goal": clock.goal.value, **fields}
                )
        if new:
            conn.execute(insert(_CLOCKS), new)

    # -- the sweep -----------------------------------------------------------------------------

    def sweep(self, session: Session, limit: int = 1000) -> tuple[SweepReport, list[str]]:
        """Handle up to ``limit`` due clocks in this transaction; returns the report and the ids
        of delegations that changed (for the caller's watchers).

        Set-based on purpose (see docs/benchmarks.md): one indexed range query for the due
        clocks, one query for their writers, one single-row version-checked UPDATE per clock (the
        claim; its row count says whether this coordinator won it), one bulk INSERT into the
        outbox. No ORM objects, so nothing is flushed or synchronised row by row."""
        now = self.clock.now()
        report = SweepReport()
        conn = session.connection()
        clocks = SlaClockRow.__table__  # type: ignore[attr-defined]
        rows = conn.execute(
            sa_select(clocks)
            .where(clocks.c.next_at <= to_stored(now))
            .order_by(clocks.c.next_at)
            .limit(limit)
        ).all()
        report.due = len(rows)
        if not rows:
            return report, []
        writers = self._writers(conn, sorted({r.delegation_id for r in rows}))
        claim = (
            update(clocks)
            .where(
                clocks.c.delegation_id == bindparam("d"),
                clocks.c.goal == bindparam("g"),
                clocks.c.version == bindparam("v"),
            )
            .values(
                warned=bindparam("w"),
                breach_fired=bindparam("b"),
                next_at=bindparam("n"),
                version=bindparam("v2"),
            )
        )
        outbox: list[dict[str, Any]] = []
        touched: list[str] = []
        for r in rows:
            v = self._view(r)
            actions = sla.owed(v, now, r.warned, r.breach_fired, self.calendar)
            warned = max([r.warned, *(a.level for a in actions)])
            breached = r.breach_fired or any(a.level == 0 for a in actions)
            nxt = sla.next_instant(v, warned, breached)
            won = conn.execute(
                claim,
                {
                    "d": r.delegation_id,
                    "g": r.goal,
                    "v": r.version,
                    "w": warned,
                    "b": breached,
                    "n": to_stored(nxt) if nxt else None,
                    "v2": r.version + 1,
                },
            )
            if won.rowcount != 1:
                report.skipped += 1
                continue
            report.claimed += 1
            writer = writers.get(r.delegation_id)
            if not actions or writer is None:
                continue
            touched.append(r.delegation_id)
            outbox.extend(self._requests(r.delegation_id, writer, actions, now))
            for a in actions:
                report.by_goal[a.goal.value] = report.by_goal.get(a.goal.value, 0) + 1
                report.kinds[a.kind.value] += 1
                if a.kind.value == "SLA_WARNING":
                    report.warnings += 1
                elif a.kind.value == "SLA_BREACHED":
                    report.breaches += 1
                else:
                    report.actions += 1
        if outbox:
            conn.execute(insert(OutboxRow.__table__), outbox)  # type: ignore[attr-defined]
        return report, touched

    @staticmethod
    def _writers(conn: Any, ids: list[str]) -> dict[str, str]:
        """The court whose node writes next, for each delegation (absent: closed or not routed)."""
        table = DelegationRow.__table__  # type: ignore[attr-defined]
        found = conn.execute(
            sa_select(table.c.id, table.c.status, table.c.entrusted_court).where(
                table.c.id.in_(ids)
            )
        ).all()
        out = {}
        for row in found:
            status = Status(row.status)
            if not status.closed and status not in (Status.CREATED, Status.ROUTED):
                out[row.id] = row.entrusted_court
        return out

    def _requests(
        self, delegation_id: str, writer: str, actions: list[sla.Action], now: datetime
    ) -> list[dict[str, Any]]:
        """Outbox rows asking the writer for the owed events."""
        out = []
        for action in actions:
            body = envelopes.action_request(
                delegation_id, action.request_id, action.kind, Side.COORDINATOR, text=action.text
            )
            envelope = envelopes.envelope(writer, body, new_id())
            out.append(
                {
                    "message_id": envelope.message_id,
                    "subject": to_court(writer, Kind.REQUEST),
                    "payload": envelope.SerializeToString(deterministic=True),
                    "created_at": to_stored(now),
                    "published_at": None,
                }
            )
            log.debug(
                "sla_action",
                delegation_id=delegation_id,
                kind=action.kind.value,
                goal=action.goal.value,
            )
        return out

    def resend_unapplied(
        self,
        session: Session,
        row: DelegationRow,
        history: list[Event],
        due: Callable[[], bool] = lambda: True,
    ) -> None:
        """Actions a sweep claimed whose events never reached the history (a lost message):
        ask the writer again, under the same request ids, if ``due()`` (asked only when some
        action is missing: the caller's back-off) agrees."""
        done = sla.fired(history)
        now = self.clock.now()
        stored = session.connection().execute(_READ_CLOCKS, {"b_delegation": row.id})
        owed: list[sla.Action] = []
        for r in stored:
            v = self._view(r)
            claimed: list[sla.Action] = []
            if r.breach_fired:
                later = max(now, v.due)
                claimed = sla.owed(v, later, 0, False, self.calendar)
            elif r.warned:
                at = dict(v.warn_times()).get(r.warned)
                if at is not None:
                    claimed = sla.owed(v, at, r.warned - 1, False, self.calendar)
            owed += [a for a in claimed if a.request_id not in done]
        if owed and due():
            self._ask(session, row.id, owed)

    def _view(self, r: Any) -> sla.ClockView:
        """A clock view from a stored row (an ORM SlaClockRow or a Core row of sla_clock)."""
        return sla.ClockView(
            goal=Goal(r.goal),
            instance=r.instance,
            court=r.court,
            period=_period_from(r.period),
            on_breach=BreachAction(r.on_breach),
            warn_at=tuple(json.loads(r.warn_at or "[]")),
            source=r.source,
            started_at=to_utc(r.started_at),
            due=to_utc(r.due_at),
            original_due=to_utc(r.original_due_at),
            running=r.state in ("RUNNING", "BREACHED") and r.met_at is None,
        )

    def _ask(self, session: Session, delegation_id: str, actions: list[sla.Action]) -> None:
        """Send the owed events to the delegation's writer (the entrusted node after delivery)."""
        writer = self._writers(session.connection(), [delegation_id]).get(delegation_id)
        if writer is not None:
            rows = self._requests(delegation_id, writer, actions, self.clock.now())
            session.execute(insert(OutboxRow.__table__), rows)  # type: ignore[attr-defined]
