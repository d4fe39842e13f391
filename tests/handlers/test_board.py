"""The board's figures and queue against a hand-built record: rows written straight into the
coordinator's tables (delegations, stored clocks, outbox, dead letters, node contacts), so every
expected number below can be counted by hand from the table in ``_record``."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from jiaodong.app.coordinator import AgingBucket, CityFigures, Coordinator, PairFigures
from jiaodong.domain.errors import InvalidInput
from jiaodong.store import board as store_board
from jiaodong.store.ledger import RegionFilter
from jiaodong.store.tables import DeadLetterRow, DelegationRow, OutboxRow, SlaClockRow
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import draft
from tests.helpers.region import START, InProcessRegion

QD, YT, WF = "370202", "370602", "370702"
CITY = {QD: "qingdao", YT: "yantai", WF: "weifang"}
NOW = START  # Tuesday 4 March 2025, 09:00 in Shandong
D = timedelta(days=1)


def _id(n: int) -> str:
    return f"{n:032x}"


def _delegation(n: int, sent: str, to: str, status: str, created: datetime) -> DelegationRow:
    content = pb.Delegation(id=_id(n), case_number=f"(2025)鲁0202执{n}号")
    return DelegationRow(
        id=_id(n),
        request_id=f"r{n}",
        requesting_court=sent,
        requesting_city=CITY[sent],
        entrusted_court=to,
        entrusted_city=CITY.get(to, ""),
        task_type="PROPERTY_INQUIRY",
        priority="NORMAL",
        status=status,
        seq=1,
        last_hash="0" * 64,
        fingerprint="f",
        content=content.SerializeToString(),
        created_at=created,
        updated_at=created,
        case_number=content.case_number,
    )


def _clock(
    n: int,
    goal: str,
    court: str,
    state: str,
    started: datetime,
    due: datetime,
    met: datetime | None = None,
    period: str = "15 days",
) -> SlaClockRow:
    return SlaClockRow(
        delegation_id=_id(n),
        goal=goal,
        instance=1,
        court=court,
        state=state,
        period=period,
        on_breach="urge",
        started_at=started,
        due_at=due,
        original_due_at=due,
        met_at=met,
    )


def _record(session: Session) -> None:
    """n  pair      status        created   clocks (relative to now)
    1  QD -> YT  ACCEPTED      -6d       complete running -6d..+2d (75% used)
    2  QD -> YT  ACKNOWLEDGED  -12d      start running due -1d (breached); complete due +20d
    3  YT -> WF  RETURNED      -40d      progress paused (due -5d: not breached);
                                          supplement running -1d..+1d (50% used)
    4  WF -> QD  CONFIRMED     -20d      complete met -3d, due -1d (on time)
    5  QD -> WF  COMPLETED     -6d       complete met -1d, due -2d (late);
                                          start met -5d, due +5d (on time)
    6  QD        CREATED       -1h       none (not routed)
    7  YT -> QD  ROUTED        -1d       acknowledge of Weifang's court before the reroute,
                                          ended past due: not running (the old court's), but
                                          a breach Weifang decided in the window
    8  QD -> YT  CANCELLED     -25d      start unmet, due -2d (breached, decided in window)
    9  QD -> YT  CONFIRMED     -60d      complete met -40d (outside the 30-day window)
    """
    session.add_all(
        [
            _delegation(1, QD, YT, "ACCEPTED", NOW - 6 * D),
            _delegation(2, QD, YT, "ACKNOWLEDGED", NOW - 12 * D),
            _delegation(3, YT, WF, "RETURNED", NOW - 40 * D),
            _delegation(4, WF, QD, "CONFIRMED", NOW - 20 * D),
            _delegation(5, QD, WF, "COMPLETED", NOW - 6 * D),
            _delegation(6, QD, "", "CREATED", NOW - timedelta(hours=1)),
            _delegation(7, YT, QD, "ROUTED", NOW - D),
            _delegation(8, QD, YT, "CANCELLED", NOW - 25 * D),
            _delegation(9, QD, YT, "CONFIRMED", NOW - 60 * D),
        ]
    )
    session.flush()
    session.add_all(
        [
            _clock(1, "complete", YT, "RUNNING", NOW - 6 * D, NOW + 2 * D),
            _clock(2, "start", YT, "RUNNING", NOW - 12 * D, NOW - D),
            _clock(2, "complete", YT, "RUNNING", NOW - 12 * D, NOW + 20 * D),
            _clock(3, "progress", WF, "PAUSED", NOW - 40 * D, NOW - 5 * D),
            _clock(3, "supplement", WF, "RUNNING", NOW - D, NOW + D),
            _clock(4, "complete", QD, "MET", NOW - 20 * D, NOW - D, met=NOW - 3 * D),
            _clock(5, "complete", WF, "BREACHED", NOW - 6 * D, NOW - 2 * D, met=NOW - D),
            _clock(5, "start", WF, "MET", NOW - 6 * D, NOW + 5 * D, met=NOW - 5 * D),
            _clock(7, "acknowledge", WF, "BREACHED", NOW - 9 * D, NOW - 2 * D),
            _clock(8, "start", YT, "BREACHED", NOW - 25 * D, NOW - 2 * D),
            _clock(9, "complete", YT, "MET", NOW - 60 * D, NOW - 30 * D, met=NOW - 40 * D),
        ]
    )
    session.add(
        OutboxRow(message_id="m1", subject=f"jd.v1.court.{YT}.sync", payload=b"", created_at=NOW)
    )
    session.add(
        OutboxRow(
            message_id="m2",
            subject=f"jd.v1.court.{QD}.sync",
            payload=b"",
            created_at=NOW,
            published_at=NOW,
        )
    )
    session.add(
        DeadLetterRow(
            subject=f"jd.v1.coord.{YT}.sync", reason="bad", payload=b"x", parked_at=NOW - D
        )
    )
    store_board.note_contact(session, "node-qingdao", QD, NOW - timedelta(seconds=10))
    store_board.note_contact(session, "node-yantai", YT, NOW - timedelta(minutes=5))


@pytest.fixture
def coordinator(region: InProcessRegion) -> Coordinator:
    coord = region.coordinator
    coord.db.transaction(_record)
    return coord


async def test_city_figures_count_by_hand(coordinator: Coordinator) -> None:
    board = await coordinator.board()
    assert board.at == NOW
    # Three working days after Tuesday 4 March 2025: the end of Friday 7 March, Shandong time.
    assert board.due_soon_by == datetime.fromisoformat("2025-03-07T16:00:00+00:00")
    assert board.cities == (
        CityFigures("qingdao", 1, 4, 0, 0, decided=1, met_on_time=1),
        CityFigures("yantai", 2, 2, 1, 1, decided=2, met_on_time=0),
        # Weifang's court also let the acknowledge clock of 7 run out before the reroute: that
        # breach is its own, decided in the window, though no longer on the board as open.
        CityFigures("weifang", 2, 0, 1, 0, decided=3, met_on_time=1),
        CityFigures("weihai", 0, 0, 0, 0, decided=0, met_on_time=0),
        CityFigures("rizhao", 0, 0, 0, 0, decided=0, met_on_time=0),
    )
    assert board.cities[1].on_time_rate == 0.0
    assert board.cities[3].on_time_rate is None
    assert board.pairs == (
        PairFigures("qingdao", "weifang", 1, 0),
        PairFigures("qingdao", "yantai", 2, 1),
        PairFigures("yantai", "qingdao", 1, 0),
        PairFigures("yantai", "weifang", 1, 0),
    )
    assert board.aging == (
        AgingBucket(5, 10, 2),
        AgingBucket(10, 15, 1),
        AgingBucket(15, 30, 0),
        AgingBucket(30, None, 1),
    )
    assert board.parked == 1
    assert any("1 message(s) parked" in n for n in board.notices)


async def test_a_longer_window_counts_the_older_clock(coordinator: Coordinator) -> None:
    board = await coordinator.board(window_days=45)
    assert board.cities[1] == CityFigures("yantai", 2, 2, 1, 1, decided=3, met_on_time=1)


async def test_node_health(coordinator: Coordinator) -> None:
    nodes = {n.city: n for n in (await coordinator.board()).nodes}
    qd, yt, wf = nodes["qingdao"], nodes["yantai"], nodes["weifang"]
    assert (qd.last_seen, qd.offline, qd.offline_since) == (
        NOW - timedelta(seconds=10),
        False,
        None,
    )
    # Nothing for 5 minutes, more than 3 reconciliation intervals of 30 s: offline since then.
    assert (yt.offline, yt.offline_since) == (True, NOW - timedelta(minutes=5))
    assert (wf.last_seen, wf.offline, wf.offline_since) == (None, True, None)
    assert (qd.unpublished, yt.unpublished) == (0, 1)
    assert (qd.undelivered, yt.undelivered) == (1, 0)
    assert qd.parked is None  # the nodes do not report their dead letters


async def test_a_city_sees_its_own_figures_only(coordinator: Coordinator) -> None:
    board = await coordinator.board("weifang")
    assert [c.city for c in board.cities] == ["weifang"]
    assert [(p.from_city, p.to_city) for p in board.pairs] == [
        ("qingdao", "weifang"),
        ("yantai", "weifang"),
    ]
    # Open delegations touching Weifang: 3 (40 days) and 5 (6 days).
    assert [b.count for b in board.aging] == [1, 0, 0, 1]
    assert [n.node for n in board.nodes] == ["node-weifang"]
    assert board.parked == 0  # the one dead letter came from a Yantai court
    assert (await coordinator.board("yantai")).parked == 1


async def test_bad_board_input_is_refused(coordinator: Coordinator) -> None:
    with pytest.raises(InvalidInput) as caught:
        await coordinator.board("beijing", window_days=0)
    assert {v.field for v in caught.value.violations} == {"city", "window_days"}


async def test_queue_is_sorted_by_time_left(coordinator: Coordinator) -> None:
    page = await coordinator.queue(RegionFilter(order="due"), 0, 50)
    assert [i.delegation.id for i in page.items] == [_id(n) for n in (2, 3, 1, 6, 7, 5, 4, 8, 9)]
    assert (page.total, page.more, page.capped) == (9, False, False)
    first, second, third = page.items[:3]
    assert (first.goal, first.level, first.next_due, first.working_days_left) == (
        "start",
        100,
        NOW - D,
        0,
    )
    assert (second.goal, second.level, second.working_days_left) == ("supplement", 50, 1)
    assert (third.goal, third.level, third.working_days_left) == ("complete", 75, 2)
    assert third.seconds_left == 2 * 86400
    assert page.items[3].next_due is None and page.items[3].level == 0


async def test_queue_filters(coordinator: Coordinator) -> None:
    async def ids(**where: object) -> list[int]:
        page = await coordinator.queue(RegionFilter(order="due", **where), 0, 50)  # type: ignore[arg-type]
        return [int(i.delegation.id, 16) for i in page.items]

    assert await ids(sla_levels=(100,)) == [2]
    assert await ids(sla_levels=(50, 75)) == [3, 1]
    assert await ids(sla_states=("PAUSED",)) == [3]
    assert await ids(sla_states=("RUNNING",)) == [3, 1]
    assert await ids(sla_states=("BREACHED",)) == [2]
    assert await ids(touching="weifang") == [3, 5, 4]
    assert await ids(from_city="qingdao", to_city="yantai", statuses=("ACCEPTED",)) == [1]
    assert await ids(court=WF) == [3, 5, 4]
    assert await ids(created_from=NOW - 7 * D, created_to=NOW - 2 * D) == [1, 5]
    assert await ids(case_number="执7号") == [7]
    assert await ids(case_number="%") == []
    page = await coordinator.queue(RegionFilter(order="due"), 2, 2)
    assert [int(i.delegation.id, 16) for i in page.items] == [1, 6] and page.more


async def test_bad_queue_filters_are_refused(coordinator: Coordinator) -> None:
    with pytest.raises(InvalidInput) as caught:
        await coordinator.queue(
            RegionFilter(
                from_city="x",
                court="999999",
                created_from=NOW,
                created_to=NOW,
                case_number="执\x00",
            ),
            0,
            0,
        )
    assert {v.field for v in caught.value.violations} == {
        "from_city",
        "court_id",
        "created_before",
        "case_number",
    }


async def test_messages_from_a_node_are_its_last_contact(region: InProcessRegion) -> None:
    coord = region.coordinator
    assert all(n.last_seen is None for n in (await coord.board()).nodes)
    await region.node("qingdao").create(QD, draft())
    await region.settle()
    nodes = {n.city: n for n in (await coord.board()).nodes}
    assert (nodes["qingdao"].last_seen, nodes["qingdao"].offline) == (region.clock.now(), False)
    # Yantai's node stored the offer and sent its receipt.
    assert nodes["yantai"].last_seen == region.clock.now()
    region.clock.advance(timedelta(minutes=2))
    nodes = {n.city: n for n in (await coord.board()).nodes}
    assert nodes["qingdao"].offline_since == region.clock.now() - timedelta(minutes=2)


async def test_a_node_reports_its_parked_messages_in_its_digests(region: InProcessRegion) -> None:
    coord = region.coordinator
    node_db = region.service("qingdao").db
    node_db.transaction(
        lambda s: s.add(
            DeadLetterRow(subject=f"jd.v1.court.{QD}.sync", reason="x", payload=b"", parked_at=NOW)
        )
    )
    await region.reconcile("qingdao")
    await region.settle()
    nodes = {n.city: n for n in (await coord.board()).nodes}
    assert (nodes["qingdao"].parked, nodes["qingdao"].parked_at) == (1, region.clock.now())
    assert nodes["yantai"].parked is None  # it has sent no digest
