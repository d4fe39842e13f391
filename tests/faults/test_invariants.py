"""The invariant check itself: it must see a lost event, a missing side and a duplicate, reading
the database files alone (no processes here, so this runs with the unit tests)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import SQLModel, create_engine

from jiaodong.files.registry import load_registry
from jiaodong.store import tables  # noqa: F401  (registers the tables)
from tests.faults.invariants import check

REGISTRY = load_registry()
QD = REGISTRY.courts_in_city("qingdao")[0].court_id
YT = REGISTRY.courts_in_city("yantai")[0].court_id
SERVICES = ["coordinator", *(REGISTRY.city(c).node for c in REGISTRY.cities)]
KINDS = ["CREATED", "ROUTED", "DELIVERED", "ACKNOWLEDGED", "ACCEPTED", "COMPLETED", "CONFIRMED"]


def history(delegation_id: str, upto: int) -> list[tuple[int, str, str, str, str, str]]:
    out, prev = [], ""
    for seq, kind in enumerate(KINDS[:upto], start=1):
        h = hashlib.sha256(f"{delegation_id}{seq}{prev}".encode()).hexdigest()
        request_id = f"confirm-{delegation_id}" if kind == "CONFIRMED" else ""
        out.append((seq, f"{delegation_id}-e{seq}", kind, request_id, prev, h))
        prev = h
    return out


def put(data_dir: Path, service: str, delegation_id: str, request_id: str, upto: int = 7) -> None:
    conn = sqlite3.connect(data_dir / f"{service}.db")
    events = history(delegation_id, upto)
    now = datetime(2026, 1, 5).isoformat(sep=" ")
    with conn:
        conn.execute(
            "INSERT INTO delegation (id, request_id, requesting_court, requesting_city, "
            "entrusted_court, entrusted_city, task_type, priority, status, seq, last_hash, cycle, "
            "result, fingerprint, warnings, content, created_at, updated_at) "
            "VALUES (?, ?, ?, 'qingdao', ?, 'yantai', 'SEIZURE', 'NORMAL', ?, ?, ?, 0, '', '', "
            "'', x'', ?, ?)",
            (delegation_id, request_id, QD, YT, KINDS[upto - 1], upto, events[-1][-1], now, now),
        )
        conn.executemany(
            "INSERT INTO delegation_event (delegation_id, seq, event_id, kind, side, actor_court, "
            "at, text, court_id, return_reason, result, documents, request_id, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, 'REQUESTING', '', ?, '', '', '', '', '[]', ?, ?, ?)",
            [(delegation_id, s, e, k, now, r, p, h) for s, e, k, r, p, h in events],
        )
    conn.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    for service in SERVICES:
        engine = create_engine(f"sqlite:///{tmp_path / f'{service}.db'}")
        SQLModel.metadata.create_all(engine)
        engine.dispose()
    return tmp_path


def on_all_sides(data_dir: Path, delegation_id: str, request_id: str) -> None:
    for service in ("coordinator", "node-qingdao", "node-yantai"):
        put(data_dir, service, delegation_id, request_id)


def test_agreeing_confirmed_delegations_hold(data_dir: Path) -> None:
    on_all_sides(data_dir, "d1", "f-1")
    on_all_sides(data_dir, "d2", "f-2")
    report = check(data_dir, REGISTRY, [(QD, "f-1"), (QD, "f-2")], [(QD, "f-1")], "f-")
    assert report.holds, report.problems
    assert (report.confirmed, report.lost, report.duplicated, report.disagree) == (2, 0, 0, 0)


def test_missing_side_is_lost_and_shorter_history_disagrees(data_dir: Path) -> None:
    put(data_dir, "coordinator", "d1", "f-1")
    put(data_dir, "node-qingdao", "d1", "f-1")  # never reached yantai
    put(data_dir, "coordinator", "d2", "f-2")
    put(data_dir, "node-qingdao", "d2", "f-2", upto=6)  # the confirmation never came back
    put(data_dir, "node-yantai", "d2", "f-2")
    report = check(data_dir, REGISTRY, [(QD, "f-1"), (QD, "f-2"), (QD, "f-3")], [], "f-")
    assert not report.holds
    assert report.lost == 1 and report.disagree == 1 and report.unsent == 1
    assert any("missing at entrusted (node-yantai)" in p for p in report.problems)


def test_created_then_forgotten_is_lost(data_dir: Path) -> None:
    report = check(data_dir, REGISTRY, [(QD, "f-1")], [(QD, "f-1")], "f-")
    assert report.lost == 1 and not report.holds


def test_same_request_twice_is_a_duplicate(data_dir: Path) -> None:
    on_all_sides(data_dir, "d1", "f-1")
    put(data_dir, "node-weifang", "d9", "f-1")  # the same request stored under a second id
    on_all_sides(data_dir, "d3", "f-3")  # stored, but the driver never sent it
    report = check(data_dir, REGISTRY, [(QD, "f-1")], [(QD, "f-1")], "f-")
    assert report.duplicated == 2 and not report.holds
