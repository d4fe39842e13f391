"""The node's registry desk: automatic answers, through its own city's registries, to the
delegations its courts receive that a registry can answer (an inquiry of real estate, vehicles,
equity or deposits; a seizure or freeze of them), without an officer.

A task is opened with the delivery, in the same transaction (``open_registry_task``), and worked
by ``registry_round`` whenever its ``next_at`` comes (on the node's clock, virtual time included):

* pending: the court's steps are taken for it (acknowledged, accepted: "submitted to the
  registry"), then the request goes to the connector. Its acknowledgement is recorded as a
  progress report carrying the registry's number;
* submitted: the connector is asked for results when the registry said they would come (else
  every ``poll_minutes``). Each partial result is a progress report, the final one completes the
  delegation; each carries the result letter and its structured twin (JSON) as documents;
* a connector that cannot be reached is retried with backoff (``first_retry_minutes`` doubling
  up to ``max_retry_minutes``); after ``attempts`` failures in a row the task is handed to the
  court's officers (manual), with a progress report that both courts read.

The connector is called outside any transaction, so a crash can repeat a submission: connectors
are idempotent by the request id. Officers stay in charge: whatever they did first wins (the
task is then superseded), and a delegation cancelled or moved meanwhile drops its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
import tenacity
from sqlmodel import col, select

from jiaodong.app.node.base import NodeBase
from jiaodong.app.node.commands import send_documents
from jiaodong.app.registries import Connector, Links
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.domain import registry_document as letter
from jiaodong.domain.controls import placed
from jiaodong.domain.delegation import AssetKind, TaskType
from jiaodong.domain.errors import IllegalTransition
from jiaodong.domain.lifecycle import CompletionResult, Document, Event, EventKind, Side, Status
from jiaodong.domain.registries import (
    Ack,
    Action,
    Outcome,
    PropertyRef,
    RegistryRequest,
    RegistryResult,
    RegistryUnavailable,
    Subject,
    UnknownRequest,
    WireError,
    action_for,
    checked_ack,
    checked_results,
    controls_of,
    request_to_wire,
    result_from_wire,
    result_to_wire,
)
from jiaodong.store import documents as docstore
from jiaodong.store.mapper import asset_name, content_of
from jiaodong.store.tables import DataReadRow, DelegationRow, RegistryTaskRow
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import to_stored, to_utc

log = structlog.get_logger("jiaodong.registries")

PENDING, SUBMITTED, ANSWERED, HELD = "pending", "submitted", "answered", "held"
ORPHANED = "orphaned"  # a control registered after its delegation went away: to be released
MANUAL, DROPPED, SUPERSEDED = "manual", "dropped", "superseded"
ROUND = 100  # tasks worked per round, at most
_REGISTRY_TASKS = frozenset({TaskType.PROPERTY_INQUIRY.value, TaskType.SEIZURE.value})


@dataclass(frozen=True)
class RegistryView:
    """One registry request of a delegation, as the entrusted court reads it."""

    request_id: str
    asset_kind: str
    action: str
    state: str
    registry: str
    registry_no: str
    attempts: int
    last_error: str
    results: int
    letter: str  # the result letter so far (personal data)
    reviewed_by: str


@dataclass(frozen=True)
class _Work:
    """What a task needs from the connector next."""

    task_id: str
    asset: AssetKind
    request: RegistryRequest
    ack: Ack | None  # None: submit


class RegistryDesk(NodeBase):
    links: Links | None = None
    _desk_wake: asyncio.Event | None = None

    def link_registries(self, links: Links) -> None:
        self.links = links

    # -- opening, with the delivery --------------------------------------------------------------

    def open_registry_task(self, uow: UnitOfWork, row: DelegationRow, delivered: Event) -> None:
        """If a registry of this city can answer the delegation just delivered here, open its
        task (and record the read of the debtor's data it will make)."""
        links = self.links
        if links is None or row.task_type not in _REGISTRY_TASKS:
            return  # (before parsing the content: most deliveries are not for a registry)
        asset = AssetKind(asset_name(row))
        content = content_of(row)
        action = action_for(TaskType(row.task_type), asset, renews=bool(content.renews))
        if action is None or asset not in links.connectors:
            return
        task_id = f"{row.id}-{delivered.seq}"
        if uow.session.get(RegistryTaskRow, task_id) is not None:
            return
        control_no = ""
        if action is Action.RENEW:
            original = uow.get(content.renews)
            history = uow.history(original) if original is not None else []
            numbers = [p.term.reference for p in placed(history) if p.term.asset == asset.value]
            if not numbers:
                return  # not a control this court's registry holds: officers handle it
            control_no = ",".join(dict.fromkeys(numbers))
        now = to_stored(uow.now)
        uow.session.add(
            RegistryTaskRow(
                id=task_id,
                delegation_id=row.id,
                court=row.entrusted_court,
                requesting_court=row.requesting_court,
                case_number=content.case_number,
                asset_kind=asset.value,
                action=action.value,
                control_no=control_no,
                next_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        # The platform reads the debtor's registry records on the requesting court's behalf:
        # on the auditor's record like any read of personal data.
        uow.session.add(
            DataReadRow(
                at=now,
                reader=f"court:{row.requesting_court}",
                delegation_id=row.id,
                rpc=f"registry/{asset.value}/{action.value}",
            )
        )
        if self._desk_wake is not None:  # once committed, so that its round sees the task
            uow.after_commit.append(self._desk_wake.set)
        log.info(
            "registry_task_opened", delegation_id=row.id, asset=asset.value, action=action.value
        )

    # -- the rounds ------------------------------------------------------------------------------

    async def run_registry_desk(self, tick: float) -> None:
        """Work tasks as they fall due, for as long as the node runs. The earliest ``next_at``
        is kept in memory (the desk and new deliveries are the only writers of tasks, and a
        delivery wakes the desk once committed), so an idle desk reads the clock every ``tick``
        seconds and the database only when something is due."""
        wake = self._desk_wake = asyncio.Event()
        due: datetime | None = self.clock.now()  # look once at start: tasks left by a restart
        while True:
            try:
                if wake.is_set() or (due is not None and due <= self.clock.now()):
                    wake.clear()
                    await self.registry_round()
                    due = await self._next_due()
            except Exception as exc:  # noqa: BLE001 - the desk outlives a database outage
                log.error("registry_round_failed", error=type(exc).__name__)
                due = self.clock.now()  # try again next tick
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), tick)

    async def _next_due(self) -> datetime | None:
        found = await self.db.read(
            lambda s: s.exec(select(sa.func.min(RegistryTaskRow.next_at))).one()
        )
        return to_utc(found) if found is not None else None

    async def registry_round(self) -> int:
        """Work every task due now; returns how many."""
        if self.links is None:
            return 0
        at = to_stored(self.clock.now())
        due = await self.db.run(
            lambda s: list(
                s.exec(
                    select(RegistryTaskRow.id)
                    .where(col(RegistryTaskRow.next_at) <= at)
                    .order_by(col(RegistryTaskRow.next_at), col(RegistryTaskRow.id))
                    .limit(ROUND)
                ).all()
            )
        )
        for task_id in due:
            try:
                await self._work(task_id)
            except Exception as exc:  # noqa: BLE001 - one task's trouble must not stop the others
                log.error("registry_task_failed", task=task_id, error=type(exc).__name__)
                await self.core.run(self._failing(task_id, type(exc).__name__))
        return len(due)

    def _failing(self, task_id: str, error: str) -> Callable[[UnitOfWork], None]:
        return lambda uow: self._failed(uow, task_id, error)

    async def _work(self, task_id: str) -> None:
        assert self.links is not None
        work = await self.core.run(lambda uow: self._prepare(uow, task_id))
        if work is None:
            return
        connector: Connector = self.links.connectors[work.asset]
        limit = self.links.plan.retry.call_seconds
        # The connector is called outside any transaction, at most ``call_seconds``; what it
        # answered is then checked against the contract and recorded in one transaction.
        error = ""
        try:
            if work.ack is None:
                ack = checked_ack(await asyncio.wait_for(connector.submit(work.request), limit))
            else:
                results = checked_results(
                    await asyncio.wait_for(connector.results(work.request, work.ack), limit)
                )
        except UnknownRequest:
            await self.core.run(lambda uow: self._resubmit(uow, work))
            return
        except RegistryUnavailable as exc:
            error = str(exc) or "无响应"
        except TimeoutError:
            error = f"{limit:g} 秒内无响应"
        except WireError as exc:
            log.error("registry_answer_outside_contract", task=task_id)
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a faulty adapter counts as a failed attempt
            log.error("registry_adapter_failed", task=task_id, error=type(exc).__name__)
            error = type(exc).__name__
        if error:
            await self.core.run(lambda uow: self._failed(uow, work.task_id, error))
        elif work.ack is None:
            await self.core.run(lambda uow: self._submitted(uow, work, ack))
        else:
            await self.core.run(lambda uow: self._answered(uow, work, results))

    # -- the steps, each one transaction ---------------------------------------------------------

    def _prepare(self, uow: UnitOfWork, task_id: str) -> _Work | None:
        task = uow.session.get(RegistryTaskRow, task_id)
        if task is None or task.next_at is None:
            return None
        assert self.links is not None
        row = uow.get(task.delegation_id)
        assert row is not None
        state = uow.state(row)
        if AssetKind(task.asset_kind) not in self.links.connectors:
            # The node restarted without this registry (registries.toml changed, or off).
            why = "本市未再连通该登记机关"
            self._hand_over(uow, task, row, why, why)
            return None
        gone = state.entrusted_court != task.court or state.status in (
            Status.CANCELLED,
            Status.CONFIRMED,
            Status.ROUTING_FAILED,
            Status.ROUTED,
        )
        if task.state == SUBMITTED and task.action != Action.INQUIRE.value:
            # A control the registry may already have registered: its answer is fetched and kept
            # even if the delegation went away meanwhile (someone must then release it).
            return self._work_of(row, task)
        if gone:
            self._settle(
                uow, task, DROPPED, f"delegation is {state.status.value} at {state.entrusted_court}"
            )
            return None
        if task.state == SUBMITTED:
            return self._work_of(row, task)
        # Pending: take the court's steps for it, unless its officers took them first.
        if state.status not in (Status.DELIVERED, Status.ACKNOWLEDGED, Status.ACCEPTED) or (
            state.status is Status.ACCEPTED and not task.accepted_seq
        ):
            self._settle(uow, task, SUPERSEDED, f"an officer took it to {state.status.value}")
            return None
        # The request keeps the time of its first submission through every retry: the
        # connector answers a repeated id with what it said the first time.
        if task.submitted_at is None:
            task.submitted_at = to_stored(uow.now)
            self._touch(uow, task)
        request = self._request(row, task, to_utc(task.submitted_at))
        steps: list[Event] = []
        if state.status is Status.DELIVERED:
            text = letter.acknowledged_text(self._names(task))
            event = uow.event(EventKind.ACKNOWLEDGED, Side.ENTRUSTED, task.court, text=text)
            steps.append(uow.seal(row, event))
        if uow.state(row).status is Status.ACKNOWLEDGED:
            text = letter.accepted_text(request, self._names(task))
            event = uow.event(EventKind.ACCEPTED, Side.ENTRUSTED, task.court, text=text)
            steps.append(uow.seal(row, event))
            task.accepted_seq = steps[-1].seq
            self._touch(uow, task)
        if steps:
            self.send_sync(uow, row, task.court)
            uow.changed(row, steps[-1])
        return _Work(task.id, AssetKind(task.asset_kind), request, None)

    def _hand_over(
        self, uow: UnitOfWork, task: RegistryTaskRow, row: DelegationRow, why: str, told: str = ""
    ) -> None:
        """To the court's officers: a progress report tells both courts (with ``told``, a reason
        of the platform's own words; ``why``, which may be an adapter's text, stays in the task),
        if the desk had taken the delegation up."""
        if self._ours(uow, row, task):
            text = letter.fallback_text(self._names(task), task.attempts, told)
            event = uow.seal(
                row, uow.event(EventKind.PROGRESS_REPORTED, Side.ENTRUSTED, task.court, text=text)
            )
            self.send_sync(uow, row, task.court)
            uow.changed(row, event)
        self._settle(uow, task, MANUAL, why)
        log.warning("registry_fallback_to_officers", task=task.id, attempts=task.attempts)

    @staticmethod
    def _ours(uow: UnitOfWork, row: DelegationRow, task: RegistryTaskRow) -> bool:
        """Is the delegation still in the hands the desk took it into: accepted, by the desk's
        own ACCEPTED as the latest (not returned and taken up again by an officer since)?"""
        if not task.accepted_seq or row.entrusted_court != task.court:
            return False
        if uow.state(row).status is not Status.ACCEPTED:
            return False
        latest = next(
            (e.seq for e in reversed(uow.history(row)) if e.kind is EventKind.ACCEPTED), 0
        )
        return latest == task.accepted_seq

    def _submitted(self, uow: UnitOfWork, work: _Work, ack: Ack) -> None:
        task = uow.session.get(RegistryTaskRow, work.task_id)
        assert task is not None and self.links is not None
        if task.state != PENDING:
            return
        task.state, task.attempts, task.last_error = SUBMITTED, 0, ""
        task.registry_no = ack.registry_no
        task.expected_at = to_stored(ack.expected_at) if ack.expected_at else None
        # Asked when the registry said the answer would be ready (at once if that has passed).
        ready = ack.expected_at if ack.expected_at is not None else self._next_poll(uow.now, None)
        task.next_at = to_stored(max(ready, uow.now))
        self._touch(uow, task)
        row = uow.get(task.delegation_id)
        assert row is not None
        if self._ours(uow, row, task):
            text = letter.submitted_text(work.request, ack, self._names(task))
            event = uow.seal(
                row, uow.event(EventKind.PROGRESS_REPORTED, Side.ENTRUSTED, task.court, text=text)
            )
            self.send_sync(uow, row, task.court)
            uow.changed(row, event)
        log.info("registry_submitted", task=task.id, asset=task.asset_kind)

    def _answered(self, uow: UnitOfWork, work: _Work, results: list[RegistryResult]) -> None:
        task = uow.session.get(RegistryTaskRow, work.task_id)
        assert task is not None and work.ack is not None
        if task.state != SUBMITTED:
            return
        recorded = [result_from_wire(r) for r in json.loads(task.results)]
        new = sorted((r for r in results if r.seq > len(recorded)), key=lambda r: r.seq)
        task.attempts, task.last_error = 0, ""
        if not new:
            task.next_at = to_stored(self._next_poll(uow.now, work.ack.expected_at))
            self._touch(uow, task)
            return
        recorded += new
        task.results = json.dumps([result_to_wire(r) for r in recorded], ensure_ascii=False)
        final = any(r.final for r in recorded)
        assert self.links is not None
        row = uow.get(task.delegation_id)
        assert row is not None
        if self.city in self.links.plan.review and self._ours(uow, row, task):
            # This city's courts check a result before it is recorded: held for a clerk.
            if final:
                self._settle(uow, task, HELD, "")
            else:
                task.next_at = to_stored(self._next_poll(uow.now, work.ack.expected_at))
                self._touch(uow, task)
            log.info("registry_result_held" if final else "registry_partial_held", task=task.id)
            return
        recorded_now = self._record(uow, task, work, recorded, recorded[-len(new) :], "")
        if final and not recorded_now and task.action != Action.INQUIRE.value:
            # The registry registered the control but the delegation went away or to officers
            # meanwhile: kept here, for the court to release (解封) it.
            self._settle(
                uow, task, ORPHANED, "控制已生效，但委托已撤回、改派或由承办人办理：请核实并解除"
            )
            log.warning("registry_control_orphaned", task=task.id)
        elif final:
            self._settle(uow, task, ANSWERED if recorded_now else SUPERSEDED, "")
        else:
            task.next_at = to_stored(self._next_poll(uow.now, work.ack.expected_at))
            self._touch(uow, task)
        log.info("registry_answered", task=task.id, results=len(new), final=final)

    def _record(
        self,
        uow: UnitOfWork,
        task: RegistryTaskRow,
        work: _Work,
        recorded: list[RegistryResult],
        new: list[RegistryResult],
        note: str,
    ) -> bool:
        """Record ``new`` (the last of ``recorded``) as the entrusted court's progress reports
        and completion, each with the result letter so far and its JSON twin; False if an
        officer finished or returned the delegation first (the results then stay here)."""
        row = uow.get(task.delegation_id)
        assert row is not None
        names = self._names(task)
        events: list[Event] = []
        documents: list[Document] = []
        first = len(recorded) - len(new)
        for i, result in enumerate(new):
            if not self._ours(uow, row, task):
                break
            so_far = recorded[: first + i + 1]
            docs = self._letters(uow, work, so_far, names)
            documents += docs
            if result.final:
                kind, text = EventKind.COMPLETED, letter.final_text(work.request, so_far, names)
                outcome = _completion(work.request.action, so_far)
                text += note
            else:
                kind, text = EventKind.PROGRESS_REPORTED, letter.partial_text(result, names)
                outcome = ""
            terms, unwatched = controls_of(result)
            if unwatched:
                text += letter.unwatched_note(unwatched)
                log.warning("registry_control_terms_unwatched", task=task.id, count=unwatched)
            event = uow.event(
                kind,
                Side.ENTRUSTED,
                task.court,
                text=text,
                result=outcome,
                documents=docs,
                controls=terms,
            )
            events.append(uow.seal(row, event))
        if not events:
            return False
        self.send_sync(uow, row, task.court)
        send_documents(uow, row, task.court, documents)
        uow.changed(row, events[-1])
        return events[-1].kind is EventKind.COMPLETED or not new[-1].final

    # -- staff review, and what the entrusted court reads ---------------------------------------

    async def registry_requests(
        self, court: str, delegation_id: str, letters: bool = False
    ) -> list[RegistryView]:
        """The registry requests of a delegation this court received, oldest first; with
        ``letters``, each with the result letter for what it received (rendered only then)."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> list[RegistryView]:
            row = self.acting_row(uow, court, delegation_id, Side.ENTRUSTED, EventKind.COMPLETED)
            tasks = uow.session.exec(
                select(RegistryTaskRow)
                .where(RegistryTaskRow.delegation_id == row.id)
                .order_by(col(RegistryTaskRow.created_at), col(RegistryTaskRow.id))
            ).all()
            return [self._view(row, task, letters) for task in tasks]

        return await self.core.run(work)

    async def release_registry_result(
        self, court: str, delegation_id: str, reviewer: str, note: str = ""
    ) -> pb.Delegation:
        """A clerk of the entrusted court releases the result held for review: recorded now."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> pb.Delegation:
            row = self.acting_row(uow, court, delegation_id, Side.ENTRUSTED, EventKind.COMPLETED)
            task = uow.session.exec(
                select(RegistryTaskRow).where(
                    RegistryTaskRow.delegation_id == row.id, RegistryTaskRow.state == HELD
                )
            ).first()
            if task is None:
                raise IllegalTransition(
                    uow.state(row).status.value,
                    "release a registry result of",
                    "none is held for review",
                )
            recorded = [result_from_wire(r) for r in json.loads(task.results)]
            work_item = self._work_of(row, task)
            suffix = f"（经本院审核发布{'：' + note if note else ''}）"
            done = self._record(uow, task, work_item, recorded, recorded, suffix)
            task.reviewed_by = reviewer[:60]
            self._settle(uow, task, ANSWERED if done else SUPERSEDED, "")
            return uow.view(row)

        delegation = await self.core.run(work)
        log.info("registry_result_released", delegation_id=delegation_id, court=court)
        return delegation

    def _work_of(self, row: DelegationRow, task: RegistryTaskRow) -> _Work:
        assert task.submitted_at is not None
        request = self._request(row, task, to_utc(task.submitted_at))
        expected = to_utc(task.expected_at) if task.expected_at is not None else None
        ack = Ack(task.id, task.registry_no, expected)
        return _Work(task.id, AssetKind(task.asset_kind), request, ack)

    def _view(self, row: DelegationRow, task: RegistryTaskRow, letters: bool) -> RegistryView:
        recorded = [result_from_wire(r) for r in json.loads(task.results)]
        text = ""
        if letters and recorded and task.submitted_at is not None:
            work = self._work_of(row, task)
            assert work.ack is not None
            text = letter.result_document(
                work.request, work.ack, recorded, self._names(task), recorded[-1].answered_at
            )
        return RegistryView(
            request_id=task.id,
            asset_kind=task.asset_kind,
            action=task.action,
            state=task.state,
            registry=self._names(task).registry,
            registry_no=task.registry_no,
            attempts=task.attempts,
            last_error=task.last_error,
            results=len(recorded),
            letter=text,
            reviewed_by=task.reviewed_by,
        )

    def _resubmit(self, uow: UnitOfWork, work: _Work) -> None:
        """The registry no longer holds the request: submitted again (an attempt), unless it had
        already answered part of it (its numbering would start again): then officers take over."""
        task = uow.session.get(RegistryTaskRow, work.task_id)
        if task is None or task.state != SUBMITTED:
            return
        if json.loads(task.results):
            row = uow.get(task.delegation_id)
            assert row is not None
            why = "登记机关已无该请求的记录，部分答复已记录"
            self._hand_over(uow, task, row, why, why)
            return
        task.state = PENDING
        self._failed(uow, task.id, "登记机关已无该请求的记录，重新提交")
        log.warning("registry_request_unknown", task=task.id)

    def _failed(self, uow: UnitOfWork, task_id: str, error: str) -> None:
        task = uow.session.get(RegistryTaskRow, task_id)
        assert task is not None and self.links is not None
        if task.state not in (PENDING, SUBMITTED):
            return
        retry = self.links.plan.retry
        task.attempts += 1
        task.last_error = error[:500]
        if task.attempts < retry.attempts:
            task.next_at = to_stored(
                uow.now + backoff(retry.first_minutes, retry.max_minutes, task.attempts)
            )
            self._touch(uow, task)
            log.info("registry_retry", task=task.id, attempts=task.attempts)
            return
        row = uow.get(task.delegation_id)
        assert row is not None
        self._hand_over(uow, task, row, error)

    # -- helpers ---------------------------------------------------------------------------------

    def _settle(self, uow: UnitOfWork, task: RegistryTaskRow, state: str, why: str) -> None:
        task.state, task.next_at = state, None
        if why:
            task.last_error = why[:500]
        self._touch(uow, task)

    @staticmethod
    def _touch(uow: UnitOfWork, task: RegistryTaskRow) -> None:
        task.updated_at = to_stored(uow.now)
        uow.session.add(task)

    def _next_poll(self, now: datetime, expected: datetime | None) -> datetime:
        assert self.links is not None
        poll = now + timedelta(minutes=self.links.plan.retry.poll_minutes)
        if expected is not None and expected > now:
            return min(expected, poll)
        return poll

    def _names(self, task: RegistryTaskRow) -> letter.Names:
        assert self.links is not None
        return letter.Names(
            requesting_court=self.registry.court(task.requesting_court).name_zh,
            entrusted_court=self.registry.court(task.court).name_zh,
            registry=letter.registry_name(self.links.city_zh, AssetKind(task.asset_kind)),
        )

    @staticmethod
    def _request(row: DelegationRow, task: RegistryTaskRow, at: datetime) -> RegistryRequest:
        content = content_of(row)
        debtor = content.debtor
        if debtor.HasField("person"):
            subject = Subject(True, debtor.person.name, debtor.person.resident_id)
        else:
            subject = Subject(
                False, debtor.organisation.name, debtor.organisation.social_credit_code
            )
        return RegistryRequest(
            request_id=task.id,
            action=Action(task.action),
            asset_kind=AssetKind(task.asset_kind),
            subject=subject,
            ref=PropertyRef(
                plate=content.plate if task.asset_kind == AssetKind.VEHICLE.value else "",
                location=content.place.address,
            ),
            case_number=content.case_number,
            requesting_court=task.requesting_court,
            entrusted_court=task.court,
            submitted_at=at,
            control_no=task.control_no,
        )

    def _letters(
        self,
        uow: UnitOfWork,
        work: _Work,
        recorded: list[RegistryResult],
        names: letter.Names,
    ) -> list[Document]:
        """The result letter for the results so far, and its structured twin, stored here."""
        assert work.ack is not None
        name = letter.document_name(work.request, recorded[-1].seq)
        text = letter.result_document(work.request, work.ack, recorded, names, uow.now)
        twin = {
            "request": request_to_wire(work.request),
            "registry_no": work.ack.registry_no,
            "registry": names.registry,
            "results": [result_to_wire(r) for r in recorded],
        }
        out = []
        for data, suffix, media in (
            (text.encode(), ".txt", "text/plain"),
            (
                json.dumps(twin, ensure_ascii=False, indent=1, sort_keys=True).encode(),
                ".json",
                "application/json",
            ),
        ):
            sha, _ = docstore.store_upload(uow.session, data, uow.now)
            out.append(Document(name + suffix, media, len(data), sha))
        return out


def backoff(first_minutes: float, max_minutes: float, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure in a row: tenacity's exponential schedule.
    (Its loop is not used: the schedule must survive a restart and run on the node's clock,
    virtual in the demo, so each wait is kept in the task's ``next_at``.)"""
    state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = attempts
    wait = tenacity.wait_exponential(multiplier=first_minutes, max=max_minutes)
    return timedelta(minutes=wait(state))


def _completion(action: Action, results: list[RegistryResult]) -> str:
    last = results[-1]
    if last.outcome is Outcome.REFUSED:
        return CompletionResult.NOT_POSSIBLE.value
    found = any(r.properties for r in results)
    if action is Action.INQUIRE or found:
        return CompletionResult.DONE.value  # an inquiry that finds nothing is answered all the same
    return CompletionResult.NOT_POSSIBLE.value
