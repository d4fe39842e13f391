"""Alembic environment: run programmatically by ``jiaodong.store.migrate``, never from a .ini.

The caller opens the connection (and its transaction) and passes it in
``config.attributes["connection"]``; this file only configures the context on it.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection
from sqlmodel import AutoString, SQLModel, UTCDateTime

from jiaodong.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "jiaodong migrations run on a connection passed in by jiaodong.store.migrate "
        "(offline SQL generation is not supported)"
    )


def render_item(kind: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes sqlmodel's types as the plain sqlalchemy types they stand for."""
    if kind == "type" and isinstance(obj, AutoString):
        length = getattr(obj.impl, "length", None)
        return f"sa.String(length={length})" if length is not None else "sa.String()"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)

with context.begin_transaction():
    context.run_migrations()
