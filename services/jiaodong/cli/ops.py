"""`jiaodong ops ...`: the command centre's (执行指挥中心) commands on CoordinatorService.

One command per RPC: `ops courts` (ListCourts), `ops controls` (ListControls), `ops list`
(ListDelegations), `ops show` (GetDelegation), `ops urge` (Urge, 催办), `ops escalate`
(Escalate, 督办), `ops reroute` (Reroute, 改派), `ops annotate` (Annotate), `ops parked
list|show|retry|discard` (ListParked, GetParked, RetryParked, DiscardParked; the
coordinator's parked messages, or with `--city` those of that city's node, which the
coordinator asks over the bus). The time-limit RPCs are `sla explain` (ExplainSla) and `sla
recompute` (RecomputeSla); the live view is `jiaodong board` (WatchBoard and GetBoard).

Every call presents an operator's (or the auditor's) certificate, ``--as operator:region`` by
default: the coordinator limits a city's centre to the delegations touching its city, lets the
regional centre see all, and lets the auditor read only. Lists are masked; `ops show` is the full
view and the coordinator records it as a read of personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from jiaodong.cli.connect import CoordinatorCall, call_coordinator
from jiaodong.cli.lang import court_label, t
from jiaodong.cli.names import (
    ORDER,
    SLA_LEVEL,
    SLA_SUMMARY,
    OrderChoice,
    SlaLevelChoice,
    SlaSummaryChoice,
    StatusChoice,
    TaskChoice,
    status_value,
    task_type,
)
from jiaodong.cli.options import ControlStatesOption, command_group, coordinator_command
from jiaodong.cli.render import (
    SHANGHAI,
    console,
    local_time,
    parked_action_line,
    piped_width,
    print_json,
    render_controls,
    render_courts,
    render_delegation,
    render_list,
    render_notes,
    render_parked,
    render_parked_list,
    summary_line,
)
from jiaodong.cli.requests import new_request_id
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import delegation_pb2 as d_pb

app = command_group(
    "Command centre (执行指挥中心): list, show, urge (催办), escalate (督办), reroute (改派) and "
    "annotate delegations across the region through the coordinator; parked messages; the court "
    "registry it routes by."
)
parked_app = command_group(
    "Parked messages (dead letters): the coordinator's, or with --city a city node's (asked "
    "through the coordinator): list, inspect, retry or discard them."
)
app.add_typer(parked_app, name="parked")

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


@app.command()
@coordinator_command()
def controls(
    call: CoordinatorCall,
    city: Annotated[
        str, typer.Option("--city", help="Only this city's (qingdao, yantai, ...).")
    ] = "",
    court: Annotated[
        str, typer.Option("--court", metavar="ID", help="Only this court's, either side.")
    ] = "",
    state: ControlStatesOption = None,
) -> None:
    """Seizures and freezes in force across the region (查封、冻结期限) and when each must be
    renewed (续封/续冻), soonest first (ListControls)."""
    request = d_pb.ListControlsRequest(
        city=city, court_id=court, states=[s.upper() for s in state or []]
    )
    reply = call_coordinator(call, "ListControls", request)
    if call.json:
        print_json(reply)
        return
    render_controls(console(piped_width()), list(reply.controls), "", reply.total)


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
    court: Annotated[
        str, typer.Option("--court", metavar="ID", help="Only sent or received by this court.")
    ] = "",
    level: Annotated[
        list[SlaLevelChoice] | None,
        typer.Option(
            "--level",
            case_sensitive=False,
            help="Only with the most advanced running clock at this level; repeatable.",
        ),
    ] = None,
    sla: Annotated[
        list[SlaSummaryChoice] | None,
        typer.Option("--sla", case_sensitive=False, help="Only in this SLA state; repeatable."),
    ] = None,
    created_after: Annotated[
        datetime | None,
        typer.Option(
            "--created-after",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
            help="Only created at or after (Asia/Shanghai).",
        ),
    ] = None,
    created_before: Annotated[
        datetime | None,
        typer.Option(
            "--created-before",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"],
            help="Only created before (Asia/Shanghai).",
        ),
    ] = None,
    case_number: Annotated[
        str, typer.Option("--case-number", metavar="TEXT", help="Case number (案号) contains.")
    ] = "",
    order: Annotated[
        OrderChoice | None,
        typer.Option(
            "--order",
            case_sensitive=False,
            help="newest (default) or due: least time left to the next due time first.",
        ),
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500)] = 50,
    page_token: Annotated[str, typer.Option("--page-token", help="From the previous page.")] = "",
) -> None:
    """Delegations across the region (a city's centre: those touching its city), newest first or
    by time left; the debtor is masked."""
    request = capi.CoordinatorListDelegationsRequest(
        from_city=from_city,
        to_city=to_city,
        statuses=[status_value(name) for name in status or ()],
        task_types=[task_type(name) for name in task or ()],
        page_size=page_size,
        page_token=page_token,
        court_id=court,
        sla_levels=[SLA_LEVEL.value(name) for name in level or ()],
        sla_states=[SLA_SUMMARY.value(name) for name in sla or ()],
        case_number=case_number,
        order=ORDER.value(order) if order else capi.LIST_ORDER_UNSPECIFIED,
    )
    if created_after is not None:
        request.created_after.FromDatetime(created_after.replace(tzinfo=SHANGHAI).astimezone(UTC))
    if created_before is not None:
        request.created_before.FromDatetime(created_before.replace(tzinfo=SHANGHAI).astimezone(UTC))
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
    out = console(piped_width())
    render_delegation(out, reply.delegation)
    render_notes(out, reply.notes)


def _outcome(
    call: CoordinatorCall,
    verb: str,
    reply: capi.EscalateResponse | capi.RerouteResponse | capi.CoordinatorUrgeResponse,
    key: str,
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


@app.command()
@coordinator_command()
def urge(
    delegation_id: IdArgument,
    call: CoordinatorCall,
    text: Annotated[str, typer.Option("--text", help="The reminder (optional).")] = "",
    request_id: RequestIdOption = None,
) -> None:
    """Remind the entrusted court (催办) as the command centre; recorded in the history with the
    operator's identity."""
    key = request_id or new_request_id()
    request = capi.CoordinatorUrgeRequest(id=delegation_id, request_id=key, text=text)
    _outcome(call, "urged", call_coordinator(call, "Urge", request), key)


@app.command()
@coordinator_command()
def annotate(
    delegation_id: IdArgument,
    call: CoordinatorCall,
    text: Annotated[str, typer.Option("--text", help="The note (required, at most 2,000).")],
    request_id: RequestIdOption = None,
) -> None:
    """Add a note to a delegation: the command centres' own record (not sent to the courts, not
    part of their history); `ops show` lists the notes."""
    key = request_id or new_request_id()
    request = capi.AnnotateRequest(id=delegation_id, request_id=key, text=text)
    reply = call_coordinator(call, "Annotate", request)
    if call.json:
        print_json(reply)
        return
    note = reply.note
    print(
        t(
            f"已添加备注 {note.delegation_id}（{note.operator}，{local_time(note.at)}） 请求 {key}",
            f"noted {note.delegation_id} ({note.operator}, {local_time(note.at)}) request {key}",
        )
    )


ParkedId = Annotated[int, typer.Argument(metavar="ID", help="Parked message id (a number).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (required); recorded.")]
CityOption = Annotated[
    str,
    typer.Option(
        "--city",
        metavar="CITY",
        help="That city's node's parked messages (qingdao, yantai, ...; default: the "
        "coordinator's).",
    ),
]


@parked_app.command("list")
@coordinator_command()
def parked_list(
    call: CoordinatorCall,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500)] = 50,
    page_token: Annotated[str, typer.Option("--page-token", help="From the previous page.")] = "",
    city: CityOption = "",
) -> None:
    """Parked messages, newest first (a city's centre: those from its courts or about its
    delegations; with --city, that city's node's: a city's centre may ask for its own only)."""
    request = capi.ListParkedRequest(page_size=page_size, page_token=page_token, city=city)
    reply = call_coordinator(call, "ListParked", request)
    if call.json:
        print_json(reply)
        return
    render_parked_list(console(piped_width()), reply, city)


@parked_app.command("show")
@coordinator_command()
def parked_show(parked_id: ParkedId, call: CoordinatorCall, city: CityOption = "") -> None:
    """One parked message: subject, reason, when, a summary without personal data, and the
    retries and discards so far."""
    request = capi.GetParkedRequest(id=parked_id, city=city)
    reply = call_coordinator(call, "GetParked", request)
    if call.json:
        print_json(reply)
        return
    render_parked(console(piped_width()), reply)


@parked_app.command("retry")
@coordinator_command()
def parked_retry(
    parked_id: ParkedId, call: CoordinatorCall, reason: ReasonOption, city: CityOption = ""
) -> None:
    """Apply a parked message again (a node's: through that node's own handler); it leaves the
    list once applied (exit code 1 when it failed again and stays parked)."""
    request = capi.RetryParkedRequest(id=parked_id, reason=reason, city=city)
    reply = call_coordinator(call, "RetryParked", request)
    if call.json:
        print_json(reply)
    else:
        print(parked_action_line(reply.action))
    if not reply.applied:
        raise typer.Exit(1)


@parked_app.command("discard")
@coordinator_command()
def parked_discard(
    parked_id: ParkedId, call: CoordinatorCall, reason: ReasonOption, city: CityOption = ""
) -> None:
    """Drop a parked message for good, with the reason (recorded with the operator's identity,
    where the message was parked)."""
    request = capi.DiscardParkedRequest(id=parked_id, reason=reason, city=city)
    reply = call_coordinator(call, "DiscardParked", request)
    if call.json:
        print_json(reply)
        return
    print(parked_action_line(reply.action))
