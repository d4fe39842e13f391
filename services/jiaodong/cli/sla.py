"""`jiaodong sla`: how due times were computed, and recomputing open clocks after file changes."""

from __future__ import annotations

from typing import Annotated

import typer

from jiaodong.cli.connect import CoordinatorCall, call_coordinator
from jiaodong.cli.options import command_group, coordinator_command
from jiaodong.cli.render import console, piped_width, print_json, render_moved, render_sla
from jiaodong.v1 import coordinator_service_pb2 as capi

app = command_group("Time limits: explain due times, recompute open clocks.")


@app.command()
@coordinator_command(timeout=10.0)
def explain(
    delegation_id: Annotated[str, typer.Argument(metavar="ID", help="Delegation id.")],
    call: CoordinatorCall,
) -> None:
    """How each due time of a delegation was computed, day by day, holidays named."""
    reply = call_coordinator(call, "ExplainSla", capi.ExplainSlaRequest(id=delegation_id))
    if call.json:
        print_json(reply)
        return
    out = console(piped_width())
    if reply.goals:
        render_sla(out, reply.goals)
    for line in reply.lines:
        out.print(line, markup=False)


@app.command()
@coordinator_command(timeout=60.0)
def recompute(
    call: CoordinatorCall,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only report what would move.")
    ] = False,
) -> None:
    """Reload courts/sla.toml and courts/holidays/, recompute every open clock, report what
    moved. Met and breached clocks are never rewritten."""
    reply = call_coordinator(call, "RecomputeSla", capi.RecomputeSlaRequest(dry_run=dry_run))
    if call.json:
        print_json(reply)
        return
    render_moved(console(piped_width()), reply, dry_run)
