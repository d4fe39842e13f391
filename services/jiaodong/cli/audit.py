"""`jiaodong audit`: check the evidence in a service's database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import grpc
import typer
from rich.console import Console
from sqlmodel import Session, col, select

from jiaodong.cli.connect import client_tls, open_channel, parse_identity, report_rpc_error
from jiaodong.cli.lang import t
from jiaodong.cli.options import command_group
from jiaodong.cli.render import console, print_json, render_reads
from jiaodong.domain.lifecycle import verify_chain
from jiaodong.store.database import make_engine, sqlite_url
from jiaodong.store.mapper import event_from_row
from jiaodong.store.tables import DelegationRow, EventRow
from jiaodong.v1 import audit_service_pb2 as audit_api
from jiaodong.v1 import audit_service_pb2_grpc as audit_grpc

app = command_group("Check the tamper-evident histories; list recorded reads of personal data.")


def broken_chains(url: str) -> tuple[int, list[tuple[str, int, str]]]:
    """(delegations checked, [(delegation id, first bad seq, why)]) for every history in a
    database: each event's hash must match its content and link to the previous one, and the
    delegation row must agree with its last event."""
    engine = make_engine(url)
    broken: list[tuple[str, int, str]] = []
    checked = 0
    try:
        with Session(engine) as session:
            for row in session.exec(select(DelegationRow).order_by(col(DelegationRow.id))):
                checked += 1
                events = [
                    event_from_row(e)
                    for e in session.exec(
                        select(EventRow)
                        .where(EventRow.delegation_id == row.id)
                        .order_by(col(EventRow.seq))
                    )
                ]
                bad = verify_chain(events)
                if bad is not None:
                    broken.append((row.id, bad, "hash or link does not match the content"))
                elif not events or events[-1].seq != row.seq or events[-1].hash != row.last_hash:
                    broken.append(
                        (row.id, row.seq, "the delegation row disagrees with its history")
                    )
    finally:
        engine.dispose()
    return checked, broken


# What a broken history is, in the words an auditor reads (the English is broken_chains' own).
_WHY_ZH = {
    "hash or link does not match the content": "哈希或链接与内容不符",
    "the delegation row disagrees with its history": "委托记录与其历史不一致",
}


@app.command()
def verify(
    database: Annotated[
        str,
        typer.Argument(help="A database URL, or the path of a service's SQLite file."),
    ],
) -> None:
    """Check every delegation's hash chain; name the first broken event of each bad one."""
    url = database if "://" in database else sqlite_url(Path(database))
    if "://" not in database and not Path(database).exists():
        Console(stderr=True).print(
            t(f"错误：没有这个数据库文件：{database}", f"no such database file: {database}"),
            style="red",
            markup=False,
        )
        raise typer.Exit(2)
    checked, broken = broken_chains(url)
    out = console()
    for delegation_id, seq, why in broken:
        out.print(
            t(
                f"已损坏 {delegation_id}：第 {seq} 个事件，{_WHY_ZH.get(why, why)}",
                f"BROKEN {delegation_id} at event {seq}: {why}",
            ),
            markup=False,
        )
    out.print(
        t(
            f"共核验 {checked} 份历史，{len(broken)} 份损坏",
            f"{checked} histories checked, {len(broken)} broken",
        ),
        markup=False,
    )
    raise typer.Exit(1 if broken else 0)


DEFAULT_SERVICES = ["127.0.0.1:50060", *(f"127.0.0.1:{port}" for port in range(50061, 50066))]


@app.command()
def reads(
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service",
            metavar="ADDRESS",
            help="A node or the coordinator (repeatable; default: the `jiaodong up` layout).",
        ),
    ] = None,
    delegation: Annotated[
        str, typer.Option("--delegation", metavar="ID", help="Only reads of this delegation.")
    ] = "",
    reader: Annotated[
        str, typer.Option("--reader", metavar="ROLE:SCOPE", help="Only reads by this identity.")
    ] = "",
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest N per service.")] = 50,
    who: Annotated[
        str, typer.Option("--as", envvar="JD_IDENTITY", help="Whose certificate.")
    ] = "auditor:region",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Who read which delegation's personal data, when, through which RPC (auditor only)."""
    tls = client_tls(parse_identity(who))
    request = audit_api.ListDataReadsRequest(
        delegation_id=delegation, reader=reader, page_size=limit
    )
    found: list[audit_api.DataRead] = []
    for address in service or DEFAULT_SERVICES:
        try:
            with open_channel(address, tls) as channel:
                reply = audit_grpc.AuditServiceStub(channel).ListDataReads(request, timeout=10)
        except grpc.RpcError as err:
            report_rpc_error(err, address, "service")
        found.extend(reply.reads)
    found.sort(key=lambda r: (r.at.seconds, r.at.nanos), reverse=True)
    if as_json:
        for read in found:
            print_json(read, compact=True)
        return
    render_reads(console(160), found)
