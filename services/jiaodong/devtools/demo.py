"""The five-city demo: simulated officers send and handle delegations between every pair of cities,
then every delegation is checked on the requesting node, the entrusted node and the coordinator.

Data is fictitious: names are drawn from a list, ID numbers are generated with correct check
characters for the cities' area codes, and nothing here is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.table import Table

from jiaodong.devtools.layout import Layout
from jiaodong.domain.identifiers import (
    SOCIAL_CREDIT_ALPHABET,
    resident_id_check_char,
    social_credit_check_char,
)
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.domain.registry import Court, Registry
from jiaodong.files.clock import FileClock
from jiaodong.files.registry import load_registry
from jiaodong.security.clients import ChannelPool, act_as
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from jiaodong.v1 import delegation_pb2 as pb

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超")
COMPANIES = ("海达", "鲁信", "蓝海", "金港", "东方", "恒泰", "瑞丰", "华通")
PLATE_LETTERS = {"qingdao": "B", "yantai": "F", "weifang": "G", "weihai": "K", "rizhao": "L"}
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


def resident_id(rng: random.Random, area: str) -> str:
    body = f"{area}{rng.randint(1960, 2000)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body += f"{rng.randint(0, 999):03d}"
    return body + resident_id_check_char(body)


def credit_code(rng: random.Random, area: str) -> str:
    body = "91" + area + "".join(rng.choice(SOCIAL_CREDIT_ALPHABET) for _ in range(9))
    return body + social_credit_check_char(body)


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


@dataclass
class Observer:
    """Latest view of every delegation per node, fed by WatchDelegations streams of every court."""

    latest: dict[tuple[str, str], pb.Delegation] = field(default_factory=dict)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def follow(self, city: str, stub: ngrpc.CourtNodeServiceStub, court: str) -> None:
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.CancelledError):
            async for change in stub.WatchDelegations(
                api.WatchDelegationsRequest(), metadata=meta(court)
            ):
                await self.offer(city, change.delegation)

    async def offer(self, city: str, d: pb.Delegation) -> None:
        key = (city, d.id)
        known = self.latest.get(key)
        if known is None or d.seq >= known.seq:
            self.latest[key] = d
        async with self.changed:
            self.changed.notify_all()

    async def until(
        self,
        city: str,
        stub: ngrpc.CourtNodeServiceStub,
        court: str,
        delegation_id: str,
        check: Callable[[pb.Delegation], bool],
        timeout: float = 60.0,
    ) -> pb.Delegation:
        deadline = time.monotonic() + timeout
        while True:
            current = self.latest.get((city, delegation_id))
            if current is not None and check(current):
                return current
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"delegation {delegation_id} did not reach the expected state")
            try:
                async with self.changed:
                    await asyncio.wait_for(self.changed.wait(), timeout=min(1.0, left))
            except TimeoutError:
                # Safety net if a watch stream missed something: ask directly.
                with contextlib.suppress(grpc.aio.AioRpcError):
                    got = await stub.GetDelegation(
                        api.GetDelegationRequest(id=delegation_id), metadata=meta(court)
                    )
                    await self.offer(city, got.delegation)


def has_event(kind: int, after_seq: int = 0) -> Callable[[pb.Delegation], bool]:
    return lambda d: (
        any(e.kind == kind and e.seq > after_seq for e in d.history)
        or (d.seq > after_seq and _last_kind(d) == kind)
    )


def _last_kind(d: pb.Delegation) -> int:
    return d.history[-1].kind if d.history else 0


def status_is(*statuses: int) -> Callable[[pb.Delegation], bool]:
    return lambda d: d.status in statuses


class Simulation:
    def __init__(self, layout: Layout, registry: Registry, progress: Console | None) -> None:
        self.registry = registry
        # Mutual TLS everywhere: each court acts with its own certificate, the board is read as
        # the regional command centre.
        self.pool = ChannelPool(layout.settings().tls_for)
        self.nodes: dict[str, ngrpc.CourtNodeServiceStub] = {
            city: self.pool.stub(ngrpc.CourtNodeServiceStub, svc.address)
            for city, svc in layout.nodes.items()
        }
        assert layout.coordinator is not None
        self.coordinator = self.pool.stub(
            cgrpc.CoordinatorServiceStub,
            layout.coordinator.address,
            Identity(Role.OPERATOR, REGION),
        )
        self.observer = Observer()
        self.progress = progress
        self.created: dict[int, pb.Delegation] = {}
        self.errors: list[str] = []
        self.done = 0
        self.parked = 0
        self.parked_changed = asyncio.Event()
        self.month_passed = asyncio.Event()

    async def start_watching(self) -> None:
        for city, stub in self.nodes.items():
            for court in self.registry.courts_in_city(city):
                self.observer.tasks.append(
                    asyncio.create_task(self.observer.follow(city, stub, court.court_id))
                )
        await asyncio.sleep(0.3)

    async def close(self) -> None:
        for task in self.observer.tasks:
            task.cancel()
        await asyncio.gather(*self.observer.tasks, return_exceptions=True)
        await self.pool.close()

    async def run_plan(self, plan: Plan) -> None:
        req_city, req_court = plan.from_court.city, plan.from_court.court_id
        requester = self.nodes[req_city]
        created = await requester.CreateDelegation(plan.request, metadata=meta(req_court))
        d = created.delegation
        self.created[plan.index] = d
        await self.observer.offer(req_city, d)

        async def at_requester(done: Callable[[pb.Delegation], bool]) -> pb.Delegation:
            return await self.observer.until(req_city, requester, req_court, d.id, done)

        to_court = (await at_requester(lambda x: bool(x.entrusted_court))).entrusted_court
        to_city = self.registry.court(to_court).city
        entrusted = self.nodes[to_city]
        mine, theirs = meta(to_court), meta(req_court)

        async def at_entrusted(done: Callable[[pb.Delegation], bool]) -> pb.Delegation:
            return await self.observer.until(to_city, entrusted, to_court, d.id, done)

        await at_entrusted(status_is(pb.STATUS_DELIVERED))
        if plan.fate == "idle":
            await self.wait_for_the_month(plan)
        if plan.fate == "cancel":
            text = "债务人已履行"
            await requester.Cancel(
                api.CancelRequest(id=d.id, request_id=f"cancel-{d.id}", text=text), metadata=theirs
            )
            await at_requester(status_is(pb.STATUS_CANCELLED))
            return
        if plan.fate == "urge":
            urge = api.UrgeRequest(id=d.id, request_id=f"urge-{d.id}", text="请尽快办理")
            await requester.Urge(urge, metadata=theirs)
            await at_entrusted(has_event(pb.EVENT_KIND_URGED))
        await entrusted.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=mine)
        if plan.fate in ("abandon", "return"):
            # Returned for missing materials: abandoned ones are never supplemented.
            missing = "缺少财产线索材料" if plan.fate == "abandon" else "缺少执行依据副本"
            reason = pb.RETURN_REASON_MATERIALS_INCOMPLETE
            await entrusted.Return(
                api.ReturnRequest(id=d.id, reason=reason, text=missing), metadata=mine
            )
            await at_requester(status_is(pb.STATUS_RETURNED))
        if plan.fate == "abandon":
            await self.wait_for_the_month(plan)
            await at_requester(status_is(pb.STATUS_CANCELLED))
            return
        if plan.fate == "return":
            supplied = api.SupplementRequest(
                id=d.id, request_id=f"supp-{d.id}", text="已补充执行依据"
            )
            await requester.Supplement(supplied, metadata=theirs)
            await at_entrusted(has_event(pb.EVENT_KIND_SUPPLEMENTED))
        await entrusted.Accept(api.AcceptRequest(id=d.id), metadata=mine)
        if plan.report_progress:
            await entrusted.ReportProgress(
                api.ReportProgressRequest(id=d.id, text="已到现场核实"), metadata=mine
            )
        await entrusted.Complete(
            api.CompleteRequest(id=d.id, result=plan.result, text="已按委托办理"),  # type: ignore[arg-type]
            metadata=mine,
        )
        await at_requester(status_is(pb.STATUS_COMPLETED))
        confirm = api.ConfirmRequest(id=d.id, request_id=f"confirm-{d.id}")
        await requester.Confirm(confirm, metadata=theirs)
        await at_requester(status_is(pb.STATUS_CONFIRMED))

    async def wait_for_the_month(self, plan: Plan) -> None:
        """Park until the controller has moved virtual time a month on."""
        self.parked += 1
        self.parked_changed.set()
        await self.month_passed.wait()

    async def guarded(self, plan: Plan, gate: asyncio.Semaphore) -> None:
        slow = plan.fate in SLOW_FATES
        async with contextlib.nullcontext() if slow else gate:
            try:
                await self.run_plan(plan)
            except (grpc.aio.AioRpcError, TimeoutError) as exc:
                detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
                self.errors.append(f"delegation #{plan.index} ({plan.fate}): {detail}")
                if slow:
                    self.parked += 1
                    self.parked_changed.set()
            self.done += 1

    async def report_progress(self, total: int) -> None:
        while self.progress is not None and self.done < total:
            await asyncio.sleep(2)
            self.progress.print(f"  {self.done}/{total} delegations finished")


async def fetch(stub: Any, request: Any, court: str | None) -> pb.Delegation | None:
    try:
        reply = await stub.GetDelegation(request, metadata=meta(court) if court else None)
        return reply.delegation  # type: ignore[no-any-return]
    except grpc.aio.AioRpcError:
        return None


async def check_agreement(sim: Simulation) -> dict[str, Any]:
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
# holiday; one real second is one virtual hour while officers work.
VIRTUAL_START = datetime(2025, 9, 22, 1, 0, tzinfo=UTC)
VIRTUAL_RATE = 3600.0
MONTH_DAYS = 32


async def move_a_month(sim: Simulation, clock_file: Path, slow: int) -> None:
    """Once the fast work is done and every slow delegation is parked, move virtual time on a
    day at a time (the coordinator sweeps in between), then let the slow officers go on."""
    while sim.parked < slow:
        sim.parked_changed.clear()
        await sim.parked_changed.wait()
    clock = FileClock(clock_file)
    if sim.progress and slow:
        sim.progress.print(f"  moving virtual time {MONTH_DAYS} days on for {slow} idle cases ...")
    for _ in range(MONTH_DAYS if slow else 0):
        FileClock.write(clock_file, clock.now() + timedelta(days=1), VIRTUAL_RATE)
        await asyncio.sleep(0.12)
    await asyncio.sleep(0.5)
    sim.month_passed.set()


async def run_demo(
    layout: Layout,
    n: int,
    seed: int,
    *,
    clock_file: Path,
    concurrency: int = 40,
    progress: Console | None = None,
) -> dict[str, Any]:
    registry = load_registry()
    plans = make_plans(registry, n, seed)
    sim = Simulation(layout, registry, progress)
    started = time.monotonic()
    try:
        await sim.start_watching()
        if progress:
            progress.print(f"simulated officers handling {n} delegations (seed {seed}) ...")
        gate = asyncio.Semaphore(concurrency)
        reporter = asyncio.create_task(sim.report_progress(n))
        fast = [p for p in plans if p.fate not in SLOW_FATES]
        slow = [p for p in plans if p.fate in SLOW_FATES]
        slow_tasks = [asyncio.create_task(sim.guarded(p, gate)) for p in slow]
        await asyncio.gather(*(sim.guarded(p, gate) for p in fast))
        await move_a_month(sim, clock_file, len(slow))
        await asyncio.gather(*slow_tasks)
        reporter.cancel()
        traffic_seconds = time.monotonic() - started
        checked = await check_agreement(sim)
    finally:
        await sim.close()
    views = checked.pop("views")
    cities = sorted(registry.cities)
    pairs = pair_rows(plans, views, registry)
    return {
        "cities": len(cities),
        "city_names": cities,
        "delegations": n,
        "created": len(sim.created),
        "final": checked["final"],
        "agree": checked["disagree"] == 0 and not sim.errors,
        "disagree": checked["disagree"],
        "lost": checked["lost"] + (n - len(sim.created)),
        "duplicated": checked["duplicated"],
        "errors": sim.errors[:20],
        "pairs": pairs,
        "sla": sla_summary(views),
        "automatic": automatic_actions(views),
        "virtual_time": {
            "start": VIRTUAL_START.isoformat(),
            "end": FileClock(clock_file).now().isoformat(timespec="seconds"),
        },
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


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(
        title=f"Delegations by city pair ({report['delegations']} sent, seed {report['seed']})"
    )
    for column in (
        "from",
        "to",
        "count",
        "confirmed",
        "cancelled",
        "returned",
        "urged",
        "median h",
    ):
        table.add_column(column, justify="right" if column not in ("from", "to") else "left")
    for row in report["pairs"]:
        table.add_row(
            row["from"],
            row["to"],
            str(row["count"]),
            str(row["confirmed"]),
            str(row["cancelled"]),
            str(row["returned"]),
            str(row["urged"]),
            "-" if row["median_hours"] is None else f"{row['median_hours']:.1f}",
        )
    console.print(table)
    sla = Table(title="Time limits (coordinator's clocks, official working-day calendar)")
    for column in ("goal", "met", "breached", "running", "paused", "cancelled"):
        sla.add_column(column, justify="left" if column == "goal" else "right")
    for goal, counts in report["sla"].items():
        sla.add_row(
            goal,
            *(str(counts.get(k, 0)) for k in ("met", "breached", "running", "paused", "cancelled")),
        )
    console.print(sla)
    auto = report["automatic"]
    console.print(
        "automatic actions: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(auto.items()))
        + f"; virtual time {report['virtual_time']['start'][:10]} to "
        f"{report['virtual_time']['end'][:10]}"
    )
    finals = ", ".join(f"{k} {v}" for k, v in sorted(report["final"].items()))
    console.print(f"final states: {finals}")
    ok = report["agree"] and report["lost"] == 0 and report["duplicated"] == 0
    verdict = "[green]all sides agree[/green]" if ok else "[red]DISAGREEMENT[/red]"
    console.print(
        f"agreement check: {verdict} — requesting node, entrusted node and coordinator hold the "
        f"same state and history for {report['created'] - report['disagree']} of "
        f"{report['created']} delegations; lost {report['lost']}, duplicated "
        f"{report['duplicated']}; {report['traffic_seconds']}s of traffic, "
        f"{report.get('seconds', '?')}s in all"
    )
    for line in report["errors"]:
        console.print(f"  [red]{line}[/red]")
