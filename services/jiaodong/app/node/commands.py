"""What a node's courts ask of it: send a delegation, ask its writer for a step, take a step on a
delegation received, and upload a document. Each is one unit of work."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from jiaodong.app.controls import node_listing
from jiaodong.app.node.base import NodeBase
from jiaodong.app.unit_of_work import UnitOfWork
from jiaodong.bus import envelopes
from jiaodong.bus.subjects import Kind, to_coordinator
from jiaodong.domain import assistance as assist
from jiaodong.domain import controls
from jiaodong.domain.calendar import WorkCalendar
from jiaodong.domain.delegation import Checked, Draft, check_draft, fingerprint
from jiaodong.domain.errors import AlreadyExists, InvalidInput, NotFound, RegistryError
from jiaodong.domain.history import check_before_delivery, seal_first, step_violations
from jiaodong.domain.ids import new_id
from jiaodong.domain.lifecycle import (
    ControlTerm,
    DelegationState,
    Document,
    EventKind,
    Side,
    Status,
    check_allowed,
)
from jiaodong.store import documents as docstore
from jiaodong.store import ledger
from jiaodong.store.mapper import content_of
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import content_pb
from jiaodong.wire_assistance import asked_support
from jiaodong.wire_assistance import content_pb as assistance_pb

log = structlog.get_logger("jiaodong.node")


@dataclass(frozen=True)
class Step:
    """An entrusted court's step, as the officer gave it."""

    kind: EventKind
    text: str = ""
    return_reason: str = ""
    result: str = ""
    documents: tuple[Document, ...] = ()
    controls: tuple[ControlTerm, ...] = ()
    detail: str = ""  # an assistance step's payload (domain/assistance.py)


def check_assist_step(
    uow: UnitOfWork,
    row: DelegationRow,
    state: DelegationState,
    kind: EventKind,
    side: Side,
    **fields: str,
) -> None:
    """An assistance step's rules beyond the status table, against the history held here
    (nothing for a delegation)."""
    if state.assistance:
        asked = asked_support(content_of(row))
        progress = assist.progress(asked, uow.history(row))
        assist.check_step(progress, state.status, kind, side, at=uow.now, **fields)


class Commands(NodeBase):
    async def upload(self, court: str, data: bytes) -> tuple[str, int, bool]:
        """Store a document's content for a later attachment; (sha256, size, already held)."""
        self.hosted(court)
        now = self.clock.now()
        sha, existed = await self.db.run(lambda s: docstore.store_upload(s, data, now))
        log.info("document_uploaded", court=court, sha256=sha, size=len(data), existed=existed)
        return sha, len(data), existed

    async def create(self, court: str, draft: Draft) -> tuple[pb.Delegation, bool]:
        """Validate and store a new delegation, or return the one this request_id made before."""
        self.hosted(court)
        checked = check_draft(self.registry, court, draft)
        digest = hashlib.sha256(fingerprint(checked.draft).encode()).hexdigest()

        def work(uow: UnitOfWork) -> tuple[pb.Delegation, bool]:
            existing = uow.by_request_id(court, checked.draft.request_id)
            if existing is not None:
                if existing.fingerprint != digest:
                    raise AlreadyExists(
                        f"request_id {checked.draft.request_id!r} was already used by court "
                        f"{court} for a different delegation ({existing.id})"
                    )
                return uow.view(existing), False
            if checked.draft.renews:
                self._check_renewal(uow, court, checked)
            _require_uploaded(uow, checked.draft.documents)
            delegation_id = new_id()
            first = seal_first(uow.event(EventKind.CREATED, Side.REQUESTING, court))
            row = uow.create(
                content_pb(delegation_id, court, checked.draft),
                first,
                fingerprint=digest,
                warnings=checked.warnings,
            )
            self.send_sync(uow, row, court)
            send_documents(uow, row, court, checked.draft.documents)
            uow.changed(row, first)
            return uow.view(row), True

        delegation, created = await self.core.run(work)
        if created:
            log.info(
                "delegation_created",
                delegation_id=delegation.id,
                court=court,
                to=checked.entrusted_court,
            )
        return delegation, created

    def assistance_rules(self) -> tuple[assist.AssistancePolicy, WorkCalendar]:
        """The notice limits and the calendar they count on (courts/sla.toml, the calendar)."""
        if self.sla is None:
            raise RegistryError(
                "sla.toml",
                0,
                "this node was started without its time-limit files (sla.toml and the "
                "calendar): it cannot check an assistance request's notice",
            )
        return self.sla[0].assistance, self.sla[1]

    async def request_assistance(
        self, court: str, draft: assist.AssistanceDraft
    ) -> tuple[pb.Delegation, bool]:
        """Validate and store a request for on-site assistance (its own checks, then the same
        path as a delegation: event 1, the outbox, the coordinator routes it)."""
        self.hosted(court)
        policy, calendar = self.assistance_rules()
        checked = assist.check_assistance(
            self.registry, court, draft, calendar, self.clock.now(), policy
        )
        content = assistance_pb("", court, checked.draft)
        digest = hashlib.sha256(content.SerializeToString(deterministic=True)).hexdigest()

        def work(uow: UnitOfWork) -> tuple[pb.Delegation, bool]:
            existing = uow.by_request_id(court, checked.draft.request_id)
            if existing is not None:
                if existing.fingerprint != digest:
                    raise AlreadyExists(
                        f"request_id {checked.draft.request_id!r} was already used by court "
                        f"{court} for a different request ({existing.id})"
                    )
                return uow.view(existing), False
            _require_uploaded(uow, checked.draft.documents)
            delegation_id = new_id()
            first = seal_first(uow.event(EventKind.CREATED, Side.REQUESTING, court))
            content.id = delegation_id
            row = uow.create(content, first, fingerprint=digest, warnings=checked.warnings)
            self.send_sync(uow, row, court)
            send_documents(uow, row, court, checked.draft.documents)
            uow.changed(row, first)
            return uow.view(row), True

        delegation, created = await self.core.run(work)
        if created:  # ids and days only: the officers, the subject and the address stay out
            log.info(
                "assistance_requested",
                delegation_id=delegation.id,
                court=court,
                to=checked.local_court,
                measure=checked.draft.measure.value if checked.draft.measure else "",
                day=str(checked.draft.proposed.day) if checked.draft.proposed else "",
            )
        return delegation, created

    async def either_side(
        self,
        court: str,
        delegation_id: str,
        kind: EventKind,
        request_id: str,
        text: str,
        *,
        result: str = "",
        documents: Sequence[Document] = (),
    ) -> pb.Delegation:
        """A step either court may take (cancel; an assistance outcome): the local (entrusted)
        court's node writes it, the requesting court's travels as a request to the writer. On a
        delegation only the requesting court cancels (its node says so)."""
        self.hosted(court)

        def local_side(uow: UnitOfWork) -> bool:
            row = self.party_row(uow, court, delegation_id)
            return uow.state(row).assistance and row.entrusted_court == court

        if await self.core.run(local_side):
            step = Step(kind, text, result=result, documents=tuple(documents))
            return await self.act(court, delegation_id, step)
        return await self.request(
            court, delegation_id, kind, request_id, text, documents, result=result
        )

    def _check_renewal(self, uow: UnitOfWork, court: str, checked: Checked) -> None:
        """A renewal names a delegation this court sent that put a control of the same asset
        kind in force, and goes to the court that did (whose registry holds it)."""
        renews = checked.draft.renews
        original = uow.get(renews)
        if original is None or original.requesting_court != court:
            raise NotFound(f"renews: court {court} sent no delegation {renews}")
        asset = checked.draft.asset_kind.value
        placed = [p for p in controls.placed(uow.history(original)) if p.term.asset == asset]
        if not placed:
            raise InvalidInput.one(
                "renews",
                f"delegation {renews} put no seizure or freeze of {asset.lower()} in force",
            )
        if self.sla is not None:  # every control of it renewed already: renew the renewal
            policy, calendar = self.sla
            listed = node_listing(
                uow.session, court, ("RENEWED",), policy.renewal, calendar, uow.now
            )
            done = [x for x in listed if x.delegation_id == renews and x.watch.term.asset == asset]
            if len(done) >= len(placed):
                raise InvalidInput.one(
                    "renews",
                    f"delegation {renews} was renewed by {done[-1].renewed_by}: renew that one",
                )
        holder = placed[-1].court
        if checked.entrusted_court != holder:
            name = self.registry.court(holder).name_zh
            raise InvalidInput.one(
                "target", f"a renewal goes to the court that put the control in force: {name}"
            )

    async def request(
        self,
        court: str,
        delegation_id: str,
        kind: EventKind,
        request_id: str,
        text: str,
        documents: Sequence[Document] = (),
        *,
        detail: str = "",
        result: str = "",
    ) -> pb.Delegation:
        """A requesting court's wish (supplement, confirm, cancel, urge; for assistance also
        accepting the plan, asking to move, its outcome), sent to the writer."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> pb.Delegation:
            row = self.acting_row(uow, court, delegation_id, Side.REQUESTING, kind)
            state = uow.state(row)
            violations = step_violations(
                kind,
                Side.REQUESTING,
                request_id=request_id,
                text=text,
                documents=documents,
                assistance=state.assistance,
            )
            if violations:
                raise InvalidInput(violations)
            known = uow.request(row, request_id)
            if known is not None:
                if known.kind != kind.value:
                    raise AlreadyExists(f"request_id {request_id!r} was used for {known.kind}")
                return uow.view(row)
            check_allowed(state, kind, Side.REQUESTING)
            check_assist_step(
                uow, row, state, kind, Side.REQUESTING, text=text, detail=detail, result=result
            )
            _require_uploaded(uow, documents)
            uow.record_request(row, request_id, kind, Side.REQUESTING, court)
            body = envelopes.action_request(
                row.id,
                request_id,
                kind,
                Side.REQUESTING,
                actor_court=court,
                text=text,
                documents=documents,
                detail=detail,
                result=result,
            )
            uow.send(
                to_coordinator(court, Kind.REQUEST),
                envelopes.envelope(court, body, envelopes.request_message_id(row.id, request_id)),
            )
            send_documents(uow, row, court, documents)
            uow.changed(row)
            return uow.view(row)

        delegation = await self.core.run(work)
        log.info("request_sent", delegation_id=delegation_id, kind=kind.value, court=court)
        return delegation

    async def act(self, court: str, delegation_id: str, step: Step) -> pb.Delegation:
        """An entrusted court's own step: acknowledge, accept, return, progress, complete (for
        assistance: acknowledge, propose a plan, confirm support, refuse, cancel, its outcome)."""
        self.hosted(court)

        def work(uow: UnitOfWork) -> tuple[pb.Delegation, bool]:
            row = self.acting_row(uow, court, delegation_id, Side.ENTRUSTED, step.kind)
            state = uow.state(row)
            violations = step_violations(
                step.kind,
                Side.ENTRUSTED,
                text=step.text,
                documents=step.documents,
                return_reason=step.return_reason,
                result=step.result,
                controls=step.controls,
                assistance=state.assistance,
            )
            if violations:
                raise InvalidInput(violations)
            if state.assistance and state.status is not Status.ROUTED:
                # The state first, so a wrong step reads as one before its fields are judged
                # (a delegation's step is checked once, where it is sealed).
                check_allowed(state, step.kind, Side.ENTRUSTED)
            check_assist_step(
                uow,
                row,
                state,
                step.kind,
                Side.ENTRUSTED,
                text=step.text,
                detail=step.detail,
                result=step.result,
            )
            _require_uploaded(uow, step.documents)
            event = uow.event(
                step.kind,
                Side.ENTRUSTED,
                court,
                text=step.text,
                return_reason=step.return_reason,
                result=step.result,
                documents=step.documents,
                controls=step.controls,
                detail=step.detail,
            )
            if state.status is Status.ROUTED:
                # The offer is here but the coordinator has not recorded its delivery yet (the
                # receipt's round trip): the court's work is not held up by it. The step waits,
                # with the time it was taken, and is applied as soon as DELIVERED arrives.
                waiting = [EventKind(w.kind) for w in ledger.waiting_steps(uow.session, row.id)]
                check_before_delivery(state, waiting, step.kind)
                ledger.hold_step(uow.session, row.id, court, event)
                uow.changed(row)
                return uow.view(row), False
            event = uow.seal(row, event)
            self.send_sync(uow, row, court)
            send_documents(uow, row, court, step.documents)
            uow.changed(row, event)
            return uow.view(row), True

        delegation, taken = await self.core.run(work)
        log.info(
            "step_taken" if taken else "step_waiting_delivery",
            delegation_id=delegation_id,
            kind=step.kind.value,
            court=court,
        )
        return delegation


def _require_uploaded(uow: UnitOfWork, docs: Sequence[Document]) -> None:
    for i, doc in enumerate(docs):
        docstore.require_verified(uow.session, doc.sha256, doc.size_bytes, f"documents[{i}]")


def send_documents(
    uow: UnitOfWork, row: DelegationRow, court: str, docs: Sequence[Document]
) -> None:
    """Queue the content of attached documents to the coordinator, after the step itself (the
    outbox keeps order), in pieces of at most 1 MiB under stable message ids."""
    for doc in docs:
        if not docstore.use(uow.session, row.id, doc.sha256, court):
            continue  # attached to this delegation before: its content has travelled
        for chunk in docstore.chunks_of(uow.session, row.id, doc.sha256, court):
            message_id = envelopes.chunk_message_id(row.id, doc.sha256, chunk.index)
            uow.send(to_coordinator(court, Kind.DOC), envelopes.envelope(court, chunk, message_id))
