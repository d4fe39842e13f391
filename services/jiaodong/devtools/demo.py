"""The five-city demo: simulated officers send and handle delegations between every pair of cities,
then every delegation is checked on the requesting node, the entrusted node and the coordinator.

Data is fictitious: names are drawn from a list, ID numbers are generated with correct check
characters for the cities' area codes, and nothing here is logged.
"""

from __future__ import annotations

import random
import statistics
import time as time_module
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from jiaodong.devtools import schedule as sch
from jiaodong.devtools.demo_assistance import assistance_walk, fetch
from jiaodong.devtools.fakes import (
    COMPANIES,
    GIVEN,
    PLATE_LETTERS,
    SURNAMES,
    credit_code,
    resident_id,
)
from jiaodong.devtools.layout import Layout
from jiaodong.devtools.scenario import TASK_TYPES, Scenario, TaskMix
from jiaodong.devtools.simulate import Driver
from jiaodong.devtools.simulate import Plan as SimPlan
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.labels import (
    ASSET,
    DEFAULT_LANG,
    EVENT,
    MEASURE,
    SLA_GOAL,
    SLA_STATE,
    STATUS,
    Lang,
    label,
    pick,
)
from jiaodong.domain.registry import Court, Registry
from jiaodong.domain.registry_document import AUTO
from jiaodong.files.calendar import load_calendar
from jiaodong.files.clock import FileClock
from jiaodong.files.policy import load_policy
from jiaodong.files.registry import load_registry
from jiaodong.security.clients import act_as
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb

TASKS: list[tuple[int, tuple[int, ...]]] = [
    (
        pb.TASK_TYPE_PROPERTY_INQUIRY,
        (
            pb.ASSET_KIND_REAL_ESTATE,
            pb.ASSET_KIND_EQUITY,
            pb.ASSET_KIND_DEPOSIT,
            pb.ASSET_KIND_VEHICLE,
        ),
    ),
    (
        pb.TASK_TYPE_SEIZURE,
        (
            pb.ASSET_KIND_VEHICLE,
            pb.ASSET_KIND_REAL_ESTATE,
            pb.ASSET_KIND_EQUITY,
            pb.ASSET_KIND_DEPOSIT,
        ),
    ),
    (pb.TASK_TYPE_ON_SITE_INSPECTION, (pb.ASSET_KIND_REAL_ESTATE, pb.ASSET_KIND_OTHER)),
    (pb.TASK_TYPE_HANDOVER, (pb.ASSET_KIND_REAL_ESTATE, pb.ASSET_KIND_VEHICLE)),
    (pb.TASK_TYPE_FORCED_EVICTION, (pb.ASSET_KIND_REAL_ESTATE,)),
    (pb.TASK_TYPE_SERVICE_OF_DOCUMENTS, (pb.ASSET_KIND_UNSPECIFIED,)),
]
FINAL = (pb.STATUS_CONFIRMED, pb.STATUS_CANCELLED, pb.STATUS_ROUTING_FAILED)
# Characters of a unified social credit code (GB 32100-2015: digits and letters but I, O, S, V, Z).


@dataclass
class Plan:
    """What the simulated officers will do with one delegation."""

    index: int
    from_court: Court
    to_city: str
    request: api.CreateDelegationRequest
    fate: str  # see FATES
    report_progress: bool
    result: int


# What simulated officers do with a delegation, and how often. "idle": the entrusted court does
# nothing until the demo moves virtual time a month on (its limits run out: warnings, breaches,
# automatic urges and escalation), then handles it. "abandon": returned for missing materials and
# never supplemented, so it is withdrawn when the supplement limit runs out.
FATES = (("cancel", 0.06), ("return", 0.12), ("urge", 0.12), ("idle", 0.08), ("abandon", 0.03))
SLOW_FATES = ("idle", "abandon")


def pick_fate(roll: float) -> str:
    for fate, share in FATES:
        if roll < share:
            return fate
        roll -= share
    return "normal"


def make_plans(registry: Registry, n: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    cities = list(registry.cities)
    pairs = [(a, b) for a in cities for b in cities if a != b]
    rng.shuffle(pairs)
    plans = []
    for i in range(n):
        from_city, to_city = pairs[i % len(pairs)]
        from_court = rng.choice(registry.courts_in_city(from_city))
        basic = [c for c in registry.courts_in_city(to_city) if c.districts]
        chosen = rng.choice(basic)
        roll = rng.random()
        if roll < 0.7:
            target = pb.Target(city=to_city, district=chosen.districts[0])
        elif roll < 0.85:
            target = pb.Target(city=to_city)
        else:
            target = pb.Target(court_id=chosen.court_id)
        task, assets = TASKS[i % len(TASKS)]
        asset = rng.choice(assets)
        area = rng.choice(registry.courts_in_city(to_city)).court_id
        if rng.random() < 0.7:
            name = rng.choice(SURNAMES) + "".join(
                rng.choice(GIVEN) for _ in range(rng.randint(1, 2))
            )
            debtor = pb.Party(
                person=pb.Person(name=name, resident_id=resident_id(rng, area)),
                phone=f"1380013{rng.randint(0, 9999):04d}",
            )
        else:
            debtor = pb.Party(
                organisation=pb.Organisation(
                    name=f"{registry.city(to_city).name_zh}{rng.choice(COMPANIES)}有限公司",
                    social_credit_code=credit_code(rng, area),
                )
            )
        plate = ""
        if asset == pb.ASSET_KIND_VEHICLE:
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
            plate = "鲁" + PLATE_LETTERS[to_city] + "".join(rng.choice(letters) for _ in range(5))
        request = api.CreateDelegationRequest(
            request_id=f"demo-{seed}-{i}",
            case_number=f"(2026){from_court.case_code}执{rng.randint(1, 9999)}号",
            target=target,
            task_type=task,  # type: ignore[arg-type]
            asset_kind=asset,  # type: ignore[arg-type]
            debtor=debtor,
            place=pb.Place(
                address=f"{chosen.districts[0]}某路{rng.randint(1, 300)}号",
                district=chosen.districts[0],
            ),
            requested_actions="请协助办理委托事项（演示数据）",
            priority=pb.PRIORITY_URGENT if rng.random() < 0.2 else pb.PRIORITY_NORMAL,
            plate=plate,
        )
        fate = pick_fate(rng.random())
        result = rng.choices(
            [
                pb.COMPLETION_RESULT_DONE,
                pb.COMPLETION_RESULT_PARTLY_DONE,
                pb.COMPLETION_RESULT_NOT_POSSIBLE,
            ],
            weights=[80, 15, 5],
        )[0]
        plans.append(Plan(i, from_court, to_city, request, fate, rng.random() < 0.5, result))
    return plans


def meta(court: str) -> list[tuple[str, str]]:
    """Act as ``court``: the call presents that court's officer certificate (see ChannelPool)."""
    return act_as(court)


class Agreement:
    """What the agreement check asks with: stubs of every node and of the coordinator, and the
    delegations the demo created (by plan index)."""

    def __init__(self, layout: Layout, registry: Registry) -> None:
        self.registry = registry
        clients = layout.clients()
        self.pool, self.nodes, self.coordinator = clients.pool, clients.nodes, clients.coordinator
        self.created: dict[int, pb.Delegation] = {}

    async def close(self) -> None:
        await self.pool.close()


async def check_agreement(sim: Agreement) -> dict[str, Any]:
    """Ask all three sides about every delegation; count lost, duplicated, disagreeing."""
    lost = duplicated = disagree = 0
    finals: Counter[str] = Counter()
    views: dict[int, pb.Delegation] = {}
    for index, d in sorted(sim.created.items()):
        req_city = sim.registry.court(d.requesting_court).city
        coord = await fetch(sim.coordinator, capi.CoordinatorGetDelegationRequest(id=d.id), None)
        requester = await fetch(
            sim.nodes[req_city], api.GetDelegationRequest(id=d.id), d.requesting_court
        )
        entrusted = None
        if coord is not None and coord.entrusted_court:
            city = sim.registry.court(coord.entrusted_court).city
            entrusted = await fetch(
                sim.nodes[city], api.GetDelegationRequest(id=d.id), coord.entrusted_court
            )
        sides = [coord, requester, entrusted]
        if any(s is None for s in sides):
            lost += 1
            continue
        assert coord is not None and requester is not None and entrusted is not None
        views[index] = coord
        if coord.status not in FINAL:
            lost += 1
        histories = [[e.hash for e in s.history] for s in (coord, requester, entrusted)]
        statuses = {s.status for s in (coord, requester, entrusted)}
        if len(statuses) != 1 or histories[0] != histories[1] or histories[0] != histories[2]:
            disagree += 1
        for s in (coord, requester, entrusted):
            ids = [e.event_id for e in s.history]
            requests = [e.request_id for e in s.history if e.request_id]
            if len(ids) != len(set(ids)) or len(requests) != len(set(requests)):
                duplicated += 1
                break
        finals[pb.Status.Name(coord.status).removeprefix("STATUS_").lower()] += 1
    total = (
        await sim.coordinator.ListDelegations(capi.CoordinatorListDelegationsRequest(page_size=1))
    ).total
    if total > len(sim.created):
        duplicated += total - len(sim.created)
    for city, stub in sim.nodes.items():
        for court in sim.registry.courts_in_city(city):
            sent = await _count_sent(stub, court.court_id)
            expected = sum(1 for d in sim.created.values() if d.requesting_court == court.court_id)
            if sent > expected:
                duplicated += sent - expected
    return {
        "lost": lost,
        "duplicated": duplicated,
        "disagree": disagree,
        "final": dict(finals),
        "views": views,
    }


async def _count_sent(stub: ngrpc.CourtNodeServiceStub, court: str) -> int:
    count, token = 0, ""
    while True:
        page = await stub.ListDelegations(
            api.ListDelegationsRequest(
                direction=api.DIRECTION_SENT, page_size=500, page_token=token
            ),
            metadata=meta(court),
        )
        count += len(page.delegations)
        token = page.next_page_token
        if not token:
            return count


def pair_rows(
    plans: list[Plan], views: dict[int, pb.Delegation], registry: Registry
) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "confirmed": 0, "cancelled": 0, "returned": 0, "urged": 0, "_t": []}
    )
    for plan in plans:
        d = views.get(plan.index)
        to_city = (
            registry.court(d.entrusted_court).city if d and d.entrusted_court else plan.to_city
        )
        row = rows[(plan.from_court.city, to_city)]
        row["count"] += 1
        if d is None:
            continue
        kinds = {e.kind for e in d.history}
        row["confirmed"] += d.status == pb.STATUS_CONFIRMED
        row["cancelled"] += d.status == pb.STATUS_CANCELLED
        row["returned"] += pb.EVENT_KIND_RETURNED in kinds
        row["urged"] += pb.EVENT_KIND_URGED in kinds
        if d.history:
            start = d.history[0].at.ToDatetime()
            end = d.history[-1].at.ToDatetime()
            row["_t"].append((end - start).total_seconds())
    out = []
    for (a, b), row in sorted(rows.items()):
        times = row.pop("_t")
        row["median_hours"] = round(statistics.median(times) / 3600, 1) if times else None
        out.append({"from": a, "to": b, **row})
    return out


# Virtual time of the demo: Monday 2025-09-22 09:00 in Shanghai, the week before the National Day
# holiday. Time stands still (FileClock rate 0) and the simulator's driver moves it on once the
# region is quiescent (devtools/simulate.py), so one seed gives the same figures in every run.
VIRTUAL_START = datetime(2025, 9, 22, 1, 0, tzinfo=UTC)
# The demo's officers are quick (working days, [low, high]), but an idle court leaves its
# delegation untouched this many working days first: its limits run out (warnings, breaches,
# automatic urges, 督办), then it handles it.
DEMO_DELAYS = {
    "acknowledge": (0, 1),
    "accept": (0, 2),
    "progress": (1, 3),
    "confirm": (0, 1),
    "supplement": (0, 2),
    "cancel": (0, 1),
    "urge": (0, 1),
}
IDLE_HOLD = 23
# Delegations created per slot of the first days.
PER_SLOT = 50


def demo_scenario() -> Scenario:
    """The officers' timing for the demo (the plans themselves come from make_plans)."""
    slots = (time(9), time(11), time(14), time(16))
    return Scenario(
        start=VIRTUAL_START.astimezone(sch.SHANGHAI).date(),
        slots=slots,
        volume={},
        court_weights={},
        city_weights={},
        tasks=tuple(TaskMix(task, 1.0, {"unspecified": 1.0}, (1, 5)) for task in TASK_TYPES),
        delays=dict(DEMO_DELAYS),
        shares={},
        return_reasons={},
        results={},
        slow_court="",
        slow_multiplier=1.0,
        outage=None,
        sla_steps="ticks",
    )


def driver_plans(
    plans: list[Plan], calendar: WorkCalendar, slots: tuple[time, ...]
) -> list[tuple[datetime, SimPlan]]:
    """The demo's plans as the driver's: created ``PER_SLOT`` at a time from the first slot."""
    out = []
    at = sch.first_slot_from(calendar, VIRTUAL_START, slots)
    for plan in plans:
        if plan.index and plan.index % PER_SLOT == 0:
            at = sch.officer_time(calendar, at, 0, slots, sch.rng(0, "demo"))
        returned = "MATERIALS_INCOMPLETE" if plan.fate in ("return", "abandon") else ""
        sim = SimPlan(
            serial=plan.index,
            key=f"demo/{plan.index}",
            from_court=plan.from_court,
            to_city=plan.to_city,
            task=pb.TaskType.Name(plan.request.task_type).removeprefix("TASK_TYPE_").lower(),
            request=plan.request,
            returned=returned,
            supplemented=plan.fate == "return",
            urge=plan.fate == "urge",
            cancel=plan.fate == "cancel",
            progress=plan.report_progress,
            result=pb.CompletionResult.Name(plan.result).removeprefix(  # type: ignore[arg-type]
                "COMPLETION_RESULT_"
            ),
            hold=IDLE_HOLD if plan.fate == "idle" else 0,
        )
        out.append((at, sim))
    return out


async def run_demo(
    layout: Layout,
    n: int,
    seed: int,
    *,
    clock_file: Path,
    concurrency: int = 40,
    progress: Console | None = None,
) -> dict[str, Any]:
    """Send ``n`` delegations with the fates of make_plans and let the simulated officers handle
    them on frozen virtual time (the simulator's driver) until every one is closed; then check
    that all three sides agree."""
    registry = load_registry()
    calendar = load_calendar()
    plans = make_plans(registry, n, seed)
    scenario = demo_scenario()
    FileClock.write(clock_file, VIRTUAL_START, 0.0)
    driver = Driver(
        layout,
        registry,
        calendar,
        scenario,
        seed,
        clock_file,
        days=240,
        progress=progress,
        plans=driver_plans(plans, calendar, scenario.slots),
        concurrency=concurrency,
    )
    started = time_module.monotonic()
    if progress:
        progress.print(f"simulated officers handling {n} delegations (seed {seed}) ...")
    await driver.run()
    traffic_seconds = time_module.monotonic() - started
    agreement = Agreement(layout, registry)
    try:
        for serial, t in driver.tracked.items():
            if t.id:
                agreement.created[serial] = pb.Delegation(
                    id=t.id, requesting_court=t.plan.from_court.court_id
                )
        checked = await check_agreement(agreement)
    finally:
        await agreement.close()
    if progress:
        progress.print("on-site assistance: three courts ask another city's court to assist ...")
    assistance = await assistance_walk(
        layout, registry, calendar, load_policy().assistance, clock_file
    )
    errors = [
        f"{what} refused ({count}x, {day})"
        for day, counts in sorted(driver.trace.refused.items())
        for what, count in sorted(counts.items())
    ]
    views = checked.pop("views")
    cities = sorted(registry.cities)
    pairs = pair_rows(plans, views, registry)
    return {
        "cities": len(cities),
        "city_names": cities,
        "delegations": n,
        "created": len(agreement.created),
        "final": checked["final"],
        "agree": checked["disagree"] == 0 and not errors,
        "disagree": checked["disagree"],
        "lost": checked["lost"] + (n - len(agreement.created)),
        "duplicated": checked["duplicated"],
        "errors": errors[:20],
        "pairs": pairs,
        "sla": sla_summary(views),
        "automatic": automatic_actions(views),
        "registries": registry_answers(views, registry),
        "assistance": assistance,
        "virtual_time": {
            "start": VIRTUAL_START.isoformat(),
            "end": FileClock(clock_file).now().isoformat(timespec="seconds"),
        },
        "steps": driver.figures.steps,
        "traffic_seconds": round(traffic_seconds, 1),
        "seed": seed,
    }


def sla_summary(views: dict[int, pb.Delegation]) -> dict[str, dict[str, int]]:
    """Per goal: clocks met in time, limits breached (every breach in the histories, including
    earlier runnings of a goal), and current clocks still running, paused or cancelled."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for d in views.values():
        for goal in d.sla:
            state = pb.SlaState.Name(goal.state).removeprefix("SLA_STATE_").lower()
            if state != "breached":
                out[goal.goal][state] += 1
        for e in d.history:
            if e.kind == pb.EVENT_KIND_SLA_BREACHED and e.request_id.startswith("sla-"):
                out[e.request_id.split("-")[1]]["breached"] += 1
    order = ["acknowledge", "start", "progress", "complete", "inaction", "supplement"]
    return {g: dict(out[g]) for g in order if g in out}


def automatic_actions(views: dict[int, pb.Delegation]) -> dict[str, int]:
    """SLA events in the histories: warnings, breaches, automatic urges, escalations and more."""
    counts: Counter[str] = Counter()
    for d in views.values():
        for e in d.history:
            if e.request_id.startswith("sla-"):
                counts[pb.EventKind.Name(e.kind).removeprefix("EVENT_KIND_").lower()] += 1
    return dict(counts)


def registry_answers(views: dict[int, pb.Delegation], registry: Registry) -> dict[str, Any]:
    """Delegations the entrusted node answered through its city's registries (网络查控: no
    officer acted), by entrusted city and by asset kind, and those it handed to officers when a
    registry kept failing."""
    cities: Counter[str] = Counter()
    assets: Counter[str] = Counter()
    handed = 0
    controls = 0
    for d in views.values():
        controls += sum(len(e.controls) for e in d.history)
        auto = [e for e in d.history if e.text.startswith(AUTO)]
        if any(e.kind == pb.EVENT_KIND_COMPLETED for e in auto):
            cities[registry.court(d.entrusted_court).city] += 1
            assets[pb.AssetKind.Name(d.asset_kind).removeprefix("ASSET_KIND_").lower()] += 1
        elif any("人工办理" in e.text for e in auto):
            handed += 1
    return {
        "answered": sum(cities.values()),
        "by_city": dict(sorted(cities.items())),
        "by_asset": dict(sorted(assets.items())),
        "handed_to_officers": handed,
        # Seizures and freezes recorded with their terms: the coordinator watches their end.
        "controls_recorded": controls,
    }


def print_report(
    console: Console,
    report: dict[str, Any],
    lang: Lang = DEFAULT_LANG,
    city_names: dict[str, str] | None = None,
) -> None:
    """The demo's tables and lines for people: simplified Chinese unless ``lang`` is English
    (the CLI's --lang / JD_LANG); ``city_names``: city id -> Chinese name."""
    names = city_names or {}

    def w(zh: str, en: str) -> str:
        return pick(lang, zh, en)

    def city(c: str) -> str:
        return names.get(c, c) if lang is Lang.ZH else c

    table = Table(
        title=w(
            f"按城市对统计的委托（共发出 {report['delegations']} 件，随机种子 {report['seed']}）",
            f"Delegations by city pair ({report['delegations']} sent, seed {report['seed']})",
        )
    )
    columns = (
        ("委托城市", "from"),
        ("受托城市", "to"),
        ("件数", "count"),
        ("已确认", "confirmed"),
        ("已撤回", "cancelled"),
        ("退回", "returned"),
        ("催办", "urged"),
        ("中位用时（小时）", "median h"),
    )
    for i, (zh, en) in enumerate(columns):
        table.add_column(w(zh, en), justify="left" if i < 2 else "right")
    for row in report["pairs"]:
        table.add_row(
            city(row["from"]),
            city(row["to"]),
            str(row["count"]),
            str(row["confirmed"]),
            str(row["cancelled"]),
            str(row["returned"]),
            str(row["urged"]),
            "-" if row["median_hours"] is None else f"{row['median_hours']:.1f}",
        )
    console.print(table)
    sla = Table(
        title=w(
            "办理时限（协调中心计时，官方工作日日历）",
            "Time limits (coordinator's clocks, official working-day calendar)",
        )
    )
    states = ("met", "breached", "running", "paused", "cancelled")
    sla.add_column(w("时限", "goal"))
    for state in states:
        sla.add_column(label(SLA_STATE, state.upper(), lang), justify="right")
    for goal, counts in report["sla"].items():
        sla.add_row(label(SLA_GOAL, goal, lang), *(str(counts.get(k, 0)) for k in states))
    console.print(sla)
    auto = report["automatic"]
    sep = w("、", ", ")
    kinds = sep.join(
        f"{label(EVENT, k.upper(), lang) if lang is Lang.ZH else k.replace('_', ' ')} {v}"
        for k, v in sorted(auto.items())
    )
    start, end = report["virtual_time"]["start"][:10], report["virtual_time"]["end"][:10]
    console.print(
        w(
            f"自动处理：{kinds}；虚拟时间 {start} 至 {end}",
            f"automatic actions: {kinds}; virtual time {start} to {end}",
        )
    )
    answered = report["registries"]
    by_city = sep.join(f"{city(k)} {v}" for k, v in answered["by_city"].items())
    by_asset = sep.join(
        f"{label(ASSET, k.upper(), lang)} {v}" for k, v in answered["by_asset"].items()
    )
    console.print(
        w(
            f"经各市登记机关自动办结（网络查控，无需承办人）：{answered['answered']} 件"
            + (f"；按城市 {by_city}" if by_city else "")
            + (f"；按财产 {by_asset}" if by_asset else "")
            + f"；转人工办理 {answered['handed_to_officers']} 件"
            + f"；登记查封、冻结 {answered['controls_recorded']} 项（到期前提醒续封）",
            "answered through the cities' registries, no officer (网络查控): "
            f"{answered['answered']}"
            + (f"; by city {by_city}" if by_city else "")
            + (f"; by asset {by_asset}" if by_asset else "")
            + f"; handed to officers {answered['handed_to_officers']}"
            + f"; controls recorded {answered['controls_recorded']} (watched for renewal)",
        )
    )
    finals = sep.join(
        f"{label(STATUS, k.upper(), lang) if lang is Lang.ZH else k} {v}"
        for k, v in sorted(report["final"].items())
    )
    console.print(w(f"最终状态：{finals}", f"final states: {finals}"))
    assist = report.get("assistance")
    if assist:
        print_assistance(console, assist, lang, w)
    ok = report["agree"] and report["lost"] == 0 and report["duplicated"] == 0
    if assist:
        ok = ok and assist["agree"] == assist["requested"] == assist["closed"]
    agreed = report["created"] - report["disagree"]
    seconds = report.get("seconds", "?")
    if lang is Lang.ZH:
        verdict = "[green]各方一致[/green]" if ok else "[red]不一致[/red]"
        console.print(
            f"一致性检查：{verdict}——委托方节点、受托方节点与协调中心对 {agreed} / "
            f"{report['created']} 件委托的状态与历史完全一致；丢失 {report['lost']}，重复 "
            f"{report['duplicated']}；业务流量 {report['traffic_seconds']} 秒，共 {seconds} 秒"
        )
    else:
        verdict = "[green]all sides agree[/green]" if ok else "[red]DISAGREEMENT[/red]"
        console.print(
            f"agreement check: {verdict} — requesting node, entrusted node and coordinator hold "
            f"the same state and history for {agreed} of {report['created']} delegations; lost "
            f"{report['lost']}, duplicated {report['duplicated']}; "
            f"{report['traffic_seconds']}s of traffic, {seconds}s in all"
        )
    for line in report["errors"]:
        console.print(f"  [red]{line}[/red]")


def print_assistance(
    console: Console, assist: dict[str, Any], lang: Lang, w: Callable[[str, str], str]
) -> None:
    """The on-site assistance walk: one row per request, and whether the three sides agree."""
    table = Table(
        title=w(
            f"异地执行协助（{assist['requested']} 件，行动日 {assist['day']}）",
            f"On-site assistance ({assist['requested']} requests, operation day {assist['day']})",
        )
    )
    for zh, en in (
        ("请求法院", "requesting court"),
        ("协助法院", "local court"),
        ("措施", "measure"),
        ("保障项", "support"),
        ("历史事件", "events"),
    ):
        table.add_column(w(zh, en))
    for row in assist["rows"]:
        table.add_row(
            row["from_name"] if lang is Lang.ZH else row["from"],
            row["to_name"] if lang is Lang.ZH else row["to"],
            label(MEASURE, row["measure"], lang),
            str(row["support"]),
            str(row["events"]),
        )
    console.print(table)
    console.print(
        w(
            f"协助方案已确定并落实保障；行动日历显示 {assist['on_calendar']} 项；前一工作日提醒 "
            f"{assist['reminded']} 项；双方均记录结果 {assist['closed']} 项；三方历史一致 "
            f"{assist['agree']} / {assist['requested']}",
            f"plans agreed and support booked; {assist['on_calendar']} on the operations calendar; "
            f"{assist['reminded']} reminded the working day before; {assist['closed']} closed "
            f"with both outcomes; three sides agree on {assist['agree']} of {assist['requested']}",
        )
    )
