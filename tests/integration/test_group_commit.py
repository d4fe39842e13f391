"""Group commit in the database thread: work that waits while the thread is busy is committed
together, each piece in its own savepoint; one that fails is rolled back alone."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from jiaodong.store.database import Database, sqlite_url
from jiaodong.store.tables import InboxRow

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def remember(message_id: str):  # type: ignore[no-untyped-def]
    def work(session: Session) -> str:
        session.add(InboxRow(message_id=message_id, subject="jd.v1.test", received_at=NOW))
        session.flush()
        return message_id

    return work


def fail_after_writing(session: Session) -> str:
    session.add(InboxRow(message_id="doomed", subject="jd.v1.test", received_at=NOW))
    session.flush()
    raise LookupError("this piece fails after writing")


async def holding(db: Database, release: threading.Event) -> asyncio.Task[str]:
    """Keep the database thread busy until ``release`` is set, so the work sent meanwhile waits
    and is committed together; the task answers "held"."""
    busy = threading.Event()

    def hold(session: Session) -> str:
        busy.set()
        assert release.wait(10)
        return "held"

    first = asyncio.create_task(db.run(hold))
    assert await asyncio.get_running_loop().run_in_executor(None, busy.wait, 10)
    return first


async def test_waiting_work_shares_one_commit_and_fails_alone(tmp_path: Path) -> None:
    db = Database(sqlite_url(tmp_path / "group.db"))
    db.BUDGET = 60.0  # the group's end is then the rule under test, not a loaded machine's clock
    db.create_schema()
    try:
        release = threading.Event()
        first = await holding(db, release)
        waiting = [asyncio.create_task(db.run(remember(f"m-{i}"))) for i in range(10)]
        doomed = asyncio.create_task(db.run(fail_after_writing))
        waiting.append(asyncio.create_task(db.run(remember("m-last"))))
        await asyncio.sleep(0.05)  # all are queued behind the held transaction
        release.set()

        assert await first == "held"
        assert [await w for w in waiting] == [*(f"m-{i}" for i in range(10)), "m-last"]
        with pytest.raises(LookupError):
            await doomed
        assert db.commits == 2  # the held one alone, then the twelve waiting together

        stored = db.transaction(lambda s: set(s.exec(select(InboxRow.message_id)).all()))
        assert stored == {*(f"m-{i}" for i in range(10)), "m-last"}  # not "doomed"
    finally:
        db.close()


async def test_the_same_key_twice_is_stored_once_and_the_second_caller_told(tmp_path: Path) -> None:
    """Two pieces insert the same key, together or one after the other: the second fails (in
    its savepoint when they share a commit), the first is stored."""
    db = Database(sqlite_url(tmp_path / "dupe.db"))
    db.create_schema()
    try:
        results = await asyncio.gather(
            db.run(remember("same")), db.run(remember("same")), return_exceptions=True
        )
        assert results[0] == "same"
        assert isinstance(results[1], Exception)
        assert db.transaction(lambda s: len(s.exec(select(InboxRow)).all())) == 1
    finally:
        db.close()


async def test_a_piece_whose_writes_fail_at_release_fails_alone(tmp_path: Path) -> None:
    """A piece that writes a bad row without flushing fails when its savepoint is released: it,
    not its neighbours, gets the error, and the database thread goes on serving."""
    db = Database(sqlite_url(tmp_path / "release.db"))
    db.create_schema()
    try:

        def unflushed_duplicate(session: Session) -> str:
            session.add(InboxRow(message_id="m-0", subject="jd.v1.test", received_at=NOW))
            return "claims success"

        release = threading.Event()
        first = await holding(db, release)
        good = asyncio.create_task(db.run(remember("m-0")))
        bad = asyncio.create_task(db.run(unflushed_duplicate))
        after = asyncio.create_task(db.run(remember("m-1")))
        await asyncio.sleep(0.05)
        release.set()
        assert await first == "held"
        assert await good == "m-0"
        with pytest.raises(Exception, match="UNIQUE"):
            await bad
        assert await after == "m-1"
        assert await asyncio.wait_for(db.run(remember("m-2")), 10) == "m-2"  # still serving
    finally:
        db.close()


async def test_a_read_is_answered_without_waiting_for_work_behind_it(tmp_path: Path) -> None:
    """A piece that writes nothing ends its group: the read is answered, and the slow work queued
    behind it runs in the next transaction."""
    db = Database(sqlite_url(tmp_path / "reads.db"))
    db.create_schema()
    try:
        slow_started, release2 = threading.Event(), threading.Event()

        def slow_write(session: Session) -> str:
            slow_started.set()
            session.add(InboxRow(message_id="slow", subject="jd.v1.test", received_at=NOW))
            session.flush()
            assert release2.wait(10)
            return "slow"

        release = threading.Event()
        first = await holding(db, release)
        read = asyncio.create_task(db.run(lambda s: len(s.exec(select(InboxRow)).all())))
        slow = asyncio.create_task(db.run(slow_write))
        await asyncio.sleep(0.05)
        release.set()
        assert await first == "held"
        # The read comes back while the slow write behind it is still running.
        assert await asyncio.wait_for(read, 5) == 0
        assert slow_started.wait(5) and not slow.done()
        release2.set()
        assert await slow == "slow"
    finally:
        db.close()


async def test_a_read_does_not_wait_for_the_writer_thread(tmp_path: Path) -> None:
    """Database.read runs beside the writer: while a write transaction is held open on the
    writer thread, a read answers (and sees only what is committed)."""
    db = Database(sqlite_url(tmp_path / "r.db"))
    db.create_schema()
    release = threading.Event()
    entered = threading.Event()

    def slow_write(session: Session) -> None:
        remember("m-before")(session)
        entered.set()
        assert release.wait(30), "the test never released the writer"

    try:
        await db.run(remember("m-committed"))
        writing = asyncio.create_task(db.run(slow_write))
        assert await asyncio.to_thread(entered.wait, 30)
        seen = await asyncio.wait_for(
            db.read(
                lambda s: {
                    r[0] for r in s.connection().exec_driver_sql("SELECT message_id FROM inbox")
                }
            ),
            timeout=10,
        )
        assert seen == {"m-committed"}, "a read sees what is committed, not the open write"
        release.set()
        await writing
    finally:
        release.set()
        db.close()
