"""The record: sqlmodel tables shared by nodes and the coordinator.

Times are stored as naive UTC; the conversion layer attaches UTC on the way out.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class DelegationRow(SQLModel, table=True):
    """One delegation: its fixed content (as protobuf bytes) and the state its history gives."""

    __tablename__ = "delegation"
    __table_args__ = (
        UniqueConstraint("requesting_court", "request_id", name="uq_delegation_request"),
        # Lists are newest first with the id as tie-break: each index gives a page in order, so a
        # list costs the page it returns, not the delegations stored (docs/benchmarks.md).
        Index("ix_delegation_requesting", "requesting_court", "created_at", "id"),
        Index("ix_delegation_entrusted", "entrusted_court", "created_at", "id"),
        Index("ix_delegation_created", "created_at", "id"),
        # The board's counts of open delegations (per city, pair and age) read this index only,
        # from the open statuses on: closed ones never cost the board anything.
        Index("ix_delegation_board", "status", "requesting_city", "entrusted_city", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    request_id: str = Field(max_length=64)
    requesting_court: str = Field(max_length=6)
    requesting_city: str = Field(max_length=20)
    entrusted_court: str = Field(default="", max_length=6)
    entrusted_city: str = Field(default="", max_length=20)
    task_type: str = Field(max_length=30)
    priority: str = Field(max_length=10)
    status: str = Field(max_length=20, index=True)
    seq: int
    last_hash: str = Field(max_length=64)
    cycle: int = 0
    result: str = Field(default="", max_length=20)
    fingerprint: str = Field(max_length=64)
    warnings: str = ""
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime
    updated_at: datetime
    routed_at: datetime | None = None
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    accepted_at: datetime | None = None
    returned_at: datetime | None = None
    completed_at: datetime | None = None
    closed_at: datetime | None = None
    # When this database last appended to the history (its own clock; updated_at is the last
    # event's time, which another side may have set long before it arrived here). Last: a
    # column added by migration 0007.
    changed_at: datetime | None = None
    # The case number (案号) of the content, for the board's search. Added by migration 0008.
    case_number: str = Field(default="", max_length=60, sa_column_kwargs={"server_default": ""})
    # On-site assistance: the operation's day and window (HH:MM-HH:MM) as the history now sets
    # them, for the board's calendar of operations. Added by migration 0015.
    operation_day: date | None = Field(default=None, index=True)
    operation_window: str = Field(
        default="", max_length=11, sa_column_kwargs={"server_default": ""}
    )


class EventRow(SQLModel, table=True):
    """One entry of a delegation's append-only, hash-chained history."""

    __tablename__ = "delegation_event"

    delegation_id: str = Field(primary_key=True, max_length=40, foreign_key="delegation.id")
    seq: int = Field(primary_key=True)
    event_id: str = Field(max_length=40, unique=True)
    kind: str = Field(max_length=30)
    side: str = Field(max_length=20)
    actor_court: str = Field(default="", max_length=6)
    at: datetime
    text: str = ""
    court_id: str = Field(default="", max_length=6)
    return_reason: str = Field(default="", max_length=30)
    result: str = Field(default="", max_length=20)
    documents: str = "[]"
    request_id: str = Field(default="", max_length=64)
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(max_length=64)
    # Control terms (JSON [asset, reference, starts_on, ends_on] lists); added by migration 0014.
    controls: str = Field(default="[]", sa_column_kwargs={"server_default": "[]"})
    # An assistance step's payload (canonical JSON); added by migration 0015.
    detail: str = Field(default="", sa_column_kwargs={"server_default": ""})


class RequestRow(SQLModel, table=True):
    """A requested action (cancel, supplement, confirm, urge, escalate, reroute) and its fate."""

    __tablename__ = "action_request"

    delegation_id: str = Field(primary_key=True, max_length=40)
    request_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=30)
    side: str = Field(max_length=20)
    actor_court: str = Field(default="", max_length=6)
    state: str = Field(default="pending", max_length=10)
    reason: str = ""
    created_at: datetime


class OutboxRow(SQLModel, table=True):
    """A message to publish, written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=40, unique=True)
    subject: str = Field(max_length=120)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime
    published_at: datetime | None = None


class ResendRow(SQLModel, table=True):
    """The back-off of one message that may have been lost (a pending request, a delivery
    receipt, an SLA action): how often it was re-sent and when it may be next."""

    __tablename__ = "resend"

    message_id: str = Field(primary_key=True, max_length=40)
    attempts: int = 0
    next_at: datetime


class InboxRow(SQLModel, table=True):
    """A message already applied; a redelivery of it changes nothing."""

    __tablename__ = "inbox"

    message_id: str = Field(primary_key=True, max_length=40)
    subject: str = Field(max_length=120)
    received_at: datetime


class DeadLetterRow(SQLModel, table=True):
    """A message that could not be applied after bounded retries, parked for an operator."""

    __tablename__ = "dead_letter"

    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(max_length=120)
    message_id: str = Field(default="", max_length=80)
    reason: str
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    parked_at: datetime


class SlaClockRow(SQLModel, table=True):
    """The current clock of one goal of one delegation (coordinator only).

    ``next_at`` is the next instant the clock owes something (a warning or its breach); it is NULL
    when nothing is owed, so the sweep finds due work with one indexed range query.
    """

    __tablename__ = "sla_clock"
    __table_args__ = (
        Index("ix_sla_clock_next", "next_at"),
        # The board: running clocks (state, met_at NULL), and those decided in a window (met_at
        # or due_at in a range), without reading every clock ever stored.
        Index("ix_sla_clock_board", "state", "met_at", "due_at"),
    )

    delegation_id: str = Field(primary_key=True, max_length=40)
    goal: str = Field(primary_key=True, max_length=20)
    instance: int
    court: str = Field(max_length=6)
    state: str = Field(max_length=10)
    period: str = Field(max_length=40)
    on_breach: str = Field(max_length=10)
    started_at: datetime
    due_at: datetime
    original_due_at: datetime
    met_at: datetime | None = None
    next_at: datetime | None = None
    warn_at: str = "[]"
    source: str = ""
    warned: int = 0
    breach_fired: bool = False
    version: int = 0


class DataReadRow(SQLModel, table=True):
    """One read of a delegation's unmasked personal data through the API: who, when, which
    delegation, which RPC. Written before the data is returned; listed by the auditor."""

    __tablename__ = "data_read"
    __table_args__ = (
        Index("ix_data_read_at", "at"),
        Index("ix_data_read_delegation", "delegation_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    reader: str = Field(max_length=60)
    delegation_id: str = Field(max_length=40)
    rpc: str = Field(max_length=80)


class DocumentBlobRow(SQLModel, table=True):
    """A document's content held here: uploaded by a local court (verified at upload) or arriving
    in pieces from the bus (``receiving`` until every piece is in, then ``verified`` or
    ``rejected`` by the SHA-256 and size check)."""

    __tablename__ = "document_blob"

    sha256: str = Field(primary_key=True, max_length=64)
    size_bytes: int
    chunk_count: int
    state: str = Field(max_length=10)
    reason: str = ""
    updated_at: datetime


class DocumentChunkRow(SQLModel, table=True):
    """One piece (at most 1 MiB) of a document's content."""

    __tablename__ = "document_chunk"

    sha256: str = Field(primary_key=True, max_length=64)
    idx: int = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class DocumentUseRow(SQLModel, table=True):
    """Which delegation a document belongs to and which court attached it (for forwarding and
    for checking who may read it)."""

    __tablename__ = "document_use"

    delegation_id: str = Field(primary_key=True, max_length=40)
    sha256: str = Field(primary_key=True, max_length=64)
    from_court: str = Field(max_length=6)


class WaitingStepRow(SQLModel, table=True):
    """An entrusted court's step taken on an offer its node holds before the coordinator recorded
    the delivery: applied, in order, as soon as the DELIVERED event arrives (or dropped, with the
    reason, if the delegation went elsewhere meanwhile)."""

    __tablename__ = "waiting_step"
    __table_args__ = (Index("ix_waiting_step_delegation", "delegation_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    delegation_id: str = Field(max_length=40)
    court: str = Field(max_length=6)
    kind: str = Field(max_length=30)
    text: str = ""
    return_reason: str = Field(default="", max_length=30)
    result: str = Field(default="", max_length=20)
    documents: str = "[]"
    at: datetime
    state: str = Field(default="waiting", max_length=10)
    reason: str = ""
    controls: str = Field(default="[]", sa_column_kwargs={"server_default": "[]"})
    detail: str = Field(default="", sa_column_kwargs={"server_default": ""})


class NodeContactRow(SQLModel, table=True):
    """When the coordinator last applied a message from a city's node (any kind: a digest every
    reconciliation interval, syncs, receipts): the board's "last seen" and "offline since".
    Written at most every few seconds per node (coordinator only)."""

    __tablename__ = "node_contact"

    node: str = Field(primary_key=True, max_length=40)
    court: str = Field(default="", max_length=6)
    last_seen_at: datetime
    # The node's parked messages as its last digest reported them (None: never reported).
    # Added by migration 0010.
    parked: int | None = None
    parked_at: datetime | None = None


class OperatorNoteRow(SQLModel, table=True):
    """A command centre's note on a delegation (coordinator only): the centres' own record, not
    an event of the delegation and not part of the courts' hash-chained history."""

    __tablename__ = "operator_note"
    __table_args__ = (
        UniqueConstraint("delegation_id", "request_id", name="uq_operator_note_request"),
    )

    id: int | None = Field(default=None, primary_key=True)
    delegation_id: str = Field(max_length=40)
    request_id: str = Field(max_length=64)
    operator: str = Field(max_length=60)
    at: datetime
    text: str


class OperatorActionRow(SQLModel, table=True):
    """What an operator did, by whom and when: at the coordinator urges, escalations, reroutes,
    notes, and retries and discards of its parked messages; at a node the retries and discards
    of its own parked messages (asked through the coordinator). The action's effect lives where
    it always did (the request, the history, the dead letter); this row records the operator
    identity of the certificate that asked for it."""

    __tablename__ = "operator_action"
    __table_args__ = (Index("ix_operator_action_target", "target", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    operator: str = Field(max_length=60)
    action: str = Field(max_length=20)
    # The delegation id, or "parked:<id>" for a parked message.
    target: str = Field(max_length=60)
    request_id: str = Field(default="", max_length=64)
    reason: str = ""
    outcome: str = ""


_GOALS = ("acknowledge", "start", "progress", "complete", "supplement")
_OPEN = text("state = 0")


def _late_index(goal: str) -> Index:
    """The delegations whose ``goal`` limit was late (few): which weeks a court was listed."""
    where = text(f"{goal}_outcome = 3")
    return Index(
        f"ix_report_fact_late_{goal}",
        f"{goal}_due_week",
        "entrusted_court",
        "requesting_city",
        "entrusted_city",
        f"{goal}_outcome",  # covered: the query need not read the row to check it
        sqlite_where=where,
        postgresql_where=where,
    )


class ReportFactRow(SQLModel, table=True):
    """What one delegation contributes to the SLA reports (coordinator only): recomputed from its
    history and clocks on every change (domain/report.py ``fact_of``), so a report is a few
    aggregations over this table and never a fold of every history (docs/reports.md).

    Days are ordinals (``date.toordinal()``) of local (Asia/Shanghai) days, so weeks and ages are
    integer arithmetic in any SQL dialect. Per time limit: ``*_outcome`` (domain Outcome),
    ``*_due`` (the running instance's due instant, to tell late from running at report time) and
    ``*_due_week`` (the Monday of the week it ran out: which weeks a court was listed late).

    Laid out for the report's grouped queries (docs/benchmarks.md, "SLA report"): on SQLite the
    table is stored in the order of its primary key, the report's grouping (requesting city,
    entrusted court, task type, asset kind), so the sums stream without a sort; each other query
    reads an index that holds every column it needs, in the order it groups by. The open
    delegations and the late limits have partial indexes of their own."""

    __tablename__ = "report_fact"
    __table_args__ = (
        UniqueConstraint("delegation_id", name="uq_report_fact_delegation"),
        Index(
            "ix_report_fact_acknowledge",
            "requesting_city",
            "entrusted_court",
            "task_type",
            "asset_kind",
            "acknowledge_days",
            "sent_day",
        ),
        Index(
            "ix_report_fact_complete",
            "requesting_city",
            "entrusted_court",
            "task_type",
            "asset_kind",
            "complete_days",
            "sent_day",
        ),
        Index(
            "ix_report_fact_week",
            "sent_week",
            "sent_day",
            "state",
            "requesting_city",
            "entrusted_city",
            "met_count",
            "late_count",
            "delivery_minutes",
        ),
        Index(
            "ix_report_fact_open",
            "state",
            "sent_day",
            "sent_week",
            "requesting_city",
            "entrusted_city",
            # The grouping again: SQLite's indexes of a WITHOUT ROWID table hold the primary key
            # anyway, PostgreSQL's must name it to answer from the index alone.
            "entrusted_court",
            "task_type",
            "asset_kind",
            *(f"{g}_{part}" for g in _GOALS for part in ("outcome", "due", "due_week")),
            sqlite_where=_OPEN,
            postgresql_where=_OPEN,
        ),
        *(_late_index(g) for g in _GOALS),
        {"sqlite_with_rowid": False},
    )

    # The primary key is the report's grouping, then the delegation (unique on its own).
    requesting_city: str = Field(primary_key=True, max_length=20)
    entrusted_court: str = Field(primary_key=True, max_length=6)
    task_type: str = Field(primary_key=True, max_length=30)
    asset_kind: str = Field(primary_key=True, max_length=20)
    delegation_id: str = Field(primary_key=True, max_length=40)
    requesting_court: str = Field(max_length=6)
    entrusted_city: str = Field(default="", max_length=20)
    priority: str = Field(max_length=10)
    state: int
    sent_day: int
    sent_week: int
    closed_day: int | None = None
    acknowledge_days: int | None = None
    complete_days: int | None = None
    # Limits met and late when the fact was written (running ones are in neither).
    met_count: int = 0
    late_count: int = 0
    acknowledge_outcome: int = 0
    acknowledge_due: datetime | None = None
    acknowledge_due_week: int | None = None
    start_outcome: int = 0
    start_due: datetime | None = None
    start_due_week: int | None = None
    progress_outcome: int = 0
    progress_due: datetime | None = None
    progress_due_week: int | None = None
    complete_outcome: int = 0
    complete_due: datetime | None = None
    complete_due_week: int | None = None
    supplement_outcome: int = 0
    supplement_due: datetime | None = None
    supplement_due_week: int | None = None
    returns_jurisdiction: int = 0
    returns_materials: int = 0
    returns_unclear: int = 0
    returns_other: int = 0
    urges: int = 0
    escalations: int = 0
    # Minutes from sending to the first delivery (None until delivered): outages show here.
    delivery_minutes: int | None = None


class RegistryTaskRow(SQLModel, table=True):
    """One request of a node to one of its city's registries for a delegation it received (an
    automatic inquiry or control, jiaodong.app.registries). Written with the delivery, in the same
    transaction; the desk takes it through pending -> submitted -> answered, or to manual (the
    connector kept failing: officers take over), dropped (the delegation went elsewhere or was
    cancelled), superseded (an officer acted first) or held (a city that reviews results: until a
    clerk releases it). ``next_at`` is when the desk looks at it
    again (None once it is settled). Also the record of the personal data read: who asked (the
    requesting court), when, about whom (the delegation's debtor) and why (its case number)."""

    __tablename__ = "registry_task"
    __table_args__ = (Index("ix_registry_task_next", "next_at"),)

    id: str = Field(primary_key=True, max_length=64)  # the request id the connector sees
    delegation_id: str = Field(max_length=40, index=True)
    court: str = Field(max_length=6)  # the entrusted court, whose link is used
    requesting_court: str = Field(max_length=6)
    case_number: str = Field(default="", max_length=60)
    asset_kind: str = Field(max_length=20)
    action: str = Field(max_length=10)
    state: str = Field(default="pending", max_length=12)
    attempts: int = 0
    next_at: datetime | None = None
    registry_no: str = Field(default="", max_length=80)
    expected_at: datetime | None = None
    submitted_at: datetime | None = None
    results: str = "[]"  # the results recorded so far, in the contract's wire form (JSON)
    last_error: str = ""
    reviewed_by: str = Field(default="", max_length=60)  # who released a held result
    accepted_seq: int = 0  # the desk's ACCEPTED event (0: it accepted nothing)
    created_at: datetime
    updated_at: datetime
    # For a renewal: the registry's numbers of the controls it renews, comma-separated (0014).
    control_no: str = Field(default="", sa_column_kwargs={"server_default": ""})


class ControlWatchRow(SQLModel, table=True):
    """A seizure or freeze in force and the watch on its expiry (coordinator only): one row per
    control term of a history event, its renewal dates on the working-day calendar, and the next
    instant its state changes (``next_at``, swept like the SLA clocks)."""

    __tablename__ = "control_watch"
    __table_args__ = (
        Index("ix_control_watch_next", "next_at"),
        Index("ix_control_watch_ends", "ends_on"),
        # The board's count of renewals due reads this index, not the table.
        Index("ix_control_watch_state", "state"),
    )

    delegation_id: str = Field(primary_key=True, max_length=40)
    seq: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    requesting_court: str = Field(max_length=6)
    entrusted_court: str = Field(max_length=6)
    asset: str = Field(max_length=20)
    reference: str = Field(max_length=64)
    starts_on: date
    ends_on: date
    warn_on: date
    renew_by: date
    renewed_by: str = Field(default="", max_length=40)
    state: str = Field(max_length=20)
    next_at: datetime | None = None
