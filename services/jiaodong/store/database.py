"""Engine set-up and the one-thread executor that runs every transaction of a service.

SQLite (a file per service, WAL) is the default; PostgreSQL when a URL is given. All database work
of one service runs on a single worker thread, so transactions never interleave and the asyncio loop
never blocks on I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Engine
from sqlmodel import Session, create_engine

from jiaodong.store import tables  # noqa: F401  (registers the tables)
from jiaodong.store.migrate import upgrade

T = TypeVar("T")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def make_engine(url: str, *, reader: bool = False) -> Engine:
    """The engine of a service's database; ``reader``: for read-only transactions beside the
    writer thread (SQLite: a deferred BEGIN, so a reader takes no lock and, in WAL, neither waits
    for the writer nor holds it up)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()
            # pysqlite begins a transaction only before a write, so reads before it and SAVEPOINTs
            # would run outside it (a SAVEPOINT would even commit on release). SQLAlchemy's
            # documented remedy: take transactions away from the driver and BEGIN on every begin.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            if reader:
                conn.exec_driver_sql("BEGIN")
                return
            # IMMEDIATE: the write lock from the start. A service's transactions run one at a
            # time on its database thread anyway; between processes sharing a file (two
            # coordinators, a migration) a deferred BEGIN would fail as "database is locked" when
            # a read transaction tries to write after another's write, where IMMEDIATE waits its
            # turn (busy_timeout).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4, hide_parameters=True)


def ensure_postgres_database(url: URL) -> None:
    """Create the named PostgreSQL database if it does not exist (needs CREATEDB)."""
    name = url.database
    if not name:
        return
    if not re.fullmatch(r"[A-Za-z0-9_]{1,63}", name):
        raise ValueError(f"database name {name!r}: use letters, digits and _ only")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


class Database:
    """A service's database: the engine plus the single thread its transactions run on.

    Group commit: writing work that arrives while the thread is busy is committed together, in
    one transaction with a SAVEPOINT per piece after the first, so one commit (one fsync) serves
    many calls and messages; a piece that fails is rolled back alone and its caller gets its
    error, the others are committed. Each caller is answered only after the commit that holds its
    work. A group ends after a piece that wrote nothing (a read is not kept waiting for the work
    queued behind it), after ``BUDGET`` seconds, or at ``GROUP`` pieces."""

    GROUP = 64
    BUDGET = 0.02

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        event.listen(self.engine, "before_cursor_execute", _note_writes)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db")
        # Reads that need no writer (the board's pages): their own threads and, on SQLite, their
        # own engine, so they never queue behind the writer's groups (docs/benchmarks.md).
        self._reader: Engine | None = None
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-read")
        # Reports: long reads of their own, so the board's and the API's reads never wait behind
        # them; two threads, as a report's queries run in two halves at once.
        self._long_readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="db-report")
        self._pending: deque[_Pending[Any]] = deque()
        self._lock = threading.Lock()
        self._draining = False
        self.commits = 0  # transactions committed by run(), for the benchmarks

    def create_schema(self) -> None:
        """Create the database (PostgreSQL, if missing) and migrate its schema to the newest."""
        if self.engine.dialect.name == "postgresql":
            ensure_postgres_database(self.engine.url)
        upgrade(self.engine)

    def transaction(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction (commit on success, roll back on error), here."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return work(session)

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` on the database thread; answered after the commit that holds it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append(_Pending(work, future, loop))
        with self._lock:
            if not self._draining:
                self._draining = True
                self._executor.submit(self._drain)
        return await future

    async def read(self, work: Callable[[Session], T], *, long: bool = False) -> T:
        """Run read-only ``work`` on a reader thread, in a transaction that is rolled back: it
        sees what is committed, and does not wait for the writer thread. ``long``: on the
        report threads instead (seconds of work that must not hold up short reads)."""
        if self._reader is None:
            # SQLite: an engine of its own on the same file; an in-memory database has no file
            # another connection could open, so its reads share the writer's engine.
            on_file = self.engine.dialect.name == "sqlite" and self.engine.url.database not in (
                None,
                "",
                ":memory:",
            )
            self._reader = make_engine(self.url, reader=True) if on_file else self.engine
        engine = self._reader

        def run() -> T:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                try:
                    return work(session)
                finally:
                    session.rollback()

        pool = self._long_readers if long else self._readers
        return await asyncio.get_running_loop().run_in_executor(pool, run)

    def _next(self) -> _Pending[Any] | None:
        with self._lock:
            return self._pending.popleft() if self._pending else None

    def _drain(self) -> None:
        """On the database thread: commit what is waiting, in groups, until nothing is."""
        while True:
            with self._lock:
                if not self._pending:
                    self._draining = False
                    return
            group: list[_Pending[Any]] = []
            try:
                self._commit(group)
            except BaseException as exc:  # noqa: BLE001 - never leave a caller unanswered
                for pending in group:
                    pending.answer(False, exc)

    def _commit(self, group: list[_Pending[Any]]) -> None:
        """One transaction: take waiting pieces one by one (into ``group``) until the group ends,
        commit, answer. The first piece needs no savepoint: if it fails, nothing else is in the
        transaction yet and it is rolled back whole."""
        outcomes: list[tuple[bool, Any]] = []
        started = time.monotonic()
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                info = session.connection().info
                while len(group) < self.GROUP:
                    pending = self._next()
                    if pending is None:
                        break
                    group.append(pending)
                    info[_WROTE] = False
                    if len(group) == 1:
                        outcomes.append((True, pending.work(session)))
                    else:
                        # The savepoint's release flushes: a piece whose own writes fail there
                        # fails alone, like one that raised.
                        try:
                            with session.begin_nested():
                                value = pending.work(session)
                        except Exception as exc:  # noqa: BLE001 - this caller's error, alone
                            outcomes.append((False, exc))
                            continue
                        outcomes.append((True, value))
                    session.flush()
                    if not info[_WROTE] or time.monotonic() - started > self.BUDGET:
                        break
        except BaseException as exc:  # noqa: BLE001 - no commit: every caller of the group learns
            for pending in group:
                pending.answer(False, exc)
            group.clear()
            return
        self.commits += 1
        for pending, (ok, value) in zip(group, outcomes, strict=True):
            pending.answer(ok, value)
        group.clear()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._long_readers.shutdown(wait=True)
        if self._reader is not None and self._reader is not self.engine:
            self._reader.dispose()
        self.engine.dispose()


# A connection's ``info`` key: whether the piece of work running on it has written.
_WROTE = "jd_wrote"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def _note_writes(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        conn.info[_WROTE] = True


@dataclass
class _Pending(Generic[T]):
    """Work waiting for the database thread, and how to answer its caller."""

    work: Callable[[Session], T]
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop

    def answer(self, ok: bool, value: Any) -> None:
        def settle() -> None:
            if self.future.done():  # cancelled by its caller, or answered already
                return
            if ok:
                self.future.set_result(value)
            else:
                self.future.set_exception(value)

        with contextlib.suppress(RuntimeError):  # the caller's loop has closed: nobody waits
            self.loop.call_soon_threadsafe(settle)
