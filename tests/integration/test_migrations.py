"""Schema migrations: a database of the previous schema, with data in it, upgrades losing nothing.

Every test runs on SQLite and on PostgreSQL. The previous schema is the spine's (revision 0001,
before ``sla_clock``); databases made before migrations existed (``create_all``, no
``alembic_version``) are stamped and upgraded by ``Database.create_schema``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, col, select

from jiaodong.domain.lifecycle import Document, Event, EventKind, Side, Status, fold, verify_chain
from jiaodong.store import ledger, migrate, outbox
from jiaodong.store.database import Database, make_engine, sqlite_url
from jiaodong.store.mapper import content_of, event_row
from jiaodong.store.tables import DeadLetterRow, DelegationRow, OutboxRow, SlaClockRow
from jiaodong.v1 import bus_pb2
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import RESIDENT_ID

SPINE = ("delegation", "delegation_event", "action_request", "outbox", "inbox", "dead_letter")
ORDER = {
    "delegation": "id",
    "delegation_event": "delegation_id, seq",
    "action_request": "delegation_id, request_id",
    "outbox": "id",
    "inbox": "message_id",
    "dead_letter": "id",
}
QD, YT = "370202", "370602"
T0 = datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)
DELEGATION_ID = "5f0c2a9e8b7d4c3e9a1b2c3d4e5f6a7b"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "coordinator.db")
    value: str = request.getfixturevalue("postgres_url")
    return value


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


# --- the previous schema's data ------------------------------------------------------------------


def _content() -> bytes:
    """A delegation's fixed content as the spine stores it: deterministic protobuf bytes."""
    content = pb.Delegation(
        id=DELEGATION_ID,
        request_id="9b1d7e0c2f4a4e6b8c0d1e2f3a4b5c6d",
        case_number="(2024)鲁0202执123号",
        requesting_court=QD,
        target=pb.Target(city="yantai", district="芝罘区"),
        task_type=pb.TASK_TYPE_SEIZURE,
        asset_kind=pb.ASSET_KIND_VEHICLE,
        debtor=pb.Party(
            person=pb.Person(name="张三", resident_id=RESIDENT_ID), phone="13800138000"
        ),
        place=pb.Place(address="芝罘区南大街1号", district="芝罘区"),
        requested_actions="扣押被执行人名下车辆;查封登记证书",
        priority=pb.PRIORITY_URGENT,
        plate="鲁F12345",
    )
    content.documents.add(
        name="协助执行通知书.pdf",
        media_type="application/pdf",
        size_bytes=183_204,
        sha256=hashlib.sha256(b"notice").hexdigest(),
    )
    return content.SerializeToString(deterministic=True)


def _history() -> list[Event]:
    """CREATED, ROUTED, DELIVERED: a real hash chain the lifecycle accepts."""
    drafts = [
        Event(
            event_id="e1" + "0" * 30,
            seq=1,
            kind=EventKind.CREATED,
            side=Side.REQUESTING,
            actor_court=QD,
            at=T0,
            text="申请协助扣押车辆",
            documents=(
                Document(
                    "协助执行通知书.pdf",
                    "application/pdf",
                    183_204,
                    hashlib.sha256(b"notice").hexdigest(),
                ),
            ),
            request_id="9b1d7e0c2f4a4e6b8c0d1e2f3a4b5c6d",
        ),
        Event(
            event_id="e2" + "0" * 30,
            seq=2,
            kind=EventKind.ROUTED,
            side=Side.COORDINATOR,
            actor_court="",
            at=T0 + timedelta(seconds=1, microseconds=7),
            court_id=YT,
        ),
        Event(
            event_id="e3" + "0" * 30,
            seq=3,
            kind=EventKind.DELIVERED,
            side=Side.ENTRUSTED,
            actor_court=YT,
            at=T0 + timedelta(seconds=2, microseconds=999_999),
        ),
    ]
    sealed: list[Event] = []
    prev = ""
    for draft in drafts:
        event = draft.sealed(prev)
        sealed.append(event)
        prev = event.hash
    return sealed


def _spine_rows() -> dict[str, list[dict[str, Any]]]:
    history = _history()
    at = [e.at for e in history]
    envelope = bus_pb2.Envelope(message_id="m" * 32).SerializeToString(deterministic=True)
    return {
        "delegation": [
            {
                "id": DELEGATION_ID,
                "request_id": "9b1d7e0c2f4a4e6b8c0d1e2f3a4b5c6d",
                "requesting_court": QD,
                "requesting_city": "qingdao",
                "entrusted_court": YT,
                "entrusted_city": "yantai",
                "task_type": "SEIZURE",
                "priority": "URGENT",
                "status": "DELIVERED",
                "seq": 3,
                "last_hash": history[-1].hash,
                "cycle": 1,
                "result": "",
                "fingerprint": hashlib.sha256(b"fingerprint").hexdigest(),
                "warnings": '["同一被执行人已有进行中的委托"]',
                "content": _content(),
                "created_at": at[0],
                "updated_at": at[2],
                "routed_at": at[1],
                "delivered_at": at[2],
                "acknowledged_at": None,
                "accepted_at": None,
                "returned_at": None,
                "completed_at": None,
                "closed_at": None,
            }
        ],
        "delegation_event": [event_row(DELEGATION_ID, e).model_dump() for e in history],
        "action_request": [
            {
                "delegation_id": DELEGATION_ID,
                "request_id": "urge-" + "7" * 27,
                "kind": "URGED",
                "side": "REQUESTING",
                "actor_court": QD,
                "state": "pending",
                "reason": "执行期限将至,请尽快办理",
                "created_at": at[2] + timedelta(hours=30),
            }
        ],
        "outbox": [
            {
                "message_id": "m" * 32,
                "subject": f"jd.node.yantai.delegation.{DELEGATION_ID}",
                "payload": envelope,
                "created_at": at[2],
                "published_at": at[2] + timedelta(milliseconds=3),
            }
        ],
        "inbox": [
            {
                "message_id": "i" * 32,
                "subject": f"jd.node.qingdao.delegation.{DELEGATION_ID}",
                "received_at": at[1],
            }
        ],
        "dead_letter": [
            {
                "subject": "jd.node.qingdao.delegation.unknown",
                "message_id": "",
                "reason": "undecodable envelope",
                # Every byte value, NUL and 0xFF included: a BLOB must keep them all.
                "payload": bytes(range(256)) + b"\x00\xff\xfe",
                "parked_at": at[2] + timedelta(minutes=5),
            }
        ],
    }


def _insert_spine_rows(engine: Engine) -> None:
    """Write the rows with sqlalchemy Core against the tables as they are in the database."""
    with engine.begin() as conn:
        present = sa.MetaData()
        present.reflect(conn, only=list(SPINE))
        for name, rows in _spine_rows().items():
            conn.execute(present.tables[name].insert(), rows)


def _snapshot(conn: Connection) -> dict[str, list[tuple[Any, ...]]]:
    """Every spine row as the driver returns it (no sqlalchemy type processing)."""
    return {
        name: [
            tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY {ORDER[name]}")
        ]
        for name in SPINE
    }


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def _diff(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))


def _check_data_survived(engine: Engine, before: dict[str, list[tuple[Any, ...]]]) -> None:
    """Byte for byte the same rows, and the service reads them as it wrote them."""
    with engine.connect() as conn:
        after = _snapshot(conn)
    # Columns added later come last: empty for rows already there (0007: delegation.changed_at),
    # or filled in from what the row holds (0008: delegation.case_number, from its content; a
    # table create_all made has the column already, as the code that wrote the row fills it;
    # 0014: delegation_event.controls, "[]" for events that recorded no control; 0015:
    # delegation_event.detail and delegation.operation_window "", operation_day NULL).
    filled = {
        "delegation": ["(2024)鲁0202执123号", ""],
        "delegation_event": ["[]", ""] * len(before.get("delegation_event", [])),
    }
    for name, rows in before.items():
        width = len(rows[0]) if rows else 0
        assert [r[:width] for r in after[name]] == rows, name
        added = [v for r in after[name] for v in r[width:] if v is not None]
        grew = bool(rows) and len(after[name][0]) > width
        assert added == (filled.get(name, []) if grew else []), name
    expected = _spine_rows()
    with Session(engine) as session:
        row = session.get(DelegationRow, DELEGATION_ID)
        assert row is not None
        assert row.content == _content()
        assert content_of(row).case_number == "(2024)鲁0202执123号"
        assert row.created_at == T0  # aware UTC, microseconds kept
        assert row.warnings == expected["delegation"][0]["warnings"]
        history = ledger.history(session, DELEGATION_ID)
        assert history == _history()
        assert verify_chain(history) is None
        state = fold(DELEGATION_ID, QD, history)
        assert (state.status, state.seq, state.last_hash) == (
            Status.DELIVERED,
            row.seq,
            row.last_hash,
        )
        [request] = ledger.requests(session, DELEGATION_ID)
        assert request.reason == expected["action_request"][0]["reason"]
        queued = session.exec(select(OutboxRow)).one()
        assert queued.payload == expected["outbox"][0]["payload"]
        assert queued.published_at == expected["outbox"][0]["published_at"]
        assert outbox.seen(session, "i" * 32)
        parked = session.exec(select(DeadLetterRow)).one()
        assert parked.payload == expected["dead_letter"][0]["payload"]


def _check_writable(engine: Engine) -> None:
    """New rows go in after the old ones (PostgreSQL sequences intact) and sla_clock works."""
    with Session(engine) as session, session.begin():
        old = session.exec(select(col(OutboxRow.id))).one()
        fresh = OutboxRow(
            message_id="n" * 32, subject="jd.coordinator", payload=b"\x00new", created_at=T0
        )
        session.add(fresh)
        session.add(
            SlaClockRow(
                delegation_id=DELEGATION_ID,
                goal="acknowledge",
                instance=1,
                court=YT,
                state="running",
                period="1 working day",
                on_breach="escalate",
                started_at=T0,
                due_at=T0 + timedelta(days=1),
                original_due_at=T0 + timedelta(days=1),
                next_at=T0 + timedelta(hours=20),
                warn_at='["PT4H"]',
                source="policy",
                breach_fired=False,
            )
        )
        session.flush()
        assert fresh.id is not None and old is not None and fresh.id > old
    with Session(engine) as session:
        due = session.exec(
            select(SlaClockRow).where(col(SlaClockRow.next_at) <= T0 + timedelta(days=1))
        ).all()
        assert [(c.delegation_id, c.goal, c.next_at) for c in due] == [
            (DELEGATION_ID, "acknowledge", T0 + timedelta(hours=20))
        ]


# --- the tests -----------------------------------------------------------------------------------


def test_upgrade_from_spine_keeps_every_row(engine: Engine) -> None:
    migrate.upgrade(engine, "0001")
    assert migrate.current(engine) == "0001"
    assert _tables(engine) == {*SPINE, "alembic_version"}
    _insert_spine_rows(engine)
    with engine.connect() as conn:
        before = _snapshot(conn)
    assert [len(before[name]) for name in SPINE] == [1, 3, 1, 1, 1, 1]

    migrate.upgrade(engine)

    assert migrate.current(engine) == migrate.head() == "0015"
    assert {"sla_clock", "data_read", "waiting_step", "resend"} <= _tables(engine)
    _check_data_survived(engine, before)
    _check_writable(engine)


def test_migrations_give_exactly_the_models_schema(engine: Engine) -> None:
    migrate.upgrade(engine, "0001")
    # The comparison is live: at the spine's revision it sees exactly what 0002-0014 add.
    # ("add_column", schema, table, column); the others ("add_x", x).
    missing = {(d[0], (d[3] if d[0] == "add_column" else d[1]).name) for d in _diff(engine)}
    assert missing == {
        ("add_table", "sla_clock"),
        ("add_index", "ix_sla_clock_next"),
        ("add_table", "data_read"),
        ("add_index", "ix_data_read_at"),
        ("add_index", "ix_data_read_delegation"),
        ("add_table", "document_blob"),
        ("add_table", "document_chunk"),
        ("add_table", "document_use"),
        # 0005: the list indexes gain the id (page order) and one orders the whole region.
        ("remove_index", "ix_delegation_requesting"),
        ("add_index", "ix_delegation_requesting"),
        ("remove_index", "ix_delegation_entrusted"),
        ("add_index", "ix_delegation_entrusted"),
        ("add_index", "ix_delegation_created"),
        # 0006: steps an entrusted court takes before its delivery is recorded.
        ("add_table", "waiting_step"),
        ("add_index", "ix_waiting_step_delegation"),
        # 0007: the re-send schedule (back-off per message), and when this database last changed
        # each delegation.
        ("add_table", "resend"),
        ("add_column", "changed_at"),
        # 0008: the board's node contacts and case-number search.
        ("add_table", "node_contact"),
        ("add_column", "case_number"),
        # 0009: the command centres' notes and the record of operator actions.
        ("add_table", "operator_note"),
        ("add_table", "operator_action"),
        ("add_index", "ix_operator_action_target"),
        ("add_index", "ix_delegation_board"),
        ("add_index", "ix_sla_clock_board"),
        # 0010: each node's parked count, from its digests (node_contact is new since 0008, so
        # its columns come with the table here).
        # 0011: the SLA reports' facts (0012 adds a column and widens the week index).
        ("add_table", "report_fact"),
        *(
            ("add_index", f"ix_report_fact_{name}")
            for name in (
                "acknowledge",
                "complete",
                "week",
                "open",
                *(
                    f"late_{g}"
                    for g in ("acknowledge", "start", "progress", "complete", "supplement")
                ),
            )
        ),
        # 0013: a node's requests to its city's registries.
        ("add_table", "registry_task"),
        ("add_index", "ix_registry_task_next"),
        ("add_index", "ix_registry_task_delegation_id"),
        # 0014: control terms on events, renewals' numbers, and the watch on their expiry.
        ("add_column", "controls"),
        ("add_table", "control_watch"),
        ("add_index", "ix_control_watch_next"),
        ("add_index", "ix_control_watch_ends"),
        ("add_index", "ix_control_watch_state"),
        # 0015: on-site assistance: step payloads, and the operation's day for the calendar.
        ("add_column", "detail"),
        ("add_column", "operation_day"),
        ("add_column", "operation_window"),
        ("add_index", "ix_delegation_operation_day"),
    }

    migrate.upgrade(engine)

    assert _diff(engine) == []


def _shape(engine: Engine, schema: str | None = None) -> dict[str, Any]:
    """Tables with their columns, keys, constraint names and indexes, as the database has them."""
    inspector = sa.inspect(engine)
    return {
        t: (
            [
                (c["name"], str(c["type"]), c["nullable"], c.get("autoincrement"))
                for c in inspector.get_columns(t, schema)
            ],
            inspector.get_pk_constraint(t, schema)["constrained_columns"],
            sorted(
                (i["name"], tuple(i["column_names"]), i["unique"])
                for i in inspector.get_indexes(t, schema)
            ),
            sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(t, schema)
            ),
            [
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(t, schema)
            ],
        )
        for t in inspector.get_table_names(schema)
        if t != "alembic_version"
    }


def test_migrations_match_what_create_all_made(engine: Engine, tmp_path: Path) -> None:
    """The same tables, columns, keys, constraint names and indexes as the builds before
    migrations made with create_all, so later revisions can name what they change."""
    migrate.upgrade(engine)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE SCHEMA legacy")
            SQLModel.metadata.create_all(
                conn.execution_options(schema_translate_map={None: "legacy"})
            )
        assert _shape(engine) == _shape(engine, "legacy")
        return
    other = make_engine(sqlite_url(tmp_path / "create_all.db"))
    try:
        SQLModel.metadata.create_all(other)
        assert _shape(engine) == _shape(other)
    finally:
        other.dispose()


# Tables of revisions after 0002: databases "made by older builds" never had them.
LATER = {
    "node_contact",
    "operator_note",
    "operator_action",
    "data_read",
    "document_blob",
    "document_chunk",
    "document_use",
    "waiting_step",
    "resend",
    "registry_task",
    "control_watch",
}


@pytest.mark.parametrize(
    "made_by",
    ["spine-0001-unstamped", "spine-create_all", "sla-create_all"],
)
def test_database_without_alembic_version_is_stamped_and_upgraded(
    engine: Engine, url: str, made_by: str
) -> None:
    if made_by == "spine-0001-unstamped":
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE alembic_version")
    else:
        tables = [
            t
            for t in SQLModel.metadata.sorted_tables
            if t.name not in LATER and (made_by.startswith("sla") or t.name != "sla_clock")
        ]
        SQLModel.metadata.create_all(engine, tables=tables)
    assert migrate.current(engine) is None
    expected = "0002" if made_by.startswith("sla") else "0001"
    with engine.connect() as conn:
        assert migrate.legacy_revision(conn) == expected
    _insert_spine_rows(engine)
    with engine.connect() as conn:
        before = _snapshot(conn)

    db = Database(url)
    try:
        db.create_schema()
        db.create_schema()  # every start runs it; the second is a no-op
        assert migrate.current(db.engine) == migrate.head() == "0015"
    finally:
        db.close()

    _check_data_survived(engine, before)
    _check_writable(engine)
    assert _diff(engine) == []


def test_fresh_database_is_created_at_head(url: str) -> None:
    db = Database(url)
    try:
        db.create_schema()
        assert migrate.current(db.engine) == migrate.head()
        assert _diff(db.engine) == []
    finally:
        db.close()


def test_failed_upgrade_changes_nothing(engine: Engine) -> None:
    """All revisions run in one transaction: a failure in 0002 undoes 0001 too."""
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE stray (next_at INTEGER)")
        conn.exec_driver_sql("CREATE INDEX ix_sla_clock_next ON stray (next_at)")

    with pytest.raises(sa.exc.DatabaseError):
        migrate.upgrade(engine)

    assert _tables(engine) == {"stray"}
    assert migrate.current(engine) is None


def test_tables_matching_no_revision_are_refused(engine: Engine) -> None:
    with engine.begin() as conn:
        SQLModel.metadata.tables["inbox"].create(conn)
        SQLModel.metadata.tables["sla_clock"].create(conn)

    with pytest.raises(migrate.SchemaError, match="match no revision"):
        migrate.upgrade(engine)

    assert _tables(engine) == {"inbox", "sla_clock"}


def test_0012_clears_the_facts_for_the_backfill_and_adds_the_delivery_figure(
    engine: Engine,
) -> None:
    """Facts written before 0012 lack the delivery figure: 0012 removes them (derived data: the
    coordinator's backfill writes every one again from the histories) and adds the column."""
    migrate.upgrade(engine, "0011")
    goals = ("acknowledge", "start", "progress", "complete", "supplement")
    row: dict[str, Any] = {
        "requesting_city": "qingdao", "entrusted_court": "370602", "task_type": "seizure",
        "asset_kind": "vehicle", "delegation_id": "d1", "requesting_court": "370202",
        "entrusted_city": "yantai", "priority": "NORMAL", "state": 0, "sent_day": 739617,
        "sent_week": 739615, "met_count": 0, "late_count": 0, "returns_jurisdiction": 0,
        "returns_materials": 0, "returns_unclear": 0, "returns_other": 0, "urges": 0,
        "escalations": 0, **{f"{g}_outcome": 0 for g in goals},
    }  # fmt: skip
    facts = sa.table("report_fact", *(sa.column(name) for name in row))
    with engine.begin() as conn:
        conn.execute(sa.insert(facts), [row])

    migrate.upgrade(engine)

    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM report_fact")).scalar_one() == 0
        columns = {c["name"] for c in sa.inspect(conn).get_columns("report_fact")}
        week = {i["name"]: i["column_names"] for i in sa.inspect(conn).get_indexes("report_fact")}
    assert "delivery_minutes" in columns
    assert week["ix_report_fact_week"][-1] == "delivery_minutes"
