"""A deterministic simulation of five-city traffic on virtual time (`jiaodong simulate`).

The real coordinator and the five city nodes run as processes on real NATS (the demo's layout);
every process reads time from one file (``JD_CLOCK=file:PATH``) whose rate is 0: time stands
still. The driver plays the officers of every court from a scenario (devtools/scenario.py) and
moves time itself, one step at a time:

1. wait until the layout is quiescent (devtools/quiet.py: no unpublished outbox row, no message
   pending or unacknowledged at any running consumer, no SLA clock due);
2. read what the coordinator holds of every open delegation (read-only) and plan the officers'
   reactions from it (an acknowledgement after delivery, ...): the delivery time read is itself
   deterministic, as time stood still while it happened;
3. move time to the next instant anything is owed: the next planned action or the earliest
   ``sla_clock.next_at``, whichever is first;
4. there, run the actions due, phase by phase (devtools/schedule.Phase), waiting for quiescence
   after each phase.

Every random draw comes from a generator derived from the seed and what is drawn (schedule.rng),
so the same seed gives the same histories, the same report and the same trace on any machine
under any load. Personal data in the requests is fictitious and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import time as wallclock
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import grpc
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from jiaodong.config import Settings
from jiaodong.devtools import schedule as sch
from jiaodong.devtools.fakes import COMPANIES, GIVEN, PLATE_LETTERS, SURNAMES, credit_code
from jiaodong.devtools.fakes import resident_id as make_resident_id
from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.devtools.quiet import Probe
from jiaodong.devtools.scenario import Scenario
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.registry import Court, Registry
from jiaodong.files.clock import FileClock
from jiaodong.security.clients import act_as
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb

# The services' settings under the simulator: the coordinator sweeps 20 times a (real) second,
# and the nodes reconcile rarely (a round repairs lost messages: none are lost on a healthy
# broker, and its digests are only noise between steps).
SIM_ENV = {"JD_SLA_SWEEP_SECONDS": "0.02", "JD_RECONCILE_SECONDS": "600"}
# Actions of one phase run at once, at most this many calls in flight.
CONCURRENCY = 16
OPEN = ("ROUTED", "DELIVERED", "ACKNOWLEDGED", "RETURNED", "ACCEPTED")
CLOSED = ("CONFIRMED", "CANCELLED", "ROUTING_FAILED")
TASK_PB = {
    "property_inquiry": pb.TASK_TYPE_PROPERTY_INQUIRY,
    "seizure": pb.TASK_TYPE_SEIZURE,
    "on_site_inspection": pb.TASK_TYPE_ON_SITE_INSPECTION,
    "handover": pb.TASK_TYPE_HANDOVER,
    "forced_eviction": pb.TASK_TYPE_FORCED_EVICTION,
    "service_of_documents": pb.TASK_TYPE_SERVICE_OF_DOCUMENTS,
}
ASSET_PB = {
    "real_estate": pb.ASSET_KIND_REAL_ESTATE,
    "vehicle": pb.ASSET_KIND_VEHICLE,
    "equity": pb.ASSET_KIND_EQUITY,
    "deposit": pb.ASSET_KIND_DEPOSIT,
    "other": pb.ASSET_KIND_OTHER,
    "unspecified": pb.ASSET_KIND_UNSPECIFIED,
}
REASON_TEXT = {
    "MATERIALS_INCOMPLETE": "缺少执行依据副本",
    "REQUEST_UNCLEAR": "委托事项不明确",
    "NOT_OUR_JURISDICTION": "财产不在本院辖区",
    "OTHER": "其他原因",
}
ENTRUSTED_KINDS = ("acknowledge", "accept", "return", "progress", "complete")


@dataclass
class Plan:
    """What the officers will do with one delegation, drawn when it is sent."""

    serial: int
    key: str  # "<day>/<city>/<n>": what its random draws are derived from
    from_court: Court
    to_city: str
    task: str
    request: api.CreateDelegationRequest
    returned: str  # a return reason, or "" (never returned)
    supplemented: bool
    urge: bool
    cancel: bool
    progress: bool
    result: str
    hold: int = 0  # working days the entrusted court leaves it untouched before acknowledging


@dataclass
class Tracked:
    """What the driver knows of one sent delegation."""

    plan: Plan
    id: str = ""
    status: str = ""
    entrusted_court: str = ""
    delivered_at: datetime | None = None
    ack_planned: bool = False
    confirm_planned: bool = False
    created_at: datetime | None = None
    cycle: int = 0  # supplements applied so far


@dataclass
class Trace:
    """Per local day: actions done, skipped (the state no longer allowed them) and put off (the
    acting city's node was down), and the steps taken; deterministic, to compare runs."""

    done: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    skipped: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    deferred: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    refused: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    steps: Counter[str] = field(default_factory=Counter)
    outages: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Figures:
    """What the driver measured (not deterministic: wall time)."""

    steps: int = 0
    phases: int = 0
    quiet_seconds: float = 0.0
    call_seconds: float = 0.0
    started: float = field(default_factory=wallclock.monotonic)


class Driver:
    """Plays every court's officers against a running layout on frozen virtual time."""

    def __init__(
        self,
        layout: Layout,
        registry: Registry,
        calendar: WorkCalendar,
        scenario: Scenario,
        seed: int,
        clock_file: Path,
        days: int,
        progress: Console | None = None,
        *,
        plans: list[tuple[datetime, Plan]] | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        """``plans``: the delegations to send and when (the demo's); without them, the
        scenario's volumes over ``days``. With them the run ends once every delegation is
        closed and nothing is owed (``days`` then only bounds it)."""
        self.layout = layout
        self.given = plans
        self.registry = registry
        self.calendar = calendar
        self.scenario = scenario
        self.seed = seed
        self.clock_file = clock_file
        self.days = days
        self.first = scenario.start
        self.last = scenario.start + timedelta(days=days - 1)
        self.start_at = sch.local(self.first, time(0))
        self.end_at = sch.local(self.last + timedelta(days=1), time(0))
        self.now = self.start_at
        self.console = progress
        self.settings = Settings.from_env(
            data_dir=layout.data_dir,
            tls_dir=layout.pki,
            database_url=layout.env.get("JD_DATABASE_URL", ""),
        )
        clients = layout.clients()
        self.pool, self.nodes, self.coordinator = clients.pool, clients.nodes, clients.coordinator
        self.probe = Probe(layout, registry, self.settings)
        self.agenda = sch.Agenda()
        self.tracked: dict[int, Tracked] = {}
        self.by_id: dict[str, int] = {}
        self.down: set[str] = set()  # cities whose node is stopped
        self.trace = Trace()
        self.figures = Figures()
        # Every step's instant and why (the next action, the earliest clock): for comparing runs.
        self.steps_log: list[str] = []
        self.gate = asyncio.Semaphore(concurrency)
        self.outage = scenario.outage
        if self.outage is not None:
            self.outage_from = sch.local(self.outage.start, time(8))
            self.outage_to = sch.local(
                self.outage.start + timedelta(days=self.outage.days), time(8)
            )

    # -- planning ------------------------------------------------------------------------------

    def plan_creations(self) -> None:
        """Every delegation of the period: per working day and city a Poisson number, each at a
        slot; serials in (day, city, n) order."""
        if self.given is not None:
            for at, plan in self.given:
                self.tracked[plan.serial] = Tracked(plan)
                self.agenda.add(sch.Action(at, sch.Phase.ENTRUSTED, plan.serial, "create"))
            return
        serial = 0
        cities = sorted(c for c in self.scenario.volume if c in self.layout.nodes)
        for day in sch.working_days(self.calendar, self.first, self.days):
            for city in cities:
                count = sch.poisson(
                    sch.rng(self.seed, "volume", city, day), self.scenario.volume[city]
                )
                for n in range(count):
                    key = f"{day.isoformat()}/{city}/{n}"
                    slot = sch.rng(self.seed, "slot", key).choice(list(self.scenario.slots))
                    plan = self.make_plan(serial, key, city)
                    self.tracked[serial] = Tracked(plan)
                    self.agenda.add(
                        sch.Action(sch.local(day, slot), sch.Phase.ENTRUSTED, serial, "create")
                    )
                    serial += 1
        if self.outage is not None:
            self.agenda.add(sch.Action(self.outage_from, sch.Phase.OUTAGE, -1, "stop"))
            self.agenda.add(sch.Action(self.outage_to, sch.Phase.OUTAGE, -1, "start"))

    def make_plan(self, serial: int, key: str, city: str) -> Plan:
        s, r = self.scenario, sch.rng(self.seed, "plan", key)
        from_court = r.choice(sorted(self.registry.courts_in_city(city), key=lambda c: c.court_id))
        others = {
            c: s.city_weights.get(c, s.volume.get(c, 0.0) + 0.5)
            for c in self.layout.nodes
            if c != city
        }
        to_city = sch.weighted(r, others)
        basic = {
            c.court_id: s.court_weights.get(c.court_id, 1.0)
            for c in self.registry.courts_in_city(to_city)
            if c.districts
        }
        chosen = self.registry.court(sch.weighted(r, basic))
        if r.random() < s.shares["explicit_court"]:
            target = pb.Target(court_id=chosen.court_id)
        else:
            target = pb.Target(city=to_city, district=chosen.districts[0])
        task = sch.weighted(r, {t.task: t.weight for t in s.tasks})
        mix = next(t for t in s.tasks if t.task == task)
        asset = sch.weighted(r, mix.assets)
        if r.random() < 0.7:
            name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.randint(1, 2)))
            debtor = pb.Party(
                person=pb.Person(name=name, resident_id=make_resident_id(r, chosen.court_id)),
                phone=f"1380013{r.randint(0, 9999):04d}",
            )
        else:
            debtor = pb.Party(
                organisation=pb.Organisation(
                    name=f"{self.registry.city(to_city).name_zh}{r.choice(COMPANIES)}有限公司",
                    social_credit_code=credit_code(r, chosen.court_id),
                )
            )
        plate = ""
        if asset == "vehicle":
            letters = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
            plate = "鲁" + PLATE_LETTERS[to_city] + "".join(r.choice(letters) for _ in range(5))
        request = api.CreateDelegationRequest(
            request_id=f"sim-{self.seed}-{serial}",
            case_number=f"({self.first.year}){from_court.case_code}执{r.randint(1, 9999)}号",
            target=target,
            task_type=TASK_PB[task],
            asset_kind=ASSET_PB[asset],
            debtor=debtor,
            place=pb.Place(
                address=f"{chosen.districts[0]}某路{r.randint(1, 300)}号",
                district=chosen.districts[0],
            ),
            requested_actions="请协助办理委托事项（模拟数据）",
            priority=pb.PRIORITY_URGENT if r.random() < s.shares["urgent"] else pb.PRIORITY_NORMAL,
            plate=plate,
        )
        returned = ""
        if r.random() < s.shares["return"]:
            returned = sch.weighted(r, s.return_reasons)
        return Plan(
            serial=serial,
            key=key,
            from_court=from_court,
            to_city=to_city,
            task=task,
            request=request,
            returned=returned,
            supplemented=r.random() < s.shares["supplemented"],
            urge=r.random() < s.shares["urge"],
            cancel=r.random() < s.shares["cancel"],
            progress=r.random() < s.shares["progress_report"],
            result=sch.weighted(r, s.results),
        )

    def later(
        self, base: datetime, t: Tracked, step: str, delay: str, entrusted: bool, cycle: int = 0
    ) -> datetime:
        """When an officer takes ``step`` of ``t``: ``delay`` (a [delays] range, or "complete":
        the task's) working days after ``base``, slower at the slow court."""
        s = self.scenario
        r = sch.rng(self.seed, "delay", t.plan.key, step, cycle)
        hold = t.plan.hold if step == "ack" else 0
        low, high = (
            next(m.complete for m in s.tasks if m.task == t.plan.task)
            if delay == "complete"
            else s.delays[delay]
        )
        multiplier = s.slow_multiplier if entrusted and t.entrusted_court == s.slow_court else 1.0
        return sch.officer_time(
            self.calendar, base, sch.scaled(r, low, high, multiplier) + hold, s.slots, r
        )

    def plan_step(
        self, t: Tracked, kind: str, at: datetime, cycle: int = 0, *, entrusted: bool = True
    ) -> None:
        phase = sch.Phase.ENTRUSTED if entrusted else sch.Phase.REQUESTING
        self.agenda.add(sch.Action(at, phase, t.plan.serial, kind, cycle))

    # -- observing -----------------------------------------------------------------------------

    async def observe(self) -> None:
        """Read the coordinator's view of every open delegation; plan acknowledgements of new
        deliveries."""
        open_ids = [t.id for t in self.tracked.values() if t.id and t.status not in CLOSED]
        if not open_ids:
            return
        found = await asyncio.to_thread(self.probe.statuses, open_ids)
        for delegation_id in open_ids:
            t = self.tracked[self.by_id[delegation_id]]
            status, court, delivered = found.get(delegation_id, (t.status, "", None))
            t.status, t.entrusted_court = status, court or t.entrusted_court
            t.delivered_at = delivered
            if delivered is not None and not t.ack_planned and status == "DELIVERED":
                t.ack_planned = True
                self.plan_step(
                    t, "acknowledge", self.later(delivered, t, "ack", "acknowledge", True)
                )
            if status == "COMPLETED" and not t.confirm_planned:
                # Completed without the officers the driver plays: a registry answered it.
                t.confirm_planned = True
                self.trace.done[sch.local_day(self.now).isoformat()]["completed_by_registry"] += 1
                self.plan_step(
                    t,
                    "confirm",
                    self.later(self.now, t, "confirm", "confirm", False),
                    entrusted=False,
                )

    # -- acting --------------------------------------------------------------------------------

    def acting_city(self, action: sch.Action) -> str:
        t = self.tracked[action.serial]
        if action.phase == sch.Phase.ENTRUSTED and action.kind != "create":
            return self.registry.court(t.entrusted_court).city
        return t.plan.from_court.city

    async def run_phase(self, actions: list[sch.Action]) -> None:
        started = wallclock.monotonic()
        await asyncio.gather(*(self.act(a) for a in actions))
        self.figures.call_seconds += wallclock.monotonic() - started

    async def act(self, action: sch.Action) -> None:
        day = sch.local_day(action.at).isoformat()
        t = self.tracked[action.serial]
        city = self.acting_city(action)
        if city in self.down:
            # The city's officers cannot reach their node: they act once it is back.
            self.trace.deferred[day][action.kind] += 1
            self.agenda.add(
                sch.Action(
                    sch.first_slot_from(self.calendar, self.outage_to, self.scenario.slots),
                    action.phase,
                    action.serial,
                    action.kind,
                    action.cycle,
                )
            )
            return
        async with self.gate:
            try:
                done = await self.call(action, t)
            except grpc.aio.AioRpcError as exc:
                # A refusal is as deterministic as the state it was refused in.
                code = exc.code().name if exc.code() else "UNKNOWN"
                self.trace.refused[day][f"{action.kind}:{code}"] += 1
                return
        (self.trace.done if done else self.trace.skipped)[day][action.kind] += 1
        if done:
            self.after(action, t)

    async def call(self, action: sch.Action, t: Tracked) -> bool:
        """Make the call, if the delegation's state (as last observed) still allows it."""
        kind, plan = action.kind, t.plan
        status = t.status
        if kind == "create":
            reply = await self.nodes[plan.from_court.city].CreateDelegation(
                plan.request, metadata=act_as(plan.from_court.court_id)
            )
            t.id, t.status, t.created_at = reply.delegation.id, "CREATED", action.at
            self.by_id[t.id] = plan.serial
            return True
        node = (
            self.nodes[self.registry.court(t.entrusted_court).city] if t.entrusted_court else None
        )
        mine = act_as(t.entrusted_court)
        theirs = act_as(plan.from_court.court_id)
        requester = self.nodes[plan.from_court.city]
        rid = f"sim-{kind}-{plan.serial}-{action.cycle}"
        if kind == "acknowledge" and status == "DELIVERED" and node:
            await node.Acknowledge(api.AcknowledgeRequest(id=t.id), metadata=mine)
        elif kind == "accept" and status == "ACKNOWLEDGED" and node:
            await node.Accept(api.AcceptRequest(id=t.id), metadata=mine)
        elif kind == "return" and status == "ACKNOWLEDGED" and node:
            reason = getattr(pb, f"RETURN_REASON_{plan.returned}")
            await node.Return(
                api.ReturnRequest(id=t.id, reason=reason, text=REASON_TEXT[plan.returned]),
                metadata=mine,
            )
        elif kind == "progress" and status == "ACCEPTED" and node:
            await node.ReportProgress(
                api.ReportProgressRequest(id=t.id, text="已到现场核实"), metadata=mine
            )
        elif kind == "complete" and status == "ACCEPTED" and node:
            result = getattr(pb, f"COMPLETION_RESULT_{plan.result}")
            await node.Complete(
                api.CompleteRequest(id=t.id, result=result, text="已按委托办理"), metadata=mine
            )
        elif kind == "urge" and status in ("ROUTED", "DELIVERED", "ACKNOWLEDGED", "ACCEPTED"):
            await requester.Urge(
                api.UrgeRequest(id=t.id, request_id=rid, text="请尽快办理"), metadata=theirs
            )
        elif kind == "cancel" and status in OPEN:
            await requester.Cancel(
                api.CancelRequest(id=t.id, request_id=rid, text="债务人已履行"), metadata=theirs
            )
        elif kind == "supplement" and status == "RETURNED":
            await requester.Supplement(
                api.SupplementRequest(id=t.id, request_id=rid, text="已补充材料"), metadata=theirs
            )
        elif kind == "confirm" and status == "COMPLETED":
            await requester.Confirm(api.ConfirmRequest(id=t.id, request_id=rid), metadata=theirs)
        else:
            return False
        return True

    def after(self, action: sch.Action, t: Tracked) -> None:
        """Plan what follows a step the driver took (its effect is certain once the layout is
        quiescent again, at this same instant)."""
        at, kind, plan = action.at, action.kind, t.plan
        if kind == "create":
            if plan.urge:
                self.plan_step(t, "urge", self.later(at, t, "urge", "urge", False), entrusted=False)
            if plan.cancel:
                self.plan_step(
                    t, "cancel", self.later(at, t, "cancel", "cancel", False), entrusted=False
                )
        elif kind == "acknowledge" or kind == "supplement":
            cycle = action.cycle + (kind == "supplement")
            step = "return" if plan.returned and cycle == 0 else "accept"
            self.plan_step(t, step, self.later(at, t, step, "accept", True, cycle), cycle)
        elif kind == "return":
            if plan.supplemented:
                self.plan_step(
                    t,
                    "supplement",
                    self.later(at, t, "supplement", "supplement", False),
                    entrusted=False,
                )
            elif plan.returned != "MATERIALS_INCOMPLETE":
                self.plan_step(
                    t,
                    "cancel",
                    self.later(at, t, "cancel-returned", "cancel", False),
                    1,
                    entrusted=False,
                )
        elif kind == "accept":
            done = self.later(at, t, "complete", "complete", True, action.cycle)
            if plan.progress:
                report = self.later(at, t, "progress", "progress", True, action.cycle)
                if report < done:
                    self.plan_step(t, "progress", report, action.cycle)
            self.plan_step(t, "complete", done, action.cycle)
        elif kind == "complete":
            t.confirm_planned = True
            self.plan_step(
                t, "confirm", self.later(at, t, "confirm", "confirm", False), entrusted=False
            )

    # -- the outage ----------------------------------------------------------------------------

    async def outage_step(self, action: sch.Action) -> None:
        assert self.outage is not None
        city = self.outage.city
        day = sch.local_day(action.at).isoformat()
        if action.kind == "stop":
            await asyncio.to_thread(self.layout.stop_node, city)
            self.down.add(city)
        else:
            await asyncio.to_thread(self.layout.start_node, city)
            self.down.discard(city)
        self.trace.outages.append({"at": action.at.isoformat(), "city": city, "node": action.kind})
        self.trace.done[day][f"node_{action.kind}"] += 1

    # -- the loop ------------------------------------------------------------------------------

    def set_time(self, at: datetime) -> None:
        FileClock.write(self.clock_file, at, 0.0)
        self.now = at

    def down_nodes(self) -> set[str]:
        return {self.registry.city(c).node for c in self.down}

    async def quiesce(self) -> None:
        self.figures.quiet_seconds += await self.probe.wait(self.now, self.down_nodes())

    async def run(self) -> None:
        self.plan_creations()
        await self.probe.connect()
        progress = self._progress()
        try:
            with progress:
                total = len(self.tracked) if self.given is not None else self.days
                task = progress.add_task(self.first.isoformat(), total=total, **self._fields())
                last_note = wallclock.monotonic()
                await self.quiesce()
                while True:
                    await self.observe()
                    clock_at = raw = await asyncio.to_thread(self.probe.next_clock)
                    if clock_at is not None and self.scenario.sla_steps == "ticks":
                        clock_at = sch.sla_tick(self.calendar, clock_at, self.scenario.slots)
                    # A registry answers when it answers: no tick (the nodes' registry desks).
                    desk_at = await asyncio.to_thread(self.probe.next_registry, self.down_nodes())
                    owed = min((t for t in (clock_at, desk_at) if t is not None), default=None)
                    nxt = sch.next_instant(self.agenda.next_at(), owed, self.now)
                    self.steps_log.append(
                        f"{nxt} agenda={self.agenda.next_at()} clock={raw} registry={desk_at}"
                    )
                    if nxt is None or nxt >= self.end_at:
                        break
                    self.set_time(nxt)
                    self.figures.steps += 1
                    self.trace.steps[sch.local_day(nxt).isoformat()] += 1
                    await self.quiesce()  # the coordinator's sweep handles what is due now
                    due = self.agenda.pop_due(nxt)
                    for phase in sch.Phase:
                        batch = [a for a in due if a.phase == phase]
                        if not batch:
                            continue
                        if phase == sch.Phase.OUTAGE:
                            for action in batch:
                                await self.outage_step(action)
                        else:
                            await self.observe()
                            await self.run_phase(batch)
                        self.figures.phases += 1
                        await self.quiesce()
                    elapsed = (sch.local_day(nxt) - self.first).days
                    if self.given is not None:
                        elapsed = self._fields()["closed"]
                    progress.update(
                        task,
                        completed=elapsed,
                        description=sch.local_day(nxt).isoformat(),
                        **self._fields(),
                    )
                    if not progress.console.is_terminal and wallclock.monotonic() - last_note > 10:
                        last_note = wallclock.monotonic()
                        progress.console.print(self._line(nxt))
                if self.given is None:  # the report's period ends at its last local midnight
                    self.set_time(max(self.now, self.end_at - timedelta(seconds=1)))
                await self.quiesce()
                await self.observe()
                progress.update(task, completed=total, **self._fields())
        finally:
            (self.layout.data_dir / "sim-steps.log").write_text(
                "\n".join(self.steps_log) + "\n", encoding="ascii"
            )
            await self.probe.close()
            await self.pool.close()

    def _progress(self) -> Progress:
        console = self.console or Console(stderr=True, quiet=True)
        return Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn(
                "sent {task.fields[sent]} open {task.fields[open]} steps {task.fields[steps]}"
            ),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def _fields(self) -> dict[str, Any]:
        sent = sum(1 for t in self.tracked.values() if t.id)
        closed = sum(1 for t in self.tracked.values() if t.id and t.status in CLOSED)
        return {"sent": sent, "open": sent - closed, "closed": closed, "steps": self.figures.steps}

    def _line(self, at: datetime) -> str:
        f = self._fields()
        return (
            f"  {sch.local_day(at).isoformat()}: sent {f['sent']}, open {f['open']}, "
            f"steps {f['steps']}, {wallclock.monotonic() - self.figures.started:.0f}s"
        )

    # -- results -------------------------------------------------------------------------------

    def outage_figures(self) -> dict[str, Any] | None:
        """Delegations sent to the outage city while its node was down, and when they arrived."""
        if self.outage is None:
            return None
        during = [
            t
            for t in self.tracked.values()
            if t.created_at is not None
            and self.outage_from <= t.created_at < self.outage_to
            and t.entrusted_court
            and self.registry.court(t.entrusted_court).city == self.outage.city
        ]
        delivered = sorted(t.delivered_at for t in during if t.delivered_at is not None)
        return {
            "city": self.outage.city,
            "sent_to_it_while_down": len(during),
            "delivered_after_restart": sum(1 for d in delivered if d >= self.outage_to),
            "delivered_before_restart": sum(1 for d in delivered if d < self.outage_to),
            "first_delivery": delivered[0].isoformat() if delivered else None,
            "actions_put_off": sum(sum(c.values()) for c in self.trace.deferred.values()),
        }

    def trace_json(self) -> dict[str, Any]:
        events: dict[str, Counter[str]] = defaultdict(Counter)
        for _, at, kind in self.probe.events():
            events[sch.local_day(at).isoformat()][kind] += 1
        days = sorted(
            set(events) | set(self.trace.done) | set(self.trace.steps) | set(self.trace.skipped)
        )
        sent = sum(1 for t in self.tracked.values() if t.id)
        final = Counter(t.status for t in self.tracked.values() if t.id)
        return {
            "schema": "jiaodong.sim-trace",
            "schema_version": 1,
            "seed": self.seed,
            "period": {"from": self.first.isoformat(), "to": self.last.isoformat()},
            "scenario": {
                "slow_court": self.scenario.slow_court,
                "slow_multiplier": self.scenario.slow_multiplier,
                "outage": None
                if self.outage is None
                else {
                    "city": self.outage.city,
                    "from": self.outage_from.isoformat(),
                    "to": self.outage_to.isoformat(),
                },
            },
            "totals": {
                "delegations": sent,
                "steps": self.figures.steps,
                "final": dict(sorted(final.items())),
            },
            "outages": self.trace.outages,
            "outage": self.outage_figures(),
            "days": [
                {
                    "day": day,
                    "steps": self.trace.steps.get(day, 0),
                    "done": dict(sorted(self.trace.done.get(day, Counter()).items())),
                    "skipped": dict(sorted(self.trace.skipped.get(day, Counter()).items())),
                    "deferred": dict(sorted(self.trace.deferred.get(day, Counter()).items())),
                    "refused": dict(sorted(self.trace.refused.get(day, Counter()).items())),
                    "events": dict(sorted(events.get(day, Counter()).items())),
                }
                for day in days
            ],
        }


# -- the report --------------------------------------------------------------------------------


async def fetch_report(layout: Layout, first: date, last: date, city: str = "") -> dict[str, Any]:
    """The coordinator's SLA report of the period (GetSlaReport's report_json), asked as the
    regional command centre. Its ``as_of`` is the coordinator's clock: frozen at the end of the
    period, so the report is the same in every run."""
    clients = layout.clients()
    pool, stub = clients.pool, clients.coordinator
    try:
        request = capi.GetSlaReportRequest(
            from_date=first.isoformat(), to_date=last.isoformat(), city=city
        )
        reply = await stub.GetSlaReport(request, timeout=600)
        return json.loads(reply.report_json)  # type: ignore[no-any-return]
    finally:
        await pool.close()


def write_reports(report: dict[str, Any], out: Path, stem: str = "report") -> list[str]:
    """STEM.json (sorted keys: byte for byte the same for the same figures), STEM.html and
    STEM.xlsx (jiaodong.reports). Returns the files written."""
    from jiaodong import reports  # matplotlib and openpyxl: only when a report is written

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(
        json.dumps(report, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8"
    )
    for fmt in ("html", "xlsx"):
        reports.write(report, fmt, out / f"{stem}.{fmt}")
    return [f"{stem}.{fmt}" for fmt in ("json", "html", "xlsx")]


@dataclass
class Outcome:
    report: dict[str, Any]
    trace: dict[str, Any]
    figures: dict[str, Any]


async def simulate(
    layout: Layout,
    registry: Registry,
    calendar: WorkCalendar,
    scenario: Scenario,
    *,
    seed: int,
    days: int,
    clock_file: Path,
    out: Path,
    progress: Console | None = None,
    driver_type: type[Driver] = Driver,
) -> Outcome:
    # asyncio's "returning true from eof_received() has no effect when using ssl" as the probe's
    # TLS link to the broker closes: noise on stderr.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    driver = driver_type(layout, registry, calendar, scenario, seed, clock_file, days, progress)
    await driver.run()
    trace = driver.trace_json()
    report = await fetch_report(layout, driver.first, driver.last)
    out.mkdir(parents=True, exist_ok=True)
    files = write_reports(report, out)
    if scenario.outage is not None:
        # The outage is a city's: its own report shows it undiluted by the other four.
        city = scenario.outage.city
        files += write_reports(
            await fetch_report(layout, driver.first, driver.last, city), out, f"report-{city}"
        )
    (out / "trace.json").write_text(
        json.dumps(trace, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8"
    )
    wall = wallclock.monotonic() - driver.figures.started
    figures = {
        "wall_seconds": round(wall, 1),
        "steps": driver.figures.steps,
        "phases": driver.figures.phases,
        "steps_per_second": round(driver.figures.steps / wall, 1) if wall else None,
        "quiescence_seconds": round(driver.figures.quiet_seconds, 1),
        "call_seconds": round(driver.figures.call_seconds, 1),
        "probe_caught_moving": driver.probe.caught_moving,
        "delegations": trace["totals"]["delegations"],
        "files": [*files, "trace.json"],
    }
    return Outcome(report, trace, figures)


def scratch_folder(prefix: str) -> Path:
    """A new throwaway folder for a run's databases and broker store: in /dev/shm when it is
    there with room to spare (memory: every commit's fsync is then nearly free, about a fifth of
    the wall time of a simulation on disk), else in the usual temporary folder."""
    shm = Path("/dev/shm")
    base: Path | None = None
    with contextlib.suppress(OSError):
        stats = os.statvfs(shm)
        if os.access(shm, os.W_OK) and stats.f_bavail * stats.f_frsize > 2 * 1024**3:
            base = shm
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base))


def run_simulation(
    folder: Path,
    registry: Registry,
    calendar: WorkCalendar,
    scenario: Scenario,
    *,
    seed: int,
    days: int,
    out: Path,
    progress: Console | None = None,
    extra_env: dict[str, str] | None = None,
    database_url: str = "",
    driver_type: type[Driver] = Driver,
) -> Outcome:
    """Start the layout on a frozen clock in ``folder``, simulate, stop every process."""
    folder.mkdir(parents=True, exist_ok=True)
    clock_file = folder / "virtual-clock"
    FileClock.write(clock_file, sch.local(scenario.start, time(0)), 0.0)
    layout = start_layout(
        folder,
        base_port=0,
        log_level="warning",
        database_url=database_url,
        extra_env={
            "JD_CLOCK": f"file:{clock_file}",
            **SIM_ENV,
            **({} if scenario.registries else {"JD_REGISTRIES": "off"}),
            **(extra_env or {}),
        },
    )
    try:
        return asyncio.run(
            simulate(
                layout,
                registry,
                calendar,
                scenario,
                seed=seed,
                days=days,
                clock_file=clock_file,
                out=out,
                progress=progress,
                driver_type=driver_type,
            )
        )
    finally:
        layout.stop()
