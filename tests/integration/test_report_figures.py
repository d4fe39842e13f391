"""The SLA report's figures against a small data set computed by hand (docs/reports.md), on
SQLite and on PostgreSQL: facts are written through the store's bulk path, the report is the
coordinator's, as the GetSlaReport RPC returns it.

The period is the four weeks from Monday 2026-03-02 to Sunday 2026-03-29; the report is made at
noon on Tuesday 2026-03-31 (Asia/Shanghai). Qingdao Shinan (370202) sends to Yantai Zhifu (A,
370602) and to Weifang Weicheng (B, 370702)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from jiaodong.domain.clock import ManualClock
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.report import Outcome, State, week_of
from jiaodong.store import report as facts
from tests.helpers.region import InProcessRegion

AS_OF = datetime(2026, 3, 31, 4, 0, tzinfo=UTC)  # 12:00 local
QD, A, B = "370202", "370602", "370702"
MET, LATE, RUNNING = int(Outcome.MET), int(Outcome.LATE), int(Outcome.RUNNING)
CITY = {A: "yantai", B: "weifang"}


def day(text: str) -> int:
    return date.fromisoformat(text).toordinal()


def fact(n: int, to: str, sent: str, state: State, **goals: Any) -> dict[str, Any]:
    """A fact row; ``goals``: acknowledge=(outcome, due week "YYYY-MM-DD" or None, due) ...,
    and acknowledge_days / complete_days / urges / escalations / delivery_minutes (default 0:
    delivered at once)."""
    row: dict[str, Any] = {
        "delegation_id": f"d{n}",
        "requesting_court": QD,
        "requesting_city": "qingdao",
        "entrusted_court": to,
        "entrusted_city": CITY[to],
        "task_type": "SEIZURE" if n % 2 else "PROPERTY_INQUIRY",
        "asset_kind": "VEHICLE",
        "priority": "NORMAL",
        "state": int(state),
        "sent_day": day(sent),
        "sent_week": week_of(day(sent)),
        "closed_day": None,
        "acknowledge_days": goals.pop("acknowledge_days", None),
        "complete_days": goals.pop("complete_days", None),
        "returns_jurisdiction": 0,
        "returns_materials": goals.pop("returns_materials", 0),
        "returns_unclear": 0,
        "returns_other": 0,
        "urges": goals.pop("urges", 0),
        "escalations": goals.pop("escalations", 0),
        "delivery_minutes": goals.pop("delivery_minutes", 0),
    }
    for goal in ("acknowledge", "start", "progress", "complete", "supplement"):
        outcome, week, due = goals.pop(goal, (0, None, None))
        row[f"{goal}_outcome"] = outcome
        row[f"{goal}_due_week"] = week_of(day(week)) if week else None
        row[f"{goal}_due"] = due
    assert not goals, goals
    outcomes = [
        row[f"{g}_outcome"] for g in ("acknowledge", "start", "progress", "complete", "supplement")
    ]
    row["met_count"], row["late_count"] = outcomes.count(MET), outcomes.count(LATE)
    return row


ROWS = [
    fact(
        1,
        A,
        "2026-03-02",
        State.COMPLETED,
        acknowledge=(MET, "2026-03-05", None),
        start=(MET, None, None),
        complete=(MET, None, None),
        acknowledge_days=1,
        complete_days=10,
    ),
    fact(
        2,
        A,
        "2026-03-03",
        State.COMPLETED,
        acknowledge=(LATE, "2026-03-06", None),
        complete=(MET, None, None),
        acknowledge_days=4,
        complete_days=20,
        urges=1,
    ),
    fact(
        3,
        A,
        "2026-03-10",
        State.OPEN,
        acknowledge=(MET, None, None),
        acknowledge_days=2,
        complete=(RUNNING, "2026-04-20", datetime(2026, 4, 20, 16, 0, tzinfo=UTC)),
        delivery_minutes=60,  # an hour: not yet late
    ),
    # Never acknowledged: running, ran out on 2026-03-06, so late at the report's time.
    fact(
        4,
        B,
        "2026-03-02",
        State.OPEN,
        acknowledge=(RUNNING, "2026-03-05", datetime(2026, 3, 5, 16, 0, tzinfo=UTC)),
    ),
    fact(
        5,
        B,
        "2026-03-09",
        State.OPEN,
        acknowledge=(LATE, "2026-03-12", None),
        acknowledge_days=5,
        start=(RUNNING, "2026-03-24", datetime(2026, 3, 24, 16, 0, tzinfo=UTC)),
        escalations=1,
        returns_materials=1,
        delivery_minutes=61,
    ),
    # Delivered two days late: Weifang's node was down.
    fact(
        6,
        B,
        "2026-03-16",
        State.OPEN,
        acknowledge=(LATE, "2026-03-19", None),
        acknowledge_days=6,
        delivery_minutes=2880,
    ),
    # The previous period (2026-02-02 to 2026-03-01).
    fact(7, A, "2026-02-10", State.COMPLETED, acknowledge=(MET, None, None), acknowledge_days=0),
    # Sent long before: not in the period's figures, but open, so in the aging.
    fact(8, B, "2026-01-05", State.OPEN, delivery_minutes=None),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def region(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcessRegion]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
    r = InProcessRegion(tmp_path, clock=ManualClock(AS_OF), coordinator_url=url)
    try:
        r.coordinator.db.transaction(lambda s: facts.insert_facts(s, ROWS))
        yield r
    finally:
        r.close()


async def report(region: InProcessRegion, city: str | None = None) -> dict[str, Any]:
    return await region.coordinator.sla_report(date(2026, 3, 2), date(2026, 3, 29), city)


async def test_totals_rates_and_day_figures(region: InProcessRegion) -> None:
    r = await report(region)
    t = r["totals"]
    assert (t["sent"], t["completed"], t["open"]) == (6, 2, 4)
    assert t["completion_rate"] == 0.3333
    assert t["on_time"]["acknowledge"] == {"met": 2, "late": 4, "rate": 0.3333}
    assert t["on_time"]["start"] == {"met": 1, "late": 1, "rate": 0.5}
    # Delegation 3's complete limit runs to 2026-04-20: not decided yet.
    assert t["on_time"]["complete"] == {"met": 2, "late": 0, "rate": 1.0}
    assert t["on_time"]["supplement"] == {"met": 0, "late": 0, "rate": None}
    assert (t["on_time_rate"], t["breaches"]) == (0.5, 5)
    # Acknowledged after 1, 2, 4, 5, 6 working days: nearest rank, median the 3rd, p90 the 5th.
    assert t["acknowledge_days"] == {"n": 5, "mean": 3.6, "median": 4.0, "p90": 6.0}
    assert t["complete_days"] == {"n": 2, "mean": 15.0, "median": 10.0, "p90": 20.0}
    assert (t["urges"], t["escalations"]) == (1, 1)
    assert t["returns"]["MATERIALS_INCOMPLETE"] == 1
    p = r["previous_totals"]
    assert (p["sent"], p["completed"], p["on_time"]["acknowledge"]["rate"]) == (1, 1, 1.0)
    assert r["period"] == {"from": "2026-03-02", "to": "2026-03-29", "days": 28}
    assert r["previous"] == {"from": "2026-02-02", "to": "2026-03-01", "days": 28}


async def test_pairs_courts_rank_and_courts_late_three_weeks(region: InProcessRegion) -> None:
    r = await report(region)
    pairs = {(p["requesting_city"], p["entrusted_city"]): p for p in r["pairs"]}
    to_yantai, to_weifang = pairs["qingdao", "yantai"], pairs["qingdao", "weifang"]
    assert (to_yantai["sent"], to_yantai["previous"]["sent"]) == (3, 1)
    assert to_yantai["acknowledge_days"]["median"] == 2.0  # 1, 2, 4
    assert to_weifang["on_time"]["acknowledge"] == {"met": 0, "late": 3, "rate": 0.0}
    assert to_yantai["entrusted_city_name"] == "烟台市"
    courts = {c["court"]: c for c in r["courts"]}
    # A: 5 of 6 limits on time; B: none of 4.
    assert (courts[A]["rank"], courts[A]["on_time_rate"]) == (1, 0.8333)
    assert (courts[B]["rank"], courts[B]["on_time_rate"]) == (2, 0.0)
    # Only courts with at least 5 limits decided are named best or worst.
    assert r["ranking"]["best"] == [A] and r["ranking"]["worst"] == [A]
    # B let a limit run out in each of the four weeks; A in one.
    assert r["ranking"]["late_three_weeks"] == [
        {
            "court": B,
            "court_name": courts[B]["court_name"],
            "city": "weifang",
            "city_name": courts[B]["city_name"],
            "weeks": ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"],
        }
    ]


async def test_aging_counts_open_delegations_by_calendar_days(region: InProcessRegion) -> None:
    r = await report(region)
    aging = {(a["requesting_city"], a["entrusted_city"]): a for a in r["aging"]}
    # 3 is 21 days old; 4, 5, 6 are 29, 22, 15 (not over 15), 8 is 85.
    assert aging["qingdao", "yantai"] == {
        **{k: aging["qingdao", "yantai"][k] for k in aging["qingdao", "yantai"] if "name" in k},
        "requesting_city": "qingdao",
        "entrusted_city": "yantai",
        "open": 1,
        "over_5": 1,
        "over_10": 1,
        "over_15": 1,
        "over_30": 0,
    }
    w = aging["qingdao", "weifang"]
    assert [w[k] for k in ("open", "over_5", "over_10", "over_15", "over_30")] == [4, 4, 4, 3, 1]
    assert r["aging_totals"] == {"open": 5, "over_5": 5, "over_10": 5, "over_15": 4, "over_30": 1}


async def test_weekly_trend_against_the_previous_period(region: InProcessRegion) -> None:
    r = await report(region)
    weeks = {w["week"]: w for w in r["weekly"]}
    assert list(weeks) == ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
    first = weeks["2026-03-02"]
    # 1, 2 and 4: four limits met (1: three, 2: complete), two late (2 and 4 acknowledge).
    assert (first["sent"], first["completed"], first["on_time_rate"], first["breaches"]) == (
        3,
        2,
        0.6667,
        2,
    )
    assert weeks["2026-03-09"]["previous"] == {
        "week": "2026-02-09",
        "sent": 1,
        "completed": 1,
        "on_time_rate": 1.0,
        "breaches": 0,
        "delayed_deliveries": 0,
    }
    assert [w["delayed_deliveries"] for w in weeks.values()] == [0, 1, 1, 0]


async def test_late_deliveries_by_pair_with_the_longest(region: InProcessRegion) -> None:
    """Over 60 minutes from sending to the first delivery is late (5 and 6, not 3 at exactly 60);
    the longest is in hours; 8, never delivered and sent before both periods, counts nowhere."""
    r = await report(region)
    assert r["totals"]["delivery"] == {"delivered": 6, "delayed": 2, "longest_hours": 48.0}
    assert r["previous_totals"]["delivery"] == {"delivered": 1, "delayed": 0, "longest_hours": 0.0}
    pairs = {(p["requesting_city"], p["entrusted_city"]): p["delivery"] for p in r["pairs"]}
    assert pairs["qingdao", "weifang"] == {"delivered": 3, "delayed": 2, "longest_hours": 48.0}
    assert pairs["qingdao", "yantai"] == {"delivered": 3, "delayed": 0, "longest_hours": 1.0}


async def test_a_city_gets_its_own_rows(region: InProcessRegion) -> None:
    r = await report(region, "yantai")
    assert r["scope"]["city"] == "yantai"
    assert r["totals"]["sent"] == 3
    assert {(p["requesting_city"], p["entrusted_city"]) for p in r["pairs"]} == {
        ("qingdao", "yantai")
    }
    assert [c["court"] for c in r["courts"]] == [A]


async def test_bad_periods_and_cities_are_refused(region: InProcessRegion) -> None:
    with pytest.raises(InvalidInput, match="早于"):
        await region.coordinator.sla_report(date(2026, 3, 29), date(2026, 3, 2))
    with pytest.raises(InvalidInput):
        await region.coordinator.sla_report(date(2000, 1, 1), date(2026, 3, 2))
    with pytest.raises(InvalidInput):
        await region.coordinator.sla_report(date(2026, 3, 2), date(2026, 3, 29), "beijing")
