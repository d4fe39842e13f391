"""`jiaodong assist ...`: on-site assistance (异地执行协助) through a court node's gRPC API.

The requesting court's own officers act in another city and the local court with jurisdiction
assists (docs/assistance.md). The requesting court asks (`request`), accepts the local court's
plan (`accept`), asks to move the date (`move`); the local court proposes the plan (`plan`), books
each support item (`support`) or refuses (`refuse`); either court records the operation's outcome
from its day on (`outcome`) or withdraws it (`cancel`). `show` and `list` read the requests.

As in `jiaodong delegation`, every call acts as one court and role (--as-court, --role) with that
court's certificate, and the shared options come from ``node_command``. Structural mistakes in an
option's value (an --officer or --alternative that is not in its form) are refused here as a usage
error (exit 2); everything about content is the node's to check, and its field-level errors are
printed as they come.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jiaodong.cli import lang
from jiaodong.cli.connect import NodeCall, court_node, usage_error
from jiaodong.cli.lang import court_label, court_name, t
from jiaodong.cli.names import (
    MeasureChoice,
    ResultChoice,
    StatusChoice,
    SupportChoice,
    completion_result,
    measure_text,
    measure_value,
    priority_text,
    result_text,
    side_text,
    status_text,
    status_value,
    support_state_text,
    support_state_value,
    support_text,
    support_value,
    task_text,
)
from jiaodong.cli.options import DocumentsOption, RequestIdOption, command_group, node_command
from jiaodong.cli.render import (
    add_id_column,
    console,
    local_time,
    piped_width,
    print_json,
    render_records,
    report,
    warn,
    window_text,
)
from jiaodong.cli.requests import documents_from_paths, new_request_id, upload_documents
from jiaodong.domain.errors import DomainError
from jiaodong.domain.routing import Target, route
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import delegation_pb2 as d_pb

app = command_group(
    "On-site assistance (异地执行协助): your officers act in another city, its court assists."
)

ASSISTANCE = d_pb.TASK_TYPE_ON_SITE_ASSISTANCE

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Assistance request id.")]
Day = Annotated[str, typer.Option("--day", metavar="YYYY-MM-DD", help="The operation day.")]
Start = Annotated[str, typer.Option("--from", metavar="HH:MM", help="Start of the window.")]
End = Annotated[str, typer.Option("--to", metavar="HH:MM", help="End of the window.")]
Why = Annotated[str, typer.Option("--reason", metavar="TEXT", help="Why (required).")]


# --- option values in their forms ----------------------------------------------------------------

_WINDOW = re.compile(r"(\d{4}-\d{2}-\d{2})[:\sT](\d{1,2}:\d{2})-(\d{1,2}:\d{2})")


def _colons(value: str) -> str:
    """A full-width colon (typed with a Chinese input method) read as ``:``."""
    return value.replace("：", ":").strip()


def time_windows(values: list[str] | None) -> list[d_pb.TimeWindow]:
    """``--alternative`` values (``2026-12-11:09:00-12:00``) as windows; the node checks the
    dates and times themselves."""
    out = []
    for value in values or []:
        found = _WINDOW.fullmatch(_colons(value))
        if found is None:
            raise typer.BadParameter(
                t(
                    f"应写作 日期:起始时间-结束时间（如 2026-12-11:09:00-12:00），而不是 {value!r}",
                    f"takes DAY:FROM-TO (e.g. 2026-12-11:09:00-12:00), not {value!r}",
                ),
                param_hint="'--alternative'",
            )
        day, start, end = found.groups()
        out.append(d_pb.TimeWindow(day=day, start=start.zfill(5), end=end.zfill(5)))
    return out


def visiting_officers(values: list[str] | None) -> list[d_pb.VisitingOfficer]:
    """``--officer`` values (``NAME:WORK_ID:ENFORCEMENT_ID``) as visiting officers of the acting
    court (their court is left empty: the node takes the requesting court)."""
    out = []
    for value in values or []:
        parts = [p.strip() for p in _colons(value).split(":")]
        if len(parts) != 3 or not all(parts):
            raise typer.BadParameter(
                t(
                    f"应写作 姓名:工作证号:执行公务证号，而不是 {value!r}",
                    f"takes NAME:WORK_ID:ENFORCEMENT_ID, not {value!r}",
                ),
                param_hint="'--officer'",
            )
        name, work_id, enforcement_id = parts
        out.append(d_pb.VisitingOfficer(name=name, work_id=work_id, enforcement_id=enforcement_id))
    return out


def support_items(values: list[str] | None) -> list[d_pb.SupportItem]:
    """``plan --support`` values (``court-police:asked``; the state may be left out: asked) as
    the plan's support items."""
    out = []
    for value in values or []:
        kind, _, state = _colons(value).partition(":")
        try:
            item = d_pb.SupportItem(
                kind=support_value(kind),
                state=support_state_value(state or "asked"),
            )
        except ValueError:
            kinds = "、".join(c.value for c in SupportChoice)
            raise typer.BadParameter(
                t(
                    f"应写作 保障事项:状态（事项 {kinds}；状态 asked、confirmed、declined），"
                    f"而不是 {value!r}",
                    f"takes KIND:STATE (kinds {kinds}; states asked, confirmed, declined), "
                    f"not {value!r}",
                ),
                param_hint="'--support'",
            ) from None
        out.append(item)
    return out


def _local_court(requesting: str, target: d_pb.Target) -> str:
    """The local court a request goes to, by the registry the node routes with (its name and
    id); the target as given when it cannot be told here (the node will say why)."""
    registry = lang.registry()
    if registry is not None:
        try:
            court = route(
                registry, requesting, Target(target.court_id, target.city, target.district)
            )
        except (DomainError, KeyError):
            pass
        else:
            return court_label(court.court_id)
    return "/".join(p for p in (target.court_id, target.city, target.district) if p) or "?"


# --- the steps -----------------------------------------------------------------------------------


def _send(
    call: NodeCall,
    rpc: str,
    request: Message,
    verb: str,
    request_id: str = "",
    documents: list[Path] | None = None,
) -> None:
    """One step on one request: upload the files it attaches, call, print the outcome."""
    with court_node(call) as stub:
        upload_documents(stub, call, documents)
        response = getattr(stub, rpc)(request, timeout=call.timeout)
    report(call.json, verb, response, response.delegation, request_id)


@app.command()
@node_command()
def request(
    call: NodeCall,
    case_number: Annotated[
        str, typer.Option("--case-number", help="Your enforcement case number (案号).")
    ],
    basis: Annotated[
        str, typer.Option("--basis", help="The enforcement basis (执行依据), e.g. the judgment.")
    ],
    measure: Annotated[
        MeasureChoice,
        typer.Option("--measure", case_sensitive=False, help="What your officers do there."),
    ],
    address: Annotated[str, typer.Option("--address", help="Where: the street address.")],
    subject: Annotated[
        str, typer.Option("--subject", help="The person or property the operation concerns.")
    ],
    day: Day,
    start: Start,
    end: End,
    officer: Annotated[
        list[str],
        typer.Option(
            "--officer",
            metavar="NAME:WORK_ID:ENFORCEMENT_ID",
            help="One of your officers who act there: name, work ID number (工作证号), "
            "enforcement ID number (执行公务证号); repeatable.",
        ),
    ],
    city: Annotated[
        str | None,
        typer.Option("--city", metavar="CITY", help="The city (qingdao, yantai, ...)."),
    ] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="District or county in --city.")
    ] = None,
    court_id: Annotated[
        str | None,
        typer.Option("--court-id", metavar="ID", help="The local court, if you name it."),
    ] = None,
    alternative: Annotated[
        list[str] | None,
        typer.Option(
            "--alternative",
            metavar="DAY:FROM-TO",
            help="Another day that would do, e.g. 2026-12-11:09:00-12:00; repeatable.",
        ),
    ] = None,
    vehicle: Annotated[
        list[str] | None,
        typer.Option("--vehicle", metavar="PLATE", help="Plate of a vehicle you come in."),
    ] = None,
    support: Annotated[
        list[SupportChoice] | None,
        typer.Option(
            "--support", case_sensitive=False, help="Support asked of the local court; repeatable."
        ),
    ] = None,
    risk_notes: Annotated[
        str, typer.Option("--risk-notes", help="Risks the local court should know.")
    ] = "",
    urgent_reason: Annotated[
        str,
        typer.Option(
            "--urgent-reason", help="Why a day closer than the notice allows (required then)."
        ),
    ] = "",
    document: DocumentsOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Requesting court: ask for on-site assistance (the same --request-id returns the same one)."""
    target = d_pb.Target(court_id=court_id or "", city=city or "", district=district or "")
    rpc_request = node_pb.RequestAssistanceRequest(
        request_id=request_id or new_request_id(),
        case_number=case_number,
        target=target,
        place=d_pb.Place(address=address, district=district or ""),
        assistance=d_pb.Assistance(
            basis=basis,
            measure=measure_value(measure),
            subject=subject,
            proposed=d_pb.TimeWindow(day=day, start=start, end=end),
            alternatives=time_windows(alternative),
            officers=visiting_officers(officer),
            vehicles=list(vehicle or []),
            support=[support_value(s) for s in support or []],
            risk_notes=risk_notes,
            urgent_reason=urgent_reason,
        ),
        documents=documents_from_paths(document),
    )
    with court_node(call) as stub:
        upload_documents(stub, call, document)
        response = stub.RequestAssistance(rpc_request, timeout=call.timeout)
    d = response.delegation
    if response.created:
        verb = t("已申请异地执行协助", "requested")
    else:
        verb = t("此前已申请", "already requested")
    report(call.json, verb, response, d, rpc_request.request_id)
    if not call.json:
        local = court_label(d.entrusted_court) if d.entrusted_court else None
        print(t("协助法院：", "local court: ") + (local or _local_court(call.court, d.target)))
        print(t("执行日期：", "operation: ") + window_text(d.assistance.proposed))
        warn(d)


@app.command()
@node_command()
def plan(
    delegation_id: IdArgument,
    call: NodeCall,
    day: Day,
    start: Start,
    end: End,
    liaison: Annotated[str, typer.Option("--liaison", help="Your liaison's name and telephone.")],
    staff: Annotated[
        int, typer.Option("--staff", min=0, help="How many of your staff assist.")
    ] = 0,
    support: Annotated[
        list[str] | None,
        typer.Option(
            "--support",
            metavar="KIND:STATE",
            help="Each support item asked for and where it stands (asked, confirmed, declined), "
            "e.g. court-police:asked; repeatable.",
        ),
    ] = None,
    note: Annotated[
        str, typer.Option("--note", help="A note: where to meet, why an item is declined.")
    ] = "",
) -> None:
    """Local court: propose the plan (day, window, liaison, staff, support); again to move it."""
    proposed = d_pb.AssistancePlan(
        window=d_pb.TimeWindow(day=day, start=start, end=end),
        liaison=liaison,
        assisting_staff=staff,
        support=support_items(support),
        note=note,
    )
    rpc_request = node_pb.ProposeAssistancePlanRequest(id=delegation_id, plan=proposed)
    _send(call, "ProposeAssistancePlan", rpc_request, t("已拟定协助方案", "plan proposed for"))


@app.command("support")
@node_command()
def support_(
    delegation_id: IdArgument,
    call: NodeCall,
    support: Annotated[
        SupportChoice,
        typer.Option("--support", case_sensitive=False, help="The support item booked."),
    ],
    text: Annotated[str, typer.Option("--text", help="Optional note (who, a booking).")] = "",
) -> None:
    """Local court: one support item is booked (police, locksmith, ...)."""
    rpc_request = node_pb.ConfirmAssistanceSupportRequest(
        id=delegation_id, support=support_value(support), text=text
    )
    _send(call, "ConfirmAssistanceSupport", rpc_request, t("已落实保障", "support booked for"))


@app.command()
@node_command()
def refuse(delegation_id: IdArgument, call: NodeCall, reason: Why) -> None:
    """Local court: refuse to assist, with a reason."""
    rpc_request = node_pb.RefuseAssistanceRequest(id=delegation_id, text=reason)
    _send(call, "RefuseAssistance", rpc_request, t("已拒绝协助", "refused"))


@app.command()
@node_command()
def accept(
    delegation_id: IdArgument,
    call: NodeCall,
    plan_seq: Annotated[
        int | None,
        typer.Option(
            "--plan-seq",
            metavar="N",
            min=1,
            help="The plan accepted (its event number; default: the latest plan).",
        ),
    ] = None,
    text: Annotated[str, typer.Option("--text", help="Optional note.")] = "",
    request_id: RequestIdOption = None,
) -> None:
    """Requesting court: accept the plan (default: the latest one, read first and named)."""
    key = request_id or new_request_id()
    with court_node(call) as stub:
        if plan_seq is None:
            d = stub.GetDelegation(
                node_pb.GetDelegationRequest(id=delegation_id), timeout=call.timeout
            ).delegation
            latest = d.assistance_progress.plan
            if not latest.seq:
                usage_error(
                    t(
                        f"协助请求 {delegation_id} 尚无协助法院拟定的方案，无可确认。",
                        f"assistance request {delegation_id} has no plan from the local court yet",
                    )
                )
            plan_seq = latest.seq
            print(
                t(
                    f"确认第 {latest.seq} 号方案：{window_text(latest.window)}",
                    f"accepting plan #{latest.seq}: {window_text(latest.window)}",
                ),
                file=sys.stderr if call.json else sys.stdout,
            )
        rpc_request = node_pb.AcceptAssistancePlanRequest(
            id=delegation_id, request_id=key, plan_seq=plan_seq, text=text
        )
        response = stub.AcceptAssistancePlan(rpc_request, timeout=call.timeout)
    report(call.json, t("已确认方案", "plan accepted for"), response, response.delegation, key)


@app.command()
@node_command()
def move(
    delegation_id: IdArgument,
    call: NodeCall,
    day: Day,
    start: Start,
    end: End,
    reason: Why,
    request_id: RequestIdOption = None,
) -> None:
    """Requesting court: ask to move the operation (the local court then proposes again)."""
    key = request_id or new_request_id()
    rpc_request = node_pb.MoveAssistanceRequest(
        id=delegation_id,
        request_id=key,
        window=d_pb.TimeWindow(day=day, start=start, end=end),
        text=reason,
    )
    _send(call, "MoveAssistance", rpc_request, t("已申请改期", "move asked for"), key)


@app.command()
@node_command()
def outcome(
    delegation_id: IdArgument,
    call: NodeCall,
    result: Annotated[
        ResultChoice, typer.Option("--result", case_sensitive=False, help="The outcome.")
    ],
    record: Annotated[
        str, typer.Option("--record", metavar="TEXT", help="A short record of the operation.")
    ],
    document: DocumentsOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Either court: record the operation's outcome (each court once, from the operation day)."""
    key = request_id or new_request_id()
    rpc_request = node_pb.RecordAssistanceOutcomeRequest(
        id=delegation_id,
        request_id=key,
        result=completion_result(result),
        text=record,
        documents=documents_from_paths(document),
    )
    verb = t("已记录执行结果", "outcome recorded for")
    _send(call, "RecordAssistanceOutcome", rpc_request, verb, key, document)


@app.command()
@node_command()
def cancel(
    delegation_id: IdArgument,
    call: NodeCall,
    reason: Why,
    request_id: RequestIdOption = None,
) -> None:
    """Either court: withdraw the request (撤回) before the operation, with a reason."""
    key = request_id or new_request_id()
    rpc_request = node_pb.CancelRequest(id=delegation_id, request_id=key, text=reason)
    _send(call, "Cancel", rpc_request, "cancelled", key)


# --- reading -------------------------------------------------------------------------------------


@app.command()
@node_command()
def show(delegation_id: IdArgument, call: NodeCall) -> None:
    """Show one assistance request: what is asked, the plan, the outcomes and the history."""
    with court_node(call) as stub:
        response = stub.GetDelegation(
            node_pb.GetDelegationRequest(id=delegation_id), timeout=call.timeout
        )
    if call.json:
        print_json(response)
    else:
        render_assistance(console(piped_width()), response.delegation)


@app.command("list")
@node_command()
def list_(
    call: NodeCall,
    sent: Annotated[
        bool | None,
        typer.Option("--sent/--received", help="Only sent, or only received (default: both)."),
    ] = None,
    status: Annotated[
        list[StatusChoice] | None,
        typer.Option("--status", case_sensitive=False, help="Only this status; repeatable."),
    ] = None,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=500, help="At least this many, if there are.")
    ] = 50,
    page_token: Annotated[str, typer.Option("--page-token", help="From the previous page.")] = "",
) -> None:
    """List the assistance requests this court sent or received, newest first."""
    direction = {
        None: node_pb.DIRECTION_UNSPECIFIED,
        True: node_pb.DIRECTION_SENT,
        False: node_pb.DIRECTION_RECEIVED,
    }[sent]
    found = node_pb.ListDelegationsResponse()
    token = page_token
    with court_node(call) as stub:
        # The node lists every delegation: pages are read whole until enough are requests for
        # assistance, so the token printed continues where this list ends.
        while True:
            page = stub.ListDelegations(
                node_pb.ListDelegationsRequest(
                    direction=direction,
                    statuses=[status_value(name) for name in status or ()],
                    page_size=500,
                    page_token=token,
                ),
                timeout=call.timeout,
            )
            found.delegations.extend(d for d in page.delegations if d.task_type == ASSISTANCE)
            token = page.next_page_token
            if not token or len(found.delegations) >= page_size:
                break
    found.next_page_token = token
    if call.json:
        print_json(found)
    else:
        render_assistance_list(console(piped_width()), found)


# --- what people read ----------------------------------------------------------------------------


def _local(d: d_pb.Delegation) -> str:
    """The local court by name and id, or the target before routing."""
    if d.entrusted_court:
        return court_label(d.entrusted_court)
    if d.target.court_id:
        return court_label(d.target.court_id) + t("（尚未分派）", " (not routed yet)")
    where = "/".join(p for p in (d.target.city, d.target.district) if p) or "?"
    return where + t("（尚未分派）", " (not routed yet)")


def _officer_text(o: d_pb.VisitingOfficer) -> str:
    return t(
        f"{o.name}（工作证号 {o.work_id}，执行公务证号 {o.enforcement_id}）",
        f"{o.name} (work ID {o.work_id}, enforcement ID {o.enforcement_id})",
    )


def render_assistance(console: Console, d: d_pb.Delegation) -> None:
    """The `assist show` view: what is asked, the plan, outcomes, requests, limits, history."""
    a, progress = d.assistance, d.assistance_progress
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold", no_wrap=True)
    header.add_column(overflow="fold")

    def row(key: str, value: str) -> None:
        header.add_row(key, Text(value))

    status = status_text(d.status)
    if d.result:
        status += t(f"（结果：{result_text(d.result)}）", f" (result {result_text(d.result)})")
    header.add_row(t("协助编号", "request"), Text(d.id, no_wrap=True, overflow="ignore"))
    row(t("案号", "case number"), d.case_number)
    row(t("状态", "status"), status)
    row(t("事项", "task"), task_text(d.task_type))
    row(t("请求法院", "requesting court"), court_label(d.requesting_court))
    row(t("协助法院", "local court"), _local(d))
    row(t("执行措施", "measure"), measure_text(a.measure))
    row(t("执行依据", "basis"), a.basis or "-")
    row(t("执行对象", "subject"), a.subject or "-")
    place = d.place.address
    if d.place.district and not place.startswith(d.place.district):
        place = f"{d.place.district} {place}".strip()
    row(t("地址", "address"), place or "-")
    row(t("申请执行时间", "window asked"), window_text(a.proposed))
    if a.alternatives:
        row(t("备选时间", "alternatives"), "；".join(window_text(w) for w in a.alternatives))
    if progress.operation_day:
        row(t("执行日", "operation day"), progress.operation_day)
    if progress.HasField("asked_window"):
        row(t("申请改期至", "move asked to"), window_text(progress.asked_window))
    if progress.latest_request_day:
        row(t("最迟申请日", "ask by"), progress.latest_request_day)
    if progress.reminder_day:
        row(t("提醒日", "reminder"), progress.reminder_day)
    for i, officer in enumerate(a.officers):
        row(t("外出执行人员", "visiting officers") if i == 0 else "", _officer_text(officer))
    if a.vehicles:
        row(t("车辆", "vehicles"), "、".join(a.vehicles))
    asked = "、".join(support_text(s) for s in a.support)
    row(t("申请保障", "support asked"), asked or t("无", "none"))
    if a.risk_notes:
        row(t("风险提示", "risks"), a.risk_notes)
    if a.urgent_reason:
        row(t("紧急事由", "urgent because"), a.urgent_reason)
    row(t("缓急", "priority"), priority_text(d.priority))
    row(t("序号", "seq"), str(d.seq))
    row(t("发起时间", "created"), local_time(d.created_at))
    row(t("更新时间", "updated"), local_time(d.updated_at))
    for warning in d.warnings:
        row(t("提示", "warning"), warning)
    console.print(header)

    if progress.HasField("plan"):
        p = progress.plan
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(t("时间", "window"), Text(window_text(p.window)))
        grid.add_row(t("联络人", "liaison"), Text(p.liaison or "-"))
        grid.add_row(
            t("协助人员", "assisting staff"), t(f"{p.assisting_staff} 名", str(p.assisting_staff))
        )
        for i, item in enumerate(p.support):
            grid.add_row(
                t("保障事项", "support") if i == 0 else "",
                f"{support_text(item.kind)}：{support_state_text(item.state)}"
                if lang.zh()
                else f"{support_text(item.kind)}: {support_state_text(item.state)}",
            )
        if p.note:
            grid.add_row(t("备注", "note"), Text(p.note))
        console.print(
            Text(t(f"协助方案（第 {p.seq} 号事件）", f"plan (event {p.seq})"), style="bold")
        )
        console.print(grid)

    if progress.outcomes:
        outcomes = Table(title=t("执行结果", "outcomes"), title_justify="left")
        for column in (t("一方", "side"), t("结果", "result"), t("记录", "record")):
            outcomes.add_column(column, overflow="fold")
        for o in progress.outcomes:
            outcomes.add_row(side_text(o.side), result_text(o.result), Text(o.record))
        console.print(outcomes)

    render_records(console, d)


def _operation_day(d: d_pb.Delegation) -> str:
    return d.assistance_progress.operation_day or d.assistance.proposed.day or "-"


def render_assistance_list(console: Console, response: node_pb.ListDelegationsResponse) -> None:
    """`assist list`: one row per request, the whole id with the case number under it."""
    if not response.delegations:
        console.print(t("没有异地执行协助请求", "no assistance requests"))
    else:
        table = Table(
            title=t("异地执行协助请求", "on-site assistance requests"),
            title_justify="left",
            show_edge=False,
        )
        add_id_column(table, t("协助编号 / 案号", "id / case number"))
        table.add_column(t("执行措施", "measure"), overflow="fold")
        table.add_column(t("请求法院 → 协助法院", "requesting → local"), overflow="fold")
        table.add_column(t("执行日", "day"), no_wrap=True)
        table.add_column(t("状态", "status"), overflow="fold")
        for d in response.delegations:
            local = court_name(d.entrusted_court) if d.entrusted_court else _local(d)
            status = status_text(d.status)
            if d.priority == d_pb.PRIORITY_URGENT:
                status += "\n" + priority_text(d.priority)
            table.add_row(
                Text(f"{d.id}\n{d.case_number}"),
                measure_text(d.assistance.measure),
                Text(f"{court_name(d.requesting_court)} → {local}"),
                _operation_day(d),
                status,
            )
        console.print(table)
    if response.next_page_token:
        console.print(Text(t("下一页：", "more: ") + f"--page-token {response.next_page_token}"))
