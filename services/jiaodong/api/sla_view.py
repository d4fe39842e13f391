"""A stored delegation's time limits, as the API shows them (nodes and coordinator alike)."""

from __future__ import annotations

from datetime import datetime

from jiaodong.domain import sla
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.sla_policy import Goal, GoalPolicy, SlaPolicy
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import to_utc


def asset_key(row: DelegationRow) -> str:
    """The asset kind as the SLA policy matches it ("*" when none is given)."""
    content = pb.Delegation()
    content.ParseFromString(row.content)
    asset = pb.AssetKind.Name(content.asset_kind).removeprefix("ASSET_KIND_")
    return "*" if asset == "UNSPECIFIED" else asset


def goals_for(policy: SlaPolicy, row: DelegationRow) -> dict[Goal, GoalPolicy]:
    """The limits the policy sets for this delegation's task, asset kind and priority."""
    return policy.goals_for(row.task_type, asset_key(row), row.priority)


def sla_goals_pb(clocks: list[sla.Clock], now: datetime, cal: WorkCalendar) -> list[pb.SlaGoal]:
    """The current clocks of a delegation as SlaGoal messages."""
    out = []
    for clock in sla.current_clocks(clocks):
        goal = pb.SlaGoal(
            goal=clock.goal.value,
            instance=clock.instance,
            state=pb.SlaState.Value(f"SLA_STATE_{clock.state(now).value}"),
            period=str(clock.policy.period),
            remaining_seconds=int((clock.due - now).total_seconds()),
            remaining=sla.remaining_text(clock, now, cal) if clock.open else "",
            on_breach=clock.policy.on_breach.value,
            source=clock.policy.source,
            court=clock.court,
        )
        goal.started_at.FromDatetime(to_utc(clock.started_at))
        goal.due_at.FromDatetime(to_utc(clock.due))
        goal.original_due_at.FromDatetime(to_utc(clock.original_due))
        if clock.met_at is not None:
            goal.met_at.FromDatetime(to_utc(clock.met_at))
        out.append(goal)
    return out
