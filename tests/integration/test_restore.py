"""A node restored from an older backup of its database converges again (docs/operations.md).

The backup procedure the operations guide gives for a SQLite node (SQLite's online backup API; on
PostgreSQL it is pg_dump) is run on a live node; the node then goes on working, stops, and is
started on the backup. What it did after the backup and had published comes back from the
coordinator's copy through reconciliation: the steps of the delegation it had, and the delegation
it created after the backup, with the same hash chains as the other courts hold."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jiaodong.bootstrap import start_node
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
)

QD, YT = "370202", "370602"


def online_backup(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy of a database that is in use."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


async def test_node_restored_from_older_backup_catches_up(region: Region, tmp_path: Path) -> None:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    coordinator = region.coordinator_stub()
    node = region.nodes["qingdao"]

    first = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation

    await eventually(
        delegation_probe(yantai, YT, first.id),
        lambda d: d is not None and d.status == pb.STATUS_DELIVERED,
        timeout=30,
    )
    database = region.settings.data_dir / "node-qingdao.db"
    backup = tmp_path / "node-qingdao.backup.db"
    online_backup(database, backup)

    # After the backup: Yantai acknowledges the first, Qingdao sends a second.
    await yantai.Acknowledge(api.AcknowledgeRequest(id=first.id), metadata=as_court(YT))
    second = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation
    await eventually(
        delegation_probe(qingdao, QD, first.id),
        lambda d: d is not None and d.status == pb.STATUS_ACKNOWLEDGED,
        timeout=30,
    )
    await eventually(lambda: node.service.summary(), lambda s: s["outbox_pending"] == 0)
    await eventually(
        delegation_probe(yantai, YT, second.id),
        lambda d: d is not None and d.status == pb.STATUS_DELIVERED,
        timeout=30,
    )

    # The node's host is lost; the node is restored from the backup and started again.
    await node.stop(0)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    online_backup(backup, database)
    region.nodes["qingdao"] = await start_node(region.settings, "qingdao")
    qingdao = region.node_stub("qingdao")
    assert await delegation_probe(qingdao, QD, second.id)() is None  # the backup predates it

    restored_first = await eventually(
        delegation_probe(qingdao, QD, first.id),
        lambda d: d is not None and d.status == pb.STATUS_ACKNOWLEDGED,
        timeout=60,
    )
    restored_second = await eventually(
        delegation_probe(qingdao, QD, second.id), lambda d: d is not None, timeout=60
    )
    assert restored_first is not None and restored_second is not None
    for mine in (restored_first, restored_second):
        theirs = await delegation_probe(yantai, YT, mine.id)()
        central = (
            await coordinator.GetDelegation(capi.CoordinatorGetDelegationRequest(id=mine.id))
        ).delegation
        assert theirs is not None
        assert (
            [e.hash for e in mine.history]
            == [e.hash for e in theirs.history]
            == [e.hash for e in central.history]
        )

    # And it works on: a step after the restore reaches the other side.
    await yantai.Acknowledge(api.AcknowledgeRequest(id=second.id), metadata=as_court(YT))
    await yantai.Accept(api.AcceptRequest(id=second.id), metadata=as_court(YT))
    await eventually(
        delegation_probe(qingdao, QD, second.id),
        lambda d: d is not None and d.status == pb.STATUS_ACCEPTED,
        timeout=30,
    )


async def test_coordinator_restored_from_older_backup(region: Region, tmp_path: Path) -> None:
    """The coordinator restored from an older backup learns the later steps of the delegations
    the backup holds from the courts' digests (it asks, Want, and records them, hashes equal).
    A delegation routed after the backup is NOT recovered: its routing events were the
    coordinator's own writes, and it accepts no court's copy of them (a court may not introduce
    or write them); the courts' syncs are parked at the coordinator. This is why the operations
    guide asks for point-in-time recovery of the coordinator's database, not a nightly copy."""
    from jiaodong.bootstrap import start_coordinator
    from jiaodong.store.tables import DeadLetterRow
    from tests.integration.conftest import table_rows

    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    first = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation

    await eventually(
        coordinator_probe(region.coordinator_stub(), first.id),
        lambda d: d is not None and d.status == pb.STATUS_DELIVERED,
        timeout=30,
    )
    database = region.settings.data_dir / "coordinator.db"
    backup = tmp_path / "coordinator.backup.db"
    online_backup(database, backup)

    await yantai.Acknowledge(api.AcknowledgeRequest(id=first.id), metadata=as_court(YT))
    second = (await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))).delegation
    await eventually(
        coordinator_probe(region.coordinator_stub(), second.id),
        lambda d: d is not None and d.status == pb.STATUS_DELIVERED,
        timeout=30,
    )

    await region.coordinator.stop(0)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    online_backup(backup, database)
    region.coordinator = await start_coordinator(region.settings)

    restored = await eventually(
        coordinator_probe(region.coordinator_stub(), first.id),
        lambda d: d is not None and d.status == pb.STATUS_ACKNOWLEDGED,
        timeout=60,
    )
    response = await qingdao.GetDelegation(
        api.GetDelegationRequest(id=first.id), metadata=as_court(QD)
    )
    assert restored is not None
    assert [e.hash for e in restored.history] == [e.hash for e in response.delegation.history]

    async def refused() -> list[str]:
        rows = table_rows(region.coordinator, DeadLetterRow)
        return [r.reason for r in rows if second.id in r.reason]

    reasons = await eventually(refused, lambda r: len(r) > 0, timeout=60)
    assert any("cannot introduce" in r or "may not write" in r for r in reasons), reasons
    assert await coordinator_probe(region.coordinator_stub(), second.id)() is None
