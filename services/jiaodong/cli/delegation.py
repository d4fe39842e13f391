"""`jiaodong delegation ...`: send and handle delegations through a court node's gRPC API.

Every call acts as one court and role (--as-court, --role): the CLI presents that court's client
certificate over mutual TLS, and the node takes the acting court from the verified certificate,
never from a request field. Structural contradictions
(two targets, two debtors) are refused here; everything about content is the node's to check, and
its field-level errors are printed as they come.

The options every command shares (--as-court, --node, --role, --json, --timeout) come from
``node_command``; building requests is in cli/requests.py, printing in cli/render.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer
from google.protobuf.message import Message

from jiaodong.cli.connect import NodeCall, court_node, usage_error
from jiaodong.cli.lang import t
from jiaodong.cli.names import (
    AssetChoice,
    ReasonChoice,
    ResultChoice,
    StatusChoice,
    TaskChoice,
    asset_kind,
    completion_result,
    return_reason,
    status_value,
    task_type,
)
from jiaodong.cli.options import (
    ControlStatesOption,
    DocumentsOption,
    RequestIdOption,
    command_group,
    node_command,
)
from jiaodong.cli.render import (
    console,
    piped_width,
    print_json,
    render_controls,
    render_delegation,
    render_list,
    render_registry_requests,
    report,
    warn,
    watch_line,
)
from jiaodong.cli.requests import (
    build_party,
    build_target,
    documents_from_paths,
    new_request_id,
    upload_documents,
)
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import delegation_pb2 as d_pb

app = command_group(
    "Send and handle cross-court delegations through a court node, acting as one court."
)

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Delegation id.")]
NoteOption = Annotated[str, typer.Option("--text", help="Optional note.")]


def _send(
    call: NodeCall,
    rpc: str,
    request: Message,
    verb: str,
    request_id: str = "",
    documents: list[Path] | None = None,
) -> None:
    """One step on one delegation: upload the files it attaches, call, print the outcome."""
    with court_node(call) as stub:
        upload_documents(stub, call, documents)
        response = getattr(stub, rpc)(request, timeout=call.timeout)
    report(call.json, verb, response, response.delegation, request_id)


# `create`'s own options: what the delegation asks, of whom, about which debtor and where.
def _given(flag: str, text: str, metavar: str | None = None) -> Any:
    """An option a clerk may leave out (None)."""
    return typer.Option(flag, metavar=metavar, help=text)


CaseNumber = Annotated[
    str, typer.Option("--case-number", help="Case number (案号), e.g. (2024)鲁0202执123号.")
]
ToCourt = Annotated[str | None, _given("--to-court", "Entrusted court id.", "ID")]
ToCity = Annotated[str | None, _given("--to-city", "Target city (qingdao, yantai, ...).", "CITY")]
District = Annotated[
    str | None, _given("--district", "District in --to-city (empty: intermediate court).")
]
Task = Annotated[
    TaskChoice | None, typer.Option("--task", case_sensitive=False, help="What to do.")
]
Asset = Annotated[
    AssetChoice | None, typer.Option("--asset", case_sensitive=False, help="Asset kind.")
]
Person = Annotated[str | None, _given("--person", "Debtor: a person's name.", "NAME")]
ResidentId = Annotated[str | None, _given("--resident-id", "The person's resident ID.", "ID")]
Org = Annotated[str | None, _given("--org", "Debtor: an organisation.", "NAME")]
CreditCode = Annotated[str | None, _given("--credit-code", "Unified social credit code.", "CODE")]
Phone = Annotated[str | None, _given("--phone", "Debtor's telephone.")]
Address = Annotated[str, typer.Option("--address", help="Street address of the work.")]
PlaceDistrict = Annotated[
    str, typer.Option("--place-district", help="District or county of the work.")
]
Actions = Annotated[str, typer.Option("--actions", metavar="TEXT", help="What is asked, in words.")]
Plate = Annotated[str, typer.Option("--plate", help="Vehicle plate (vehicle tasks).")]
Urgent = Annotated[bool, typer.Option("--urgent", help="Urgent: shorter time limits.")]
# The entrusted court's answers.
Reason = Annotated[
    ReasonChoice, typer.Option("--reason", case_sensitive=False, help="Why it goes back.")
]
Result = Annotated[
    ResultChoice, typer.Option("--result", case_sensitive=False, help="The outcome.")
]
WhatWasDone = Annotated[str, typer.Option("--text", help="What was done.")]
# The requesting court's supplement.
WhatWasAdded = Annotated[str, typer.Option("--text", help="What was added.")]


@app.command()
@node_command()
def create(
    call: NodeCall,
    request_id: RequestIdOption = None,
    case_number: CaseNumber = "",
    to_court: ToCourt = None,
    to_city: ToCity = None,
    district: District = None,
    task: Task = None,
    asset: Asset = None,
    person: Person = None,
    resident_id: ResidentId = None,
    org: Org = None,
    credit_code: CreditCode = None,
    phone: Phone = None,
    address: Address = "",
    place_district: PlaceDistrict = "",
    actions: Actions = "",
    plate: Plate = "",
    urgent: Urgent = False,
    document: DocumentsOption = None,
) -> None:
    """Send a new delegation (the same --request-id again returns the same one)."""
    request = node_pb.CreateDelegationRequest(
        request_id=request_id or new_request_id(),
        case_number=case_number,
        target=build_target(to_court, to_city, district),
        task_type=task_type(task) if task else d_pb.TASK_TYPE_UNSPECIFIED,
        asset_kind=asset_kind(asset) if asset else d_pb.ASSET_KIND_UNSPECIFIED,
        place=d_pb.Place(address=address, district=place_district),
        requested_actions=actions,
        documents=documents_from_paths(document),
        priority=d_pb.PRIORITY_URGENT if urgent else d_pb.PRIORITY_NORMAL,
        plate=plate,
    )
    debtor = build_party(person, resident_id, org, credit_code, phone)
    if debtor is not None:
        request.debtor.CopyFrom(debtor)
    with court_node(call) as stub:
        upload_documents(stub, call, document)
        response = stub.CreateDelegation(request, timeout=call.timeout)
    verb = "created" if response.created else "already created"
    report(call.json, verb, response, response.delegation, request.request_id)
    if not call.json:
        warn(response.delegation)


@app.command()
@node_command()
def show(delegation_id: IdArgument, call: NodeCall) -> None:
    """Show one delegation with its documents, open requests and history."""
    with court_node(call) as stub:
        response = stub.GetDelegation(
            node_pb.GetDelegationRequest(id=delegation_id),
            timeout=call.timeout,
        )
    if call.json:
        print_json(response)
    else:
        render_delegation(console(piped_width()), response.delegation)


@app.command("document")
@node_command(json=False, timeout=60.0)
def document_(
    delegation_id: IdArgument,
    sha256: Annotated[str, typer.Argument(metavar="SHA256", help="The document's SHA-256.")],
    out: Annotated[Path, typer.Option("--out", metavar="PATH", help="Where to save it.")],
    call: NodeCall,
) -> None:
    """Save the content of one of a delegation's documents, checked against its SHA-256."""
    digest = hashlib.sha256()
    size = 0
    part = out.with_name(out.name + ".part")
    with court_node(call) as stub, part.open("wb") as file:
        request = node_pb.GetDocumentRequest(delegation_id=delegation_id, sha256=sha256)
        for piece in stub.GetDocument(request, timeout=call.timeout):
            file.write(piece.data)
            digest.update(piece.data)
            size += len(piece.data)
    if digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        usage_error(f"the content received does not match SHA-256 {sha256}; nothing saved")
    part.replace(out)
    print(f"saved {out} ({size} bytes, SHA-256 checked)")


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
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=500)] = 50,
    page_token: Annotated[str, typer.Option("--page-token", help="From the previous page.")] = "",
) -> None:
    """List delegations this court sent or received, newest first."""
    direction = {
        None: node_pb.DIRECTION_UNSPECIFIED,
        True: node_pb.DIRECTION_SENT,
        False: node_pb.DIRECTION_RECEIVED,
    }[sent]
    request = node_pb.ListDelegationsRequest(
        direction=direction,
        statuses=[status_value(name) for name in status or ()],
        page_size=page_size,
        page_token=page_token,
    )
    with court_node(call) as stub:
        response = stub.ListDelegations(request, timeout=call.timeout)
    if call.json:
        print_json(response)
    else:
        render_list(console(piped_width()), response)


@app.command()
@node_command()
def acknowledge(delegation_id: IdArgument, call: NodeCall, text: NoteOption = "") -> None:
    """Entrusted court: confirm receipt (签收)."""
    request = node_pb.AcknowledgeRequest(id=delegation_id, text=text)
    _send(call, "Acknowledge", request, "acknowledged")


@app.command()
@node_command()
def accept(delegation_id: IdArgument, call: NodeCall, text: NoteOption = "") -> None:
    """Entrusted court: start handling."""
    _send(call, "Accept", node_pb.AcceptRequest(id=delegation_id, text=text), "accepted")


@app.command("return")
@node_command()
def return_(
    delegation_id: IdArgument,
    call: NodeCall,
    reason: Reason,
    text: Annotated[str, typer.Option("--text", help="Explanation.")],
) -> None:
    """Entrusted court: send back with a reason (退回)."""
    request = node_pb.ReturnRequest(id=delegation_id, reason=return_reason(reason), text=text)
    _send(call, "Return", request, "returned")


@app.command()
@node_command()
def supplement(
    delegation_id: IdArgument,
    call: NodeCall,
    text: WhatWasAdded,
    document: DocumentsOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Requesting court: add missing materials (补正)."""
    request = node_pb.SupplementRequest(
        id=delegation_id,
        request_id=request_id or new_request_id(),
        text=text,
        documents=documents_from_paths(document),
    )
    _send(call, "Supplement", request, "supplemented", request.request_id, document)


@app.command("progress")
@node_command()
def progress(
    delegation_id: IdArgument,
    call: NodeCall,
    text: Annotated[str, typer.Option("--text", help="The progress report.")],
    document: DocumentsOption = None,
) -> None:
    """Entrusted court: report progress while handling."""
    request = node_pb.ReportProgressRequest(
        id=delegation_id, text=text, documents=documents_from_paths(document)
    )
    _send(call, "ReportProgress", request, "progress reported on", documents=document)


ControlOption = Annotated[
    list[str] | None,
    typer.Option(
        "--control",
        metavar="ASSET:NUMBER:FROM:TO",
        help="A seizure or freeze put in force, e.g. vehicle:鲁F-2026-0012:2026-12-01:2028-11-30 "
        "(asset kind, its number, first and last day); repeatable. The coordinator warns "
        "before it must be renewed.",
    ),
]


def control_terms(values: list[str] | None) -> list[d_pb.ControlTerm]:
    """``--control`` values as control terms (the node checks the dates and the legal term)."""
    out = []
    for value in values or []:
        parts = value.split(":")
        if len(parts) != 4 or not all(p.strip() for p in parts):
            raise typer.BadParameter(
                t(
                    f"应写作 财产种类:登记号:起始日:截止日，而不是 {value!r}",
                    f"takes ASSET:NUMBER:FROM:TO, not {value!r}",
                ),
                param_hint="'--control'",
            )
        asset, number, first, last = (p.strip() for p in parts)
        try:
            kind = asset_kind(asset.lower().replace("-", "_"))
        except (KeyError, ValueError):
            raise typer.BadParameter(
                t(f"未知的财产种类 {asset!r}", f"unknown asset kind {asset!r}"),
                param_hint="'--control'",
            ) from None
        out.append(
            d_pb.ControlTerm(
                asset_kind=kind,
                reference=number,
                starts_on=first,
                ends_on=last,
            )
        )
    return out


@app.command()
@node_command()
def complete(
    delegation_id: IdArgument,
    call: NodeCall,
    result: Result,
    text: WhatWasDone,
    document: DocumentsOption = None,
    control: ControlOption = None,
) -> None:
    """Entrusted court: report the result (办结) with receipts, and any seizure or freeze it put
    in force (--control)."""
    request = node_pb.CompleteRequest(
        id=delegation_id,
        result=completion_result(result),
        text=text,
        documents=documents_from_paths(document),
        controls=control_terms(control),
    )
    _send(call, "Complete", request, "completed", documents=document)


@app.command()
@node_command()
def controls(
    call: NodeCall,
    state: ControlStatesOption = None,
) -> None:
    """The seizures and freezes this court asked for or put in force (查封、冻结期限), and when
    each must be renewed (续封/续冻), soonest first."""
    request = d_pb.ListControlsRequest(states=[s.upper() for s in state or []])
    with court_node(call) as stub:
        reply = stub.ListControls(request, timeout=call.timeout)
    if call.json:
        print_json(reply)
    else:
        render_controls(console(piped_width()), list(reply.controls), call.court, reply.total)


@app.command()
@node_command()
def renew(
    delegation_id: IdArgument,
    call: NodeCall,
    request_id: RequestIdOption = None,
    text: Annotated[str, typer.Option("--text", help="What to ask, if not the default.")] = "",
) -> None:
    """Requesting court: renew (续封/续冻) the seizure or freeze a delegation put in force: a new
    seizure delegation to the court that did it, naming it, with the same case and debtor. Its
    registry renews it automatically where the city has one."""
    with court_node(call) as stub:
        original = stub.GetDelegation(
            node_pb.GetDelegationRequest(id=delegation_id), timeout=call.timeout
        ).delegation
        terms = [(e.actor_court, c) for e in original.history for c in e.controls]
        if not terms:
            usage_error(
                t(
                    f"委托 {delegation_id} 没有记录查封、冻结，无需续封。",
                    f"delegation {delegation_id} put no seizure or freeze in force",
                )
            )
        court, last = terms[-1]
        numbers = "、".join(dict.fromkeys(c.reference for _, c in terms))
        asks = text or f"续封/续冻：原委托 {original.id}，登记号 {numbers}，原期限至 {last.ends_on}"
        request = node_pb.CreateDelegationRequest(
            request_id=request_id or f"renew-{original.id}-{last.ends_on}",
            case_number=original.case_number,
            target=d_pb.Target(court_id=court),
            task_type=d_pb.TASK_TYPE_SEIZURE,
            asset_kind=last.asset_kind,
            place=original.place,
            requested_actions=asks,
            priority=original.priority,
            plate=original.plate,
            renews=original.id,
        )
        request.debtor.CopyFrom(original.debtor)
        response = stub.CreateDelegation(request, timeout=call.timeout)
    verb = "created" if response.created else "already created"
    report(call.json, verb, response, response.delegation, request.request_id)


def _requester_command(
    name: str, rpc: str, request_type: type[Message], verb: str, text: Any, doc: str
) -> None:
    """Register `confirm`, `cancel` or `urge`: a requesting court's request about one delegation,
    sent with an idempotency key (--request-id) and applied by the entrusted court's node."""

    def command(
        delegation_id: IdArgument,
        call: NodeCall,
        text: str = text,
        request_id: RequestIdOption = None,
    ) -> None:
        key = request_id or new_request_id()
        _send(call, rpc, request_type(id=delegation_id, request_id=key, text=text), verb, key)

    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    app.command(name)(node_command()(command))


# The --text option of each: optional, or required (typer's `...`).
_requester_command(
    "confirm",
    "Confirm",
    node_pb.ConfirmRequest,
    "confirmed",
    typer.Option("", "--text", help="Optional note."),
    "Requesting court: accept the result and close.",
)
_requester_command(
    "cancel",
    "Cancel",
    node_pb.CancelRequest,
    "cancelled",
    typer.Option(..., "--text", help="Why it is withdrawn."),
    "Requesting court: withdraw before completion (撤回).",
)
_requester_command(
    "urge",
    "Urge",
    node_pb.UrgeRequest,
    "urged",
    typer.Option("", "--text", help="Optional message."),
    "Requesting court: remind the entrusted court (催办).",
)


@app.command()
@node_command()
def watch(
    call: NodeCall,
    delegation_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Only this delegation (default: all).")
    ] = None,
) -> None:
    """Print one line per change until Ctrl-C (--json: one compact JSON object per line)."""
    with court_node(call, wait_ready=True) as stub:
        stream = stub.WatchDelegations(
            node_pb.WatchDelegationsRequest(delegation_id=delegation_id or ""),
        )
        try:
            for change in stream:
                if call.json:
                    print_json(change, compact=True)
                else:
                    print(watch_line(change), flush=True)
        except KeyboardInterrupt:
            stream.cancel()


@app.command("registry")
@node_command()
def registry_(
    delegation_id: IdArgument,
    call: NodeCall,
    letters: Annotated[
        bool,
        typer.Option("--letters/--no-letters", help="Also print the result letters (回执)."),
    ] = False,
) -> None:
    """Entrusted court: what the node asked its city's registries for a delegation (网络查控),
    and any result held for review. The letters name the debtor: each read is recorded."""
    with court_node(call) as stub:
        reply = stub.ListRegistryRequests(
            node_pb.ListRegistryRequestsRequest(id=delegation_id, letters=letters),
            timeout=call.timeout,
        )
    if call.json:
        print_json(reply)
    else:
        render_registry_requests(console(piped_width()), reply, call.court)


@app.command()
@node_command()
def release(delegation_id: IdArgument, call: NodeCall, text: NoteOption = "") -> None:
    """Entrusted court: release a registry's result held for review (it is then recorded)."""
    request = node_pb.ReleaseRegistryResultRequest(id=delegation_id, text=text)
    _send(call, "ReleaseRegistryResult", request, "released")
