"""A small SLA report dict that follows the report schema exactly (schema_version 1): three city
pairs, three entrusted courts (one of them named in the three-week notice), two task types, two
asset kinds, four weeks with the previous period's weeks beside them, and null rates and day
figures where nothing was decided. The renderers' tests read it (tests/unit/test_report_render.py,
tests/browser/test_report_html.py)."""

from __future__ import annotations

from typing import Any

GOALS = ("acknowledge", "start", "progress", "complete", "supplement")
GOAL_NAMES = ("签收", "开始办理", "进展报告", "办结", "补正")
REASONS = {
    "NOT_OUR_JURISDICTION": "不属本院管辖",
    "MATERIALS_INCOMPLETE": "材料不全",
    "REQUEST_UNCLEAR": "委托事项不明",
    "OTHER": "其他",
}


def _rate(met: int, late: int) -> float | None:
    return None if met + late == 0 else round(met / (met + late), 4)


def _days(n: int, mean: float, median: float, p90: float) -> dict[str, Any]:
    if n == 0:
        return {"n": 0, "mean": None, "median": None, "p90": None}
    return {"n": n, "mean": mean, "median": median, "p90": p90}


def row(sent: int, completed: int, met: int, late: int, scale: float = 1.0) -> dict[str, Any]:
    """One ROW: ``met``/``late`` are the acknowledge goal's; the other goals follow from them."""
    shares = (1.0, 0.9, 0.6, 0.8, 0.0)  # no supplement decided: its rate is null
    on_time = {}
    for goal, share in zip(GOALS, shares, strict=True):
        m, lt = int(met * share), int(late * share)
        on_time[goal] = {"met": m, "late": lt, "rate": _rate(m, lt)}
    all_met = sum(g["met"] for g in on_time.values())
    all_late = sum(g["late"] for g in on_time.values())
    return {
        "sent": sent,
        "completed": completed,
        "open": sent - completed - 1 if sent > completed else 0,
        "cancelled": 1 if sent > completed else 0,
        "withdrawn": 0,
        "completion_rate": None if sent == 0 else round(completed / sent, 4),
        "on_time": on_time,
        "on_time_rate": _rate(all_met, all_late),
        "breaches": all_late,
        "acknowledge_days": _days(met + late, round(1.2 * scale, 1), 1.0, round(3.0 * scale, 1)),
        "complete_days": _days(completed, round(14.5 * scale, 1), 12.0, round(25.0 * scale, 1)),
        "returns": {
            "NOT_OUR_JURISDICTION": 1,
            "MATERIALS_INCOMPLETE": 2,
            "REQUEST_UNCLEAR": 0,
            "OTHER": 0,
        },
        "urges": late,
        "escalations": late // 3,
        "delivery": {
            "delivered": sent,
            "delayed": late // 4,
            "longest_hours": round(0.1 + 12 * scale, 1) if late >= 4 else 0.0,
        },
    }


def _pair(req: str, req_name: str, ent: str, ent_name: str) -> dict[str, Any]:
    return {
        "requesting_city": req,
        "requesting_city_name": req_name,
        "entrusted_city": ent,
        "entrusted_city_name": ent_name,
    }


def _court(rank: int, court: str, name: str, city: str, city_name: str) -> dict[str, Any]:
    return {"rank": rank, "court": court, "court_name": name, "city": city, "city_name": city_name}


def _week(
    week: str, sent: int, completed: int, rate: float | None, breaches: int
) -> dict[str, Any]:
    return {
        "week": week,
        "sent": sent,
        "completed": completed,
        "on_time_rate": rate,
        "breaches": breaches,
        "delayed_deliveries": breaches // 5,
    }


def sample_report() -> dict[str, Any]:
    """A fresh copy every call (tests may change it)."""
    return {
        "schema": "jiaodong.sla-report",
        "schema_version": 1,
        "as_of": "2026-03-31T16:00:00+00:00",
        "period": {"from": "2026-03-02", "to": "2026-03-29", "days": 28},
        "previous": {"from": "2026-02-02", "to": "2026-03-01", "days": 28},
        "scope": {"city": None, "city_name": "胶东区域"},
        "goals": [{"goal": g, "name": n} for g, n in zip(GOALS, GOAL_NAMES, strict=True)],
        "return_reasons": [{"reason": r, "name": n} for r, n in REASONS.items()],
        "totals": row(120, 100, 110, 5),
        "previous_totals": row(100, 90, 88, 8, scale=1.1),
        "pairs": [
            {
                **_pair("qingdao", "青岛", "yantai", "烟台"),
                **row(60, 55, 58, 2),
                "previous": row(50, 45, 44, 4),
            },
            {
                **_pair("yantai", "烟台", "weihai", "威海"),
                **row(40, 30, 36, 3, 1.3),
                "previous": row(35, 30, 30, 3),
            },
            {
                **_pair("weihai", "威海", "rizhao", "日照"),
                **row(20, 15, 16, 0, 0.8),
                "previous": row(0, 0, 0, 0),
            },
        ],
        "task_types": [
            {"task_type": "SEIZURE", "task_type_name": "查封/扣押/冻结", **row(70, 60, 65, 3)},
            {
                "task_type": "SERVICE_OF_DOCUMENTS",
                "task_type_name": "文书送达",
                **row(50, 40, 45, 2),
            },
        ],
        "asset_kinds": [
            {"asset_kind": "VEHICLE", "asset_kind_name": "车辆", **row(30, 25, 28, 1)},
            {"asset_kind": "UNSPECIFIED", "asset_kind_name": "未指定", **row(0, 0, 0, 0)},
        ],
        "courts": [
            {**_court(1, "370602", "烟台市芝罘区人民法院", "yantai", "烟台"), **row(60, 55, 58, 2)},
            {**_court(2, "371102", "日照市东港区人民法院", "rizhao", "日照"), **row(20, 15, 16, 0)},
            {**_court(3, "371002", "威海市环翠区人民法院", "weihai", "威海"), **row(40, 30, 36, 3)},
        ],
        "ranking": {
            "best": ["370602", "371102"],
            "worst": ["371002"],
            "late_three_weeks": [
                {
                    **{
                        k: v
                        for k, v in _court(
                            3, "371002", "威海市环翠区人民法院", "weihai", "威海"
                        ).items()
                        if k != "rank"
                    },
                    "weeks": ["2026-03-02", "2026-03-09", "2026-03-16"],
                }
            ],
        },
        "aging": [
            {
                **_pair("qingdao", "青岛", "yantai", "烟台"),
                "open": 4,
                "over_5": 3,
                "over_10": 2,
                "over_15": 1,
                "over_30": 0,
            },
            {
                **_pair("yantai", "烟台", "weihai", "威海"),
                "open": 9,
                "over_5": 7,
                "over_10": 5,
                "over_15": 3,
                "over_30": 1,
            },
        ],
        "aging_totals": {"open": 13, "over_5": 10, "over_10": 7, "over_15": 4, "over_30": 1},
        "weekly": [
            {
                **_week("2026-03-02", 30, 22, 0.95, 2),
                "previous": _week("2026-02-02", 25, 20, 0.9, 3),
            },
            {
                **_week("2026-03-09", 35, 30, 0.9143, 3),
                "previous": _week("2026-02-09", 20, 18, 0.92, 2),
            },
            {
                **_week("2026-03-16", 28, 26, 0.9565, 1),
                "previous": _week("2026-02-16", 30, 27, None, 0),
            },
            {
                **_week("2026-03-23", 27, 22, None, 0),
                "previous": _week("2026-02-23", 25, 25, 0.88, 3),
            },
        ],
    }
