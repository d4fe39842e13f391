"""The board's figures and queue on PostgreSQL: the same hand-built record as the handler test
(tests/handlers/test_board.py), the same numbers (the SQL differs by dialect in its date
arithmetic)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jiaodong.app.coordinator import AgingBucket, CityFigures, Coordinator, PairFigures
from jiaodong.app.sla import SlaEngine
from jiaodong.domain.clock import ManualClock
from jiaodong.files.calendar import load_calendar
from jiaodong.files.policy import load_policy
from jiaodong.files.registry import load_registry
from jiaodong.store.database import Database
from jiaodong.store.ledger import RegionFilter
from tests.handlers.test_board import NOW, _id, _record

pytestmark = pytest.mark.postgres


@pytest.fixture
async def coordinator(postgres_url: str) -> AsyncIterator[Coordinator]:
    db = Database(postgres_url)
    db.create_schema()
    db.transaction(_record)
    clock = ManualClock(NOW)
    sla = SlaEngine(load_policy(None), load_calendar(None), clock)
    try:
        yield Coordinator(load_registry(None), db, clock, sla)
    finally:
        db.close()


async def test_the_same_figures_on_postgres(coordinator: Coordinator) -> None:
    board = await coordinator.board()
    assert board.cities[:3] == (
        CityFigures("qingdao", 1, 4, 0, 0, decided=1, met_on_time=1),
        CityFigures("yantai", 2, 2, 1, 1, decided=2, met_on_time=0),
        CityFigures("weifang", 2, 0, 1, 0, decided=3, met_on_time=1),
    )
    assert board.pairs == (
        PairFigures("qingdao", "weifang", 1, 0),
        PairFigures("qingdao", "yantai", 2, 1),
        PairFigures("yantai", "qingdao", 1, 0),
        PairFigures("yantai", "weifang", 1, 0),
    )
    assert board.aging[-1] == AgingBucket(30, None, 1)
    assert board.parked == 1


async def test_the_same_queue_on_postgres(coordinator: Coordinator) -> None:
    page = await coordinator.queue(RegionFilter(order="due"), 0, 50)
    assert [i.delegation.id for i in page.items] == [_id(n) for n in (2, 3, 1, 6, 7, 5, 4, 8, 9)]
    assert [i.level for i in page.items[:3]] == [100, 50, 75]

    async def ids(**where: object) -> list[int]:
        found = await coordinator.queue(RegionFilter(order="due", **where), 0, 50)  # type: ignore[arg-type]
        return [int(i.delegation.id, 16) for i in found.items]

    assert await ids(sla_levels=(100,)) == [2]
    assert await ids(sla_levels=(50, 75)) == [3, 1]
    assert await ids(sla_states=("PAUSED",)) == [3]
    assert await ids(case_number="执7号") == [7]
