"""The demo with every service on PostgreSQL (one database each, created on start)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import psycopg
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SERVICES = ["coordinator"] + [
    f"node_{c}" for c in ("qingdao", "yantai", "weifang", "weihai", "rizhao")
]


def test_demo_on_postgres_agrees(postgres_admin_url: str) -> None:
    prefix = f"jd_e2e_{uuid.uuid4().hex[:8]}"
    base = postgres_admin_url.rsplit("/", 1)[0]
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "jiaodong.cli.main",
                "demo",
                "--json",
                "--delegations",
                "40",
                "--database-url",
                f"{base}/{prefix}_{{service}}",
            ],
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
        report = json.loads(run.stdout)
        assert report["agree"] is True and report["lost"] == 0 and report["duplicated"] == 0
        assist = report["assistance"]
        assert assist["requested"] == assist["closed"] == assist["agree"] == 3
        with psycopg.connect(f"{base}/{prefix}_coordinator") as conn:
            kinds = "task_type <> 'ON_SITE_ASSISTANCE'"
            stored = conn.execute(f"SELECT count(*) FROM delegation WHERE {kinds}").fetchone()
            closed = conn.execute(
                f"SELECT count(*) FROM delegation WHERE {kinds} "
                "AND status IN ('CONFIRMED', 'CANCELLED')"
            ).fetchone()
            assisted = conn.execute(
                "SELECT count(*) FROM delegation WHERE task_type = 'ON_SITE_ASSISTANCE' "
                "AND status = 'CONFIRMED' AND operation_day IS NOT NULL"
            ).fetchone()
        assert stored == (40,) and closed == (40,) and assisted == (3,)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
            for service in SERVICES:
                conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
