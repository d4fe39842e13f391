"""The PostgreSQL server tests use (JD_TEST_PG), and whether it answers."""

from __future__ import annotations

import os

PG_ADMIN = os.environ.get("JD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_problem() -> str | None:
    """Why the server at PG_ADMIN cannot be used, or None when it answers."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as exc:  # the reason is shown in the skip message
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
