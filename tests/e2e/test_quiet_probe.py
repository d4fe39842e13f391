"""The simulator's quiescence probe (devtools/quiet.py) on a real layout: the coordinator and two
nodes as processes, a real nats-server, SQLite, time frozen as in a simulation.

The probe reads each place where work can wait (broker, outboxes, clocks, registry tasks, inboxes)
at its own moment, so a step taken while it reads can slip past every check. Here a delegation is
created at the instant the last check has read (the check itself found nothing): the probe must not
call that quiet, and once it does, the coordinator must hold the delegation and Yantai's node its
delivery. Without the marks that bracket the checks, the probe said quiet here every time."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from jiaodong.config import Settings
from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.devtools.quiet import Probe
from jiaodong.devtools.simulate import SIM_ENV
from jiaodong.files.clock import FileClock
from jiaodong.files.registry import load_registry
from jiaodong.security.clients import act_as
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request

pytestmark = pytest.mark.e2e

QD = "370202"
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday


def test_probe_does_not_call_quiet_what_moved_while_it_read(tmp_path: Path) -> None:
    clock = tmp_path / "virtual-clock"
    FileClock.write(clock, NOW, 0.0)
    layout = start_layout(
        tmp_path / "run",
        base_port=0,
        cities=("qingdao", "yantai"),
        log_level="warning",
        extra_env={"JD_CLOCK": f"file:{clock}", **SIM_ENV, "JD_REGISTRIES": "off"},
    )
    try:
        asyncio.run(race(layout))
    finally:
        layout.stop()


async def race(layout: Layout) -> None:
    settings = Settings.from_env(data_dir=layout.data_dir, tls_dir=layout.pki)
    probe = Probe(layout, load_registry(settings.courts_dir), settings)
    clients = layout.clients()
    await probe.connect()
    try:
        await probe.wait(NOW, set(), timeout=120)  # the start-up's own traffic settles
        assert await probe.busy(NOW, set()) is None, "nothing moves: quiet, read twice"
        caught = probe.caught_moving

        checks = probe._applied  # the last of the checks: the one that answers quiet
        verdicts: list[str | None] = []
        created: list[str] = []

        async def create_after_reading(*args: Any) -> str | None:
            verdict = await checks(*args)
            verdicts.append(verdict)
            if not created:  # a clerk's call lands just after the last check has read
                reply = await clients.nodes["qingdao"].CreateDelegation(
                    create_request(), metadata=act_as(QD), timeout=30
                )
                created.append(reply.delegation.id)
            return verdict

        probe._applied = create_after_reading  # type: ignore[method-assign,assignment]
        reason = await probe.busy(NOW, set())
        assert verdicts == [None], "every check had found nothing to wait for"
        assert reason == "work was applied or queued while the probe read", reason
        assert probe.caught_moving == caught + 1

        # Once quiet, what the call started is done everywhere: routed by the coordinator and
        # delivered at Yantai's node (time stands still: nobody acknowledges).
        await probe.wait(NOW, set(), timeout=120)
        status, court, delivered = probe.statuses(created)[created[0]]
        assert (status, court) == ("DELIVERED", "370602"), (status, court)
        assert delivered is not None
        yantai = await clients.nodes["yantai"].GetDelegation(
            api.GetDelegationRequest(id=created[0]), metadata=act_as("370602"), timeout=30
        )
        assert yantai.delegation.status == pb.STATUS_DELIVERED
    finally:
        await probe.close()
        await clients.pool.close()
