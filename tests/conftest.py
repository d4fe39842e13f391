"""Shared fixtures: a real nats-server on a free port, databases (SQLite files and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.logs import configure
from tests.helpers.postgres import PG_ADMIN, postgres_problem

configure("warning", json=True)

# Property tests check correctness, not speed (speed is `make bench`): on a loaded machine
# Hypothesis's 200 ms deadline per example and its too-slow-generation check failed tests that
# were right (tests/unit/test_lifecycle.py, 2026-11-30, load average 15 on 2 cores).
settings.register_profile("jiaodong", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("jiaodong")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A fresh nats-server with JetStream, on a free port, in its own folder."""
    server = EmbeddedNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    problem = postgres_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(
                f"PostgreSQL tests must run in CI, but {PG_ADMIN} is unreachable: {problem}"
            )
        pytest.skip(f"PostgreSQL at {PG_ADMIN} unreachable: {problem}")
    return PG_ADMIN


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    import psycopg

    name = f"jd_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_admin_url.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
