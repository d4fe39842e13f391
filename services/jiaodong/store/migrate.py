"""Schema migrations: alembic, run programmatically (no alembic.ini) at every service start.

The revisions live in ``store/migrations/versions`` and ship with the package. ``upgrade`` runs
them on one connection in one transaction, holding the database's schema lock (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: an advisory lock), so a failed upgrade changes nothing and two processes
starting at once do not race.

Databases made before migrations existed (``create_all``, no ``alembic_version``) are recognised by
their tables and stamped at the revision those tables correspond to, then upgraded.

A new revision: ``python -m jiaodong.store.migrate revision "what changes"`` writes
``versions/NNNN_what_changes.py`` from the difference between the models and the migrated schema;
review it (and rewrite anything autogenerate cannot know, such as data moves) before committing.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# The tables each revision creates, in order: how a database without ``alembic_version`` is placed.
CREATED_BY: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "0001",
        frozenset(
            {"delegation", "delegation_event", "action_request", "outbox", "inbox", "dead_letter"}
        ),
    ),
    ("0002", frozenset({"sla_clock"})),
    ("0003", frozenset({"data_read"})),
    ("0004", frozenset({"document_blob", "document_chunk", "document_use"})),
)

# pg_advisory_xact_lock key: b"jiaodong" as a big-endian int64.
_PG_LOCK_KEY = int.from_bytes(b"jiaodong", "big")

log = structlog.get_logger("jiaodong.migrate")


class SchemaError(RuntimeError):
    """The database holds a schema the migrations cannot place."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision the package ships."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """One connection in one transaction that holds the schema lock; committed if all went well."""
    # On SQLite every transaction begins IMMEDIATE (store.database), holding the write lock from
    # the start, so the DDL is transactional and two processes migrating one file take turns.
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def legacy_revision(conn: Connection) -> str | None:
    """The revision a database made without migrations is at, or None if it is not such a one.

    None for an empty database or one that has ``alembic_version``. Raises ``SchemaError`` when the
    tables present match no revision (some of a revision's tables missing).
    """
    names = set(sa.inspect(conn).get_table_names())
    known = frozenset().union(*(made for _, made in CREATED_BY))
    if "alembic_version" in names or not names & known:
        return None
    placed = 0
    while placed < len(CREATED_BY) and CREATED_BY[placed][1] <= names:
        placed += 1
    later = frozenset().union(*(made for _, made in CREATED_BY[placed:]))
    if placed == 0 or names & later:
        raise SchemaError(
            "the database has some of jiaodong's tables but no alembic_version, and they match no "
            f"revision (present: {sorted(names & known)}); repair it by hand"
        )
    return CREATED_BY[placed - 1][0]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``, stamping a pre-migrations database first."""
    with _migrating(engine) as conn:
        config = _config(conn)
        legacy = legacy_revision(conn)
        if legacy is not None:
            log.info("schema.stamp_legacy", revision=legacy)
            command.stamp(config, legacy)
        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(config, revision)
        after = MigrationContext.configure(conn).get_current_revision()
        if after != before:
            log.info("schema.upgraded", before=before, after=after)


def current(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def new_revision(message: str) -> Path:
    """Write the next revision file, autogenerated against a scratch SQLite database at head."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            upgrade(engine)
            rev_id = f"{int(head()) + 1:04d}"
            with engine.begin() as conn:
                script = command.revision(_config(conn), message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "revision":
        print(new_revision(argv[1]))
        return 0
    print('usage: python -m jiaodong.store.migrate revision "what changes"', file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
