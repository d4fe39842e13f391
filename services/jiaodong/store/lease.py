"""The coordinator's lease: which of its replicas on one database is the active one.

On PostgreSQL the lease is a session-level advisory lock (``pg_try_advisory_lock``) held on a
connection of its own: the server drops it the moment that session ends, so a killed holder
(SIGKILL, a lost host) frees it without any timeout of ours. The holder's gRPC address travels
as the session's ``application_name``, so a standby can name the active replica without a table.

On SQLite (one host) the lease is an exclusive ``flock`` on ``<database file>.lease``; the kernel
drops it with the holder's process. The holder writes its address into the file.

Every blocking call runs on the lease's own thread, never on the database thread (a long group
commit must not delay the keep-alive) and never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

# pg_try_advisory_lock(classid, objid): "JD" and the coordinator's lease. Advisory locks are per
# database, and the coordinator has a database of its own.
LOCK_CLASS = 0x4A44
LOCK_OBJECT = 1
# application_name is cut by the server at 63 bytes; the prefix marks our lease sessions.
NAME_PREFIX = "jd-coordinator "


class Lease(Protocol):
    """One replica's hold on the coordinator's lease."""

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; True when this replica holds it now."""
        ...

    async def alive(self) -> bool:
        """Whether this replica still holds the lease it acquired (the keep-alive)."""
        ...

    async def holder(self) -> str:
        """The gRPC address of the replica holding the lease ("" when unknown or nobody)."""
        ...

    async def release(self) -> None:
        """Let the lease go (a later try_acquire may take it again)."""
        ...


def lease_for(database_url: str, address: str, *, check_timeout: float = 3.0) -> Lease:
    """The lease that fits the coordinator's database: an advisory lock on PostgreSQL, a file
    lock beside a SQLite file; an in-memory SQLite database cannot be shared, so its one
    replica always holds the lease."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return PostgresLease(url.set(drivername="postgresql"), address, check_timeout)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return FileLease(Path(f"{url.database}.lease"), address)
    return SoleLease(address)


class _Threaded:
    """Blocking work on a thread of the lease's own; a call that hangs (a half-open TCP link) is
    abandoned with its thread, and later calls get a fresh one."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")

    async def _call(self, timeout: float | None, work: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, work, *args)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._executor.shutdown(wait=False)
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")
            raise


class PostgresLease(_Threaded):
    """A session-level advisory lock on a dedicated connection."""

    def __init__(self, url: Any, address: str, check_timeout: float = 3.0) -> None:
        super().__init__()
        self._conninfo = url.render_as_string(hide_password=False)
        self._name = (NAME_PREFIX + address)[:63]
        self._timeout = check_timeout
        self._conn: Any = None
        self._holder_seen: str | None = None

    async def try_acquire(self) -> bool:
        try:
            return bool(await self._call(self._timeout * 2, self._try_acquire))
        except Exception:  # noqa: BLE001 - database unreachable: not the holder, try again later
            await self._drop()
            return False

    def _try_acquire(self) -> bool:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                application_name=self._name,
                connect_timeout=max(2, int(self._timeout)),
                # The client notices a dead link in seconds, not hours.
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=2,
            )
            # ... and so does the server, which frees the lock when it drops the session.
            for setting in ("idle = 5", "interval = 2", "count = 2"):
                self._conn.execute(f"SET tcp_keepalives_{setting}")
        row = self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, LOCK_OBJECT)
        ).fetchone()
        held = bool(row and row[0])
        if not held:
            # Who holds it, asked on the same session; then a standby keeps no idle session open
            # while it waits.
            self._holder_seen = self._holder_on(self._conn)
            self._close()
        return held

    async def alive(self) -> bool:
        try:
            return bool(await self._call(self._timeout, self._alive))
        except Exception:  # noqa: BLE001 - no answer within the bound: the lease is lost
            await self._drop()
            return False

    def _alive(self) -> bool:
        if self._conn is None or self._conn.closed:
            return False
        row = self._conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND objsubid = 2 AND pid = pg_backend_pid()",
            (LOCK_CLASS, LOCK_OBJECT),
        ).fetchone()
        return bool(row and row[0])

    async def holder(self) -> str:
        seen, self._holder_seen = self._holder_seen, None
        if seen is not None:  # asked on the failed try_acquire just before
            return seen
        try:
            return str(await self._call(self._timeout, self._holder))
        except Exception:  # noqa: BLE001 - cannot tell: say so
            return ""

    def _holder(self) -> str:
        import psycopg

        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=2) as conn:
            return self._holder_on(conn)

    @staticmethod
    def _holder_on(conn: Any) -> str:
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
            " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.classid = %s AND l.objid = %s AND l.objsubid = 2"
            " AND l.database = (SELECT oid FROM pg_database"
            " WHERE datname = current_database())",
            (LOCK_CLASS, LOCK_OBJECT),
        ).fetchone()
        name = str(row[0]) if row and row[0] else ""
        return name.removeprefix(NAME_PREFIX) if name.startswith(NAME_PREFIX) else ""

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await self._call(self._timeout, self._close)

    async def _drop(self) -> None:
        """After a failure: close the session (the server frees the lock if it still held it)."""
        with contextlib.suppress(Exception):
            await self._call(self._timeout, self._close)
        self._conn = None

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def lock_file(path: Path, holder: str) -> int | None:
    """An exclusive ``flock`` on ``path`` (created if missing) with ``holder`` written in it: the
    descriptor (closing it drops the lock; so does the process's end, however it ends), or None
    while another process holds it (its ``holder`` stays in the file). The descriptor is not
    inherited by child processes."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
    os.fsync(fd)
    return fd


class FileLease(_Threaded):
    """An exclusive flock on a file beside the SQLite database (one host)."""

    def __init__(self, path: Path, address: str) -> None:
        super().__init__()
        self.path = path
        self._address = address
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        return bool(await self._call(None, self._try_acquire))

    def _try_acquire(self) -> bool:
        if self._fd is None:
            self._fd = lock_file(self.path, self._address)
        return self._fd is not None

    async def alive(self) -> bool:
        # A flock is only lost with the process; but a lock file removed (or replaced) by hand
        # would let another replica lock a new file: then this one is no longer the holder.
        fd = self._fd
        if fd is None:
            return False
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except OSError:
            return False

    async def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock


class SoleLease:
    """A database no other process can share: its one replica always holds the lease."""

    def __init__(self, address: str) -> None:
        self._address = address

    async def try_acquire(self) -> bool:
        return True

    async def alive(self) -> bool:
        return True

    async def holder(self) -> str:
        return self._address

    async def release(self) -> None:
        return None
