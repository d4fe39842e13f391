"""`jiaodong sla`: how due times were computed, and recomputing open clocks after file changes."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import grpc
import typer
from rich.console import Console
from rich.table import Table

from jiaodong.cli.delegation import (
    client_tls,
    local_time,
    open_channel,
    parse_identity,
    print_json,
    render_sla,
    report_rpc_error,
)
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc

app = typer.Typer(
    help="Time limits: explain due times, recompute open clocks.", no_args_is_help=True
)

Coordinator = Annotated[
    str,
    typer.Option(
        "--coordinator",
        envvar="JD_COORDINATOR",
        help="Coordinator gRPC address (host:port).",
        show_default=True,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the response as JSON.")]
AsIdentity = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="JD_IDENTITY",
        metavar="ROLE:SCOPE",
        help="Whose certificate: operator:region, operator:<city>, auditor:region.",
        show_default=True,
    ),
]
Timeout = Annotated[float, typer.Option(help="Seconds to wait for the coordinator.", min=0.1)]


def _call(address: str, rpc: str, request: Any, timeout: float, who: str) -> Any:
    """One call to the coordinator as ``who``; gRPC errors become a message and an exit code."""
    tls = client_tls(parse_identity(who))
    try:
        with open_channel(address, tls) as channel:
            return getattr(cgrpc.CoordinatorServiceStub(channel), rpc)(request, timeout=timeout)
    except grpc.RpcError as err:
        report_rpc_error(err, address, "coordinator")


def _console() -> Console:
    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@app.command()
def explain(
    delegation_id: Annotated[str, typer.Argument(metavar="ID", help="Delegation id.")],
    coordinator: Coordinator = "127.0.0.1:50060",
    who: AsIdentity = "operator:region",
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """How each due time of a delegation was computed, day by day, holidays named."""
    request = capi.ExplainSlaRequest(id=delegation_id)
    reply = _call(coordinator, "ExplainSla", request, timeout, who)
    if as_json:
        print_json(reply)
        return
    console = _console()
    if reply.goals:
        render_sla(console, reply.goals)
    for line in reply.lines:
        console.print(line, markup=False)


@app.command()
def recompute(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would move.")
    ] = False,
    coordinator: Coordinator = "127.0.0.1:50060",
    who: AsIdentity = "operator:region",
    as_json: Json = False,
    timeout: Timeout = 60.0,
) -> None:
    """Reload courts/sla.toml and courts/holidays/, recompute every open clock, report what
    moved. Met and breached clocks are never rewritten."""
    request = capi.RecomputeSlaRequest(dry_run=dry_run)
    reply = _call(coordinator, "RecomputeSla", request, timeout, who)
    if as_json:
        print_json(reply)
        return
    console = _console()
    verb = "would move" if dry_run else "moved"
    console.print(f"{reply.open_clocks} open clocks; {len(reply.moved)} {verb}", markup=False)
    if reply.moved:
        table = Table()
        for column in ("delegation", "goal", "due before", "due after"):
            table.add_column(column)
        for move in reply.moved:
            table.add_row(
                move.delegation_id,
                move.goal,
                local_time(move.old_due_at),
                local_time(move.new_due_at),
            )
        console.print(table)
    for warning in reply.warnings:
        console.print(f"warning: {warning}", markup=False)
