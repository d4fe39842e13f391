"""`jiaodong ops ...`: the command centre's (执行指挥中心) commands on CoordinatorService.

One command per RPC: `ops courts` (ListCourts), `ops list` (ListDelegations), `ops show`
(GetDelegation), `ops escalate` (Escalate, 督办), `ops reroute` (Reroute, 改派). The time-limit
RPCs are `sla explain` (ExplainSla) and `sla recompute` (RecomputeSla); the live view is
`jiaodong board` (WatchBoard).

Every call presents an operator's (or the auditor's) certificate, ``--as operator:region`` by
default: the coordinator limits a city's centre to the delegations touching its city, lets the
regional centre see all, and lets the auditor read only. Lists are masked; `ops show` is the full
view and the coordinator records it as a read of personal data.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from jiaodong.cli.connect import CoordinatorCall, call_coordinator
from jiaodong.cli.lang import court_label, t
from jiaodong.cli.names import StatusChoice, TaskChoice, status_value, task_type
from jiaodong.cli.options import command_group, coordinator_command
from jiaodong.cli.render import (
    console,
    piped_width,
    print_json,
    render_courts,
    render_delegation,
    render_list,
    summary_line,
)
from jiaodong.cli.requests import new_request_id
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as d_pb

app = command_group(
    "Command centre (执行指挥中心): list, show, escalate (督办) and reroute delegations across "
    "the region through the coordinator; the court registry it routes by."
)

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Delegation id.")]
RequestIdOption = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        metavar="KEY",
        help="Idempotency key; reuse it to retry safely (default: a fresh random one).",
    ),
]


@app.command()
@coordinator_command()
def courts(
    call: CoordinatorCall,
    city: Annotated[
        str, typer.Option("--city", help="Only this city (qingdao, yantai, ...).")
    ] = "",
) -> None:
    """The courts the coordinator routes to (its registry), by id, with names and districts."""
    reply = call_coordinator(call, "ListCourts", capi.ListCourtsRequest(city=city))
    if call.json:
        print_json(reply)
        return
    render_courts(console(piped_width()), list(reply.courts))


@app.command("list")
@coordinator_command()
def list_(
    call: CoordinatorCall,
    from_city: Annotated[
        str, typer.Option("--from-city", metavar="CITY", help="Only sent from this city.")
    ] = "",
    to_city: Annotated[
        str, typer.Option("--to-city", metavar="CITY", help="Only sent to this city.")
    ] = "",
    status: Annotated[
        list[StatusChoice] | None,
        typer.Option("--status", case_sensitive=False, help="Only this status; repeatable."),
    ] = None,
    task: Annotated[
        list[TaskChoice] | None,
        typer.Option("--task", case_sensitive=False, help="Only this task type; repeatable."),
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500)] = 50,
    page_token: Annotated[str, typer.Option("--page-token", help="From the previous page.")] = "",
) -> None:
    """Delegations across the region (a city's centre: those touching its city), newest first;
    the debtor is masked."""
    request = capi.CoordinatorListDelegationsRequest(
        from_city=from_city,
        to_city=to_city,
        statuses=[status_value(name) for name in status or ()],
        task_types=[task_type(name) for name in task or ()],
        page_size=page_size,
        page_token=page_token,
    )
    reply = call_coordinator(call, "ListDelegations", request)
    if call.json:
        print_json(reply)
        return
    out = console(piped_width())
    total = f"{reply.total:,}" + ("+" if reply.total_capped else "")
    out.print(Text(t(f"共 {total} 件", f"{total} in all")))
    render_list(out, reply)
    for notice in reply.notices:
        out.print(Text(t("提示：", "notice: ") + notice))


@app.command()
@coordinator_command()
def show(delegation_id: IdArgument, call: CoordinatorCall) -> None:
    """One delegation with its history and time limits, as the coordinator holds it (a recorded
    read of personal data)."""
    reply = call_coordinator(
        call, "GetDelegation", capi.CoordinatorGetDelegationRequest(id=delegation_id)
    )
    if call.json:
        print_json(reply)
        return
    render_delegation(console(piped_width()), reply.delegation)


def _outcome(
    call: CoordinatorCall, verb: str, reply: capi.EscalateResponse | capi.RerouteResponse, key: str
) -> None:
    if call.json:
        print_json(reply)
        return
    d: d_pb.Delegation = reply.delegation
    print(summary_line(verb, d, key))
    if d.entrusted_court:
        print(t("受托法院：", "entrusted court: ") + court_label(d.entrusted_court))


@app.command()
@coordinator_command()
def escalate(
    delegation_id: IdArgument,
    call: CoordinatorCall,
    text: Annotated[
        str, typer.Option("--text", help="The instruction to the entrusted court (required).")
    ],
    request_id: RequestIdOption = None,
) -> None:
    """Take a delegation up (督办): the instruction goes to the entrusted court and is recorded
    in the history with the operator's identity."""
    key = request_id or new_request_id()
    request = capi.EscalateRequest(id=delegation_id, request_id=key, text=text)
    _outcome(call, "escalated", call_coordinator(call, "Escalate", request), key)


@app.command()
@coordinator_command()
def reroute(
    delegation_id: IdArgument,
    call: CoordinatorCall,
    to_court: Annotated[
        str,
        typer.Option(
            "--to-court",
            metavar="ID",
            help="The new entrusted court (a court of another city than the requesting court's).",
        ),
    ],
    text: Annotated[str, typer.Option("--text", help="Why (required).")],
    request_id: RequestIdOption = None,
) -> None:
    """Move a delegation to another court (改派); the current owner applies it in order."""
    key = request_id or new_request_id()
    request = capi.RerouteRequest(id=delegation_id, request_id=key, court_id=to_court, text=text)
    _outcome(call, "rerouted", call_coordinator(call, "Reroute", request), key)
