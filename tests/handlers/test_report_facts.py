"""The coordinator keeps each delegation's report fact in step with its history and clocks
(store/report.py), and gives facts to delegations stored before facts existed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from jiaodong.app.node import Step
from jiaodong.domain.lifecycle import EventKind
from jiaodong.domain.report import Outcome, State
from jiaodong.store.tables import ReportFactRow
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import InProcessRegion

QD, YT = "370202", "370602"


def fact(region: InProcessRegion, delegation_id: str) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any]:
        row = session.connection().execute(
            select(ReportFactRow.__table__).where(  # type: ignore[attr-defined]
                ReportFactRow.delegation_id == delegation_id  # type: ignore[arg-type]
            )
        )
        return dict(row.one()._mapping)

    return region.coordinator.db.transaction(read)


async def test_the_fact_follows_the_delegation(region: InProcessRegion) -> None:
    qingdao, yantai = region.node("qingdao"), region.node("yantai")
    d, _ = await qingdao.create(QD, draft(priority=pb.PRIORITY_NORMAL))
    await region.settle()
    delivered = fact(region, d.id)
    assert delivered["state"] == State.OPEN
    assert delivered["entrusted_city"] == "yantai"
    assert delivered["acknowledge_outcome"] == Outcome.RUNNING
    assert delivered["acknowledge_due"] is not None

    # Tuesday 4 March 2025 -> acknowledged on Monday 10 March: 4 working days, over the 3 allowed.
    region.clock.advance(timedelta(days=6))  # type: ignore[attr-defined]
    await yantai.act(YT, d.id, Step(EventKind.ACKNOWLEDGED))
    await yantai.act(YT, d.id, Step(EventKind.ACCEPTED))
    region.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    await yantai.act(YT, d.id, Step(EventKind.COMPLETED, "已扣押", result="DONE"))
    await region.settle()

    done = fact(region, d.id)
    assert done["state"] == State.COMPLETED
    assert (done["acknowledge_days"], done["complete_days"]) == (4, 5)
    assert done["acknowledge_outcome"] == Outcome.LATE
    assert done["start_outcome"] == done["complete_outcome"] == Outcome.MET

    report = await region.coordinator.sla_report(date(2025, 3, 1), date(2025, 3, 31))
    assert report["totals"]["on_time"]["acknowledge"] == {"met": 0, "late": 1, "rate": 0.0}
    assert report["totals"]["complete_days"]["median"] == 5.0


async def test_delegations_without_a_fact_get_one_and_the_same_one(
    region: InProcessRegion,
) -> None:
    ids = [(await region.node("qingdao").create(QD, draft()))[0].id for _ in range(3)]
    await region.settle()
    before = {i: fact(region, i) for i in ids}
    region.coordinator.db.transaction(
        lambda s: s.connection().execute(delete(ReportFactRow.__table__))  # type: ignore[attr-defined]
    )

    assert await region.coordinator.backfill_facts() == 3
    assert {i: fact(region, i) for i in ids} == before
    assert await region.coordinator.backfill_facts() == 0


async def test_a_delivery_held_up_by_a_node_outage_shows_in_the_fact_and_the_report(
    region: InProcessRegion,
) -> None:
    """Yantai's node is down for two days: the coordinator routes at once, but the delivery (the
    node's receipt) comes when the node is back; the fact holds the minutes in between."""
    on_time, _ = await region.node("qingdao").create(QD, draft())
    await region.settle()
    region.down("node-yantai")
    held, _ = await region.node("qingdao").create(QD, draft())
    await region.settle()
    assert fact(region, held.id)["delivery_minutes"] is None
    region.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    region.up("node-yantai")
    await region.settle()

    assert fact(region, on_time.id)["delivery_minutes"] == 0
    assert fact(region, held.id)["delivery_minutes"] == 2 * 24 * 60
    report = await region.coordinator.sla_report(date(2025, 3, 1), date(2025, 3, 31))
    assert report["totals"]["delivery"] == {"delivered": 2, "delayed": 1, "longest_hours": 48.0}
    assert sum(w["delayed_deliveries"] for w in report["weekly"]) == 1
