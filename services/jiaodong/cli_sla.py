"""`jiaodong sla`: how due times were computed, and recomputing open clocks after file changes."""

from __future__ import annotations

import sys
from typing import Annotated

import grpc
import typer
from rich.console import Console
from rich.table import Table

from jiaodong.cli_delegation import (
    local_time,
    open_channel,
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
Timeout = Annotated[float, typer.Option(help="Seconds to wait for the coordinator.", min=0.1)]


def _stub(address: str) -> tuple[grpc.Channel, cgrpc.CoordinatorServiceStub]:
    channel = open_channel(address)
    return channel, cgrpc.CoordinatorServiceStub(channel)


@app.command()
def explain(
    delegation_id: Annotated[str, typer.Argument(metavar="ID", help="Delegation id.")],
    coordinator: Coordinator = "127.0.0.1:50060",
    as_json: Json = False,
    timeout: Timeout = 10.0,
) -> None:
    """How each due time of a delegation was computed, day by day, holidays named."""
    channel, stub = _stub(coordinator)
    try:
        with channel:
            reply = stub.ExplainSla(capi.ExplainSlaRequest(id=delegation_id), timeout=timeout)
    except grpc.RpcError as err:
        report_rpc_error(err, coordinator, "coordinator")
    if as_json:
        print_json(reply)
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
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
    as_json: Json = False,
    timeout: Timeout = 60.0,
) -> None:
    """Reload courts/sla.toml and courts/holidays/, recompute every open clock, report what
    moved. Met and breached clocks are never rewritten."""
    channel, stub = _stub(coordinator)
    try:
        with channel:
            reply = stub.RecomputeSla(capi.RecomputeSlaRequest(dry_run=dry_run), timeout=timeout)
    except grpc.RpcError as err:
        report_rpc_error(err, coordinator, "coordinator")
    if as_json:
        print_json(reply)
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
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
