"""`jiaodong delegation ...`: send and handle delegations through a court node's gRPC API.

Every call acts as one court and role (--as-court, --role): the CLI presents that court's client
certificate over mutual TLS, and the node takes the acting court from the verified certificate,
never from a request field. Structural contradictions
(two targets, two debtors) are refused here; everything about content is the node's to check, and
its field-level errors are printed as they come.
"""

from __future__ import annotations

import hashlib
import mimetypes
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jiaodong.config import Settings
from jiaodong.domain.identifiers import mask_name, mask_phone, mask_resident_id
from jiaodong.domain.identity import COURT_ROLES, Identity, Role
from jiaodong.security.certs import TlsFiles, identity_of
from jiaodong.security.grpc_auth import sync_channel
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import court_node_service_pb2_grpc as node_grpc
from jiaodong.v1 import delegation_pb2 as d_pb

if TYPE_CHECKING:
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

DEFAULT_NODE = "127.0.0.1:50061"
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
OCTET_STREAM = "application/octet-stream"

EXIT_ERROR = 1
EXIT_REFUSED = 2
EXIT_UNREACHABLE = 3
REFUSED_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
UNREACHABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})

app = typer.Typer(
    help="Send and handle cross-court delegations through a court node, acting as one court.",
    no_args_is_help=True,
)

# --- names on the command line <-> proto enums ------------------------------------------------
# The command line spells enum values in lower case with hyphens ("materials-incomplete");
# the proto names carry a type prefix ("RETURN_REASON_MATERIALS_INCOMPLETE"). The choice
# classes below list what typer offers; a unit test keeps them equal to the proto enums.


class TaskChoice(StrEnum):
    PROPERTY_INQUIRY = "property-inquiry"
    SEIZURE = "seizure"
    ON_SITE_INSPECTION = "on-site-inspection"
    HANDOVER = "handover"
    FORCED_EVICTION = "forced-eviction"
    SERVICE_OF_DOCUMENTS = "service-of-documents"


class AssetChoice(StrEnum):
    REAL_ESTATE = "real-estate"
    VEHICLE = "vehicle"
    EQUITY = "equity"
    DEPOSIT = "deposit"
    OTHER = "other"


class ReasonChoice(StrEnum):
    NOT_OUR_JURISDICTION = "not-our-jurisdiction"
    MATERIALS_INCOMPLETE = "materials-incomplete"
    REQUEST_UNCLEAR = "request-unclear"
    OTHER = "other"


class ResultChoice(StrEnum):
    DONE = "done"
    PARTLY_DONE = "partly-done"
    NOT_POSSIBLE = "not-possible"


class StatusChoice(StrEnum):
    CREATED = "created"
    ROUTED = "routed"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    ROUTING_FAILED = "routing-failed"


TASK_PREFIX = "TASK_TYPE_"
ASSET_PREFIX = "ASSET_KIND_"
REASON_PREFIX = "RETURN_REASON_"
RESULT_PREFIX = "COMPLETION_RESULT_"
STATUS_PREFIX = "STATUS_"
KIND_PREFIX = "EVENT_KIND_"
SIDE_PREFIX = "SIDE_"
PRIORITY_PREFIX = "PRIORITY_"

_V = TypeVar("_V", bound=int)


def enum_value(enum: _EnumTypeWrapper[_V], prefix: str, name: str) -> _V:
    """``"materials-incomplete"`` -> ``RETURN_REASON_MATERIALS_INCOMPLETE``; ValueError if unknown.

    Upper case and underscores are accepted too; the unspecified zero is never a choice.
    """
    key = prefix + name.strip().upper().replace("-", "_")
    if key == prefix + "UNSPECIFIED":
        raise ValueError(f"{name!r} is not a choice")
    try:
        return enum.Value(key)
    except ValueError:
        raise ValueError(f"{name!r} is not a choice") from None


def enum_label(enum: _EnumTypeWrapper[_V], prefix: str, value: _V) -> str:
    """``STATUS_ACKNOWLEDGED`` -> ``"ACKNOWLEDGED"``; an unknown number (newer server) stays one."""
    try:
        return enum.Name(value).removeprefix(prefix)
    except ValueError:
        return str(int(value))


def enum_cli_name(enum: _EnumTypeWrapper[_V], prefix: str, value: _V) -> str:
    """``RETURN_REASON_MATERIALS_INCOMPLETE`` -> ``"materials-incomplete"``."""
    return enum_label(enum, prefix, value).lower().replace("_", "-")


def enum_cli_names(enum: _EnumTypeWrapper[_V], prefix: str) -> list[str]:
    """Every choice of an enum as the command line spells it, without the unspecified zero."""
    return [
        enum_cli_name(enum, prefix, value)
        for value in enum.values()
        if enum.Name(value) != prefix + "UNSPECIFIED"
    ]


def task_type(name: str) -> d_pb.TaskType.ValueType:
    return enum_value(d_pb.TaskType, TASK_PREFIX, name)


def asset_kind(name: str) -> d_pb.AssetKind.ValueType:
    return enum_value(d_pb.AssetKind, ASSET_PREFIX, name)


def return_reason(name: str) -> d_pb.ReturnReason.ValueType:
    return enum_value(d_pb.ReturnReason, REASON_PREFIX, name)


def completion_result(name: str) -> d_pb.CompletionResult.ValueType:
    return enum_value(d_pb.CompletionResult, RESULT_PREFIX, name)


def status_value(name: str) -> d_pb.Status.ValueType:
    """``"acknowledged"`` (or ``"ACKNOWLEDGED"``) -> ``STATUS_ACKNOWLEDGED``."""
    return enum_value(d_pb.Status, STATUS_PREFIX, name)


def status_name(value: d_pb.Status.ValueType) -> str:
    """``STATUS_ROUTING_FAILED`` -> ``"routing-failed"`` (the spelling ``--status`` takes)."""
    return enum_cli_name(d_pb.Status, STATUS_PREFIX, value)


def status_label(value: d_pb.Status.ValueType) -> str:
    """``STATUS_ROUTING_FAILED`` -> ``"ROUTING_FAILED"`` (the spelling printed for people)."""
    return enum_label(d_pb.Status, STATUS_PREFIX, value)


def reason_name(value: d_pb.ReturnReason.ValueType) -> str:
    return enum_cli_name(d_pb.ReturnReason, REASON_PREFIX, value)


def result_name(value: d_pb.CompletionResult.ValueType) -> str:
    return enum_cli_name(d_pb.CompletionResult, RESULT_PREFIX, value)


def priority_name(value: d_pb.Priority.ValueType) -> str:
    """Unset priority is treated as normal (see the proto)."""
    return enum_cli_name(d_pb.Priority, PRIORITY_PREFIX, value or d_pb.PRIORITY_NORMAL)


def kind_label(value: d_pb.EventKind.ValueType) -> str:
    return enum_label(d_pb.EventKind, KIND_PREFIX, value)


# --- request building ---------------------------------------------------------------------------


def document_from_path(path: Path) -> d_pb.Document:
    """The evidence of a local file: name, media type, size and SHA-256 of its content."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    mimetypes.add_type("application/ofd", ".ofd")  # China's e-document format; not in the table
    media_type, _encoding = mimetypes.guess_type(path.name)
    return d_pb.Document(
        name=path.name,
        media_type=media_type or OCTET_STREAM,
        size_bytes=size,
        sha256=digest.hexdigest(),
    )


def documents_from_paths(paths: Sequence[Path] | None) -> list[d_pb.Document]:
    return [document_from_path(path) for path in paths or ()]


def _pieces(path: Path, evidence: d_pb.Document) -> Iterator[node_pb.UploadDocumentRequest]:
    with path.open("rb") as file:
        first = True
        while data := file.read(1 << 20):
            yield node_pb.UploadDocumentRequest(
                sha256=evidence.sha256 if first else "",
                size_bytes=evidence.size_bytes if first else 0,
                data=data,
            )
            first = False


def upload_documents(
    stub: node_grpc.CourtNodeServiceStub, call: NodeCall, paths: Sequence[Path] | None
) -> None:
    """Send each file's content to the node (UploadDocument) before the step that attaches it;
    the node checks the declared SHA-256 and size, and the other party checks them again."""
    for path in paths or ():
        evidence = document_from_path(path)
        stub.UploadDocument(_pieces(path, evidence), timeout=max(call.timeout, 60.0))


def build_target(to_court: str | None, to_city: str | None, district: str | None) -> d_pb.Target:
    """A court, or a city plus district for the coordinator to resolve; never both."""
    if to_court and (to_city or district):
        raise typer.BadParameter(
            "give either --to-court, or --to-city (with --district), not both",
            param_hint="'--to-court'",
        )
    if district and not to_city:
        raise typer.BadParameter("--district needs --to-city", param_hint="'--district'")
    return d_pb.Target(court_id=to_court or "", city=to_city or "", district=district or "")


def build_party(
    person: str | None,
    resident_id: str | None,
    org: str | None,
    credit_code: str | None,
    phone: str | None,
) -> d_pb.Party | None:
    """The debtor: a person or an organisation, never both. None when nothing was given."""
    if person is not None and org is not None:
        raise typer.BadParameter("the debtor is --person or --org, not both", param_hint="'--org'")
    if resident_id is not None and person is None:
        raise typer.BadParameter("--resident-id needs --person", param_hint="'--resident-id'")
    if credit_code is not None and org is None:
        raise typer.BadParameter("--credit-code needs --org", param_hint="'--credit-code'")
    if person is not None:
        return d_pb.Party(
            person=d_pb.Person(name=person, resident_id=resident_id or ""), phone=phone or ""
        )
    if org is not None:
        return d_pb.Party(
            organisation=d_pb.Organisation(name=org, social_credit_code=credit_code or ""),
            phone=phone or "",
        )
    if phone:
        return d_pb.Party(phone=phone)
    return None


def new_request_id() -> str:
    return uuid.uuid4().hex


# --- readable output -----------------------------------------------------------------------------


def local_time(ts: Timestamp) -> str:
    """A timestamp in Asia/Shanghai local time; ``-`` when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return "-"
    return ts.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).strftime(TIME_FORMAT)


def masked_debtor(party: d_pb.Party) -> str:
    """The debtor with names, identifiers and phone masked; the full values stay on the node."""
    which = party.WhichOneof("kind")
    if which == "person":
        text = f"person {mask_name(party.person.name)}"
        if party.person.resident_id:
            text += f", resident ID {mask_resident_id(party.person.resident_id)}"
    elif which == "organisation":
        text = f"organisation {mask_name(party.organisation.name)}"
        if party.organisation.social_credit_code:
            text += f", credit code {mask_resident_id(party.organisation.social_credit_code)}"
    else:
        text = "-"
    if party.phone:
        text += f", phone {mask_phone(party.phone)}"
    return text


def _courts(d: d_pb.Delegation) -> str:
    if d.entrusted_court:
        return f"{d.requesting_court} -> {d.entrusted_court}"
    t = d.target
    where = t.court_id or "/".join(part for part in (t.city, t.district) if part) or "?"
    return f"{d.requesting_court} -> {where} (not routed yet)"


def _event_text(event: d_pb.DelegationEvent) -> str:
    parts: list[str] = []
    if event.court_id:
        parts.append(f"-> {event.court_id}")
    if event.return_reason:
        parts.append(f"reason {reason_name(event.return_reason)}")
    if event.result:
        parts.append(f"result {result_name(event.result)}")
    if event.text:
        parts.append(event.text)
    if event.documents:
        parts.append(f"(+{len(event.documents)} documents)")
    return "; ".join(parts)


def _size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size_bytes} B"


def render_delegation(console: Console, d: d_pb.Delegation) -> None:
    """The `show` view: header, masked debtor, district, documents, open requests, history."""
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()

    def row(key: str, value: str) -> None:
        header.add_row(key, Text(value))

    status = status_label(d.status)
    if d.result:
        status += f" (result {result_name(d.result)})"
    row("delegation", d.id)
    row("case number", d.case_number)
    row("status", status)
    row("courts", _courts(d))
    row("task", enum_cli_name(d_pb.TaskType, TASK_PREFIX, d.task_type))
    row("asset", enum_cli_name(d_pb.AssetKind, ASSET_PREFIX, d.asset_kind))
    if d.plate:
        row("plate", d.plate)
    row("priority", priority_name(d.priority))
    row("seq", str(d.seq))
    row("created", local_time(d.created_at))
    row("updated", local_time(d.updated_at))
    row("debtor", masked_debtor(d.debtor))
    row("district", d.place.district or "-")
    if d.requested_actions:
        row("actions", d.requested_actions)
    for warning in d.warnings:
        row("warning", warning)
    console.print(header)

    if d.documents:
        docs = Table(title="documents", title_justify="left")
        for column in ("name", "media type", "size", "sha256"):
            docs.add_column(column, overflow="fold")
        for doc in d.documents:
            docs.add_row(
                Text(doc.name), Text(doc.media_type), _size(doc.size_bytes), Text(doc.sha256)
            )
        console.print(docs)

    open_requests = [r for r in d.requests if r.state != "applied"]
    if open_requests:
        reqs = Table(title="pending and refused requests", title_justify="left")
        for column in ("request", "kind", "state", "reason"):
            reqs.add_column(column, overflow="fold")
        for r in open_requests:
            reqs.add_row(
                Text(r.request_id),
                kind_label(r.kind),
                Text(r.state),
                Text(r.reason),
            )
        console.print(reqs)

    if d.sla:
        render_sla(console, d.sla)

    if d.history:
        history = Table(title="history (Asia/Shanghai)", title_justify="left")
        history.add_column("seq", justify="right")
        history.add_column("time", no_wrap=True)
        history.add_column("kind")
        history.add_column("side")
        history.add_column("court")
        history.add_column("text", overflow="fold")
        for event in d.history:
            history.add_row(
                str(event.seq),
                local_time(event.at),
                kind_label(event.kind),
                enum_cli_name(d_pb.Side, SIDE_PREFIX, event.side),
                Text(event.actor_court or "-"),
                Text(_event_text(event)),
            )
        console.print(history)


def render_sla(console: Console, goals: Sequence[d_pb.SlaGoal]) -> None:
    """The time limits: goal, limit, state, due (local), what is left, action at breach."""
    table = Table(title="time limits (official working-day calendar)", title_justify="left")
    for column in ("goal", "limit", "state", "due (Asia/Shanghai)", "left", "at breach"):
        table.add_column(column)
    for g in goals:
        state = d_pb.SlaState.Name(g.state).removeprefix("SLA_STATE_").lower()
        due = local_time(g.due_at)
        if g.original_due_at.seconds and g.original_due_at != g.due_at:
            due += f" (was {local_time(g.original_due_at)})"
        table.add_row(
            f"{g.goal} #{g.instance}" if g.instance > 1 else g.goal,
            g.period,
            state,
            due,
            Text(g.remaining or ("met " + local_time(g.met_at) if g.met_at.seconds else "-")),
            g.on_breach,
        )
    console.print(table)


LIST_COLUMNS = ("id", "case", "status", "courts", "task", "priority", "seq", "updated")


def render_list(console: Console, response: node_pb.ListDelegationsResponse) -> None:
    if not response.delegations:
        console.print("no delegations")
    else:
        table = Table()
        for column in LIST_COLUMNS:
            table.add_column(column, overflow="fold")
        for d in response.delegations:
            table.add_row(
                Text(d.id),
                Text(d.case_number),
                status_label(d.status),
                Text(_courts(d)),
                enum_cli_name(d_pb.TaskType, TASK_PREFIX, d.task_type),
                priority_name(d.priority),
                str(d.seq),
                local_time(d.updated_at),
            )
        console.print(table)
    if response.next_page_token:
        console.print(Text(f"more: --page-token {response.next_page_token}"))


def summary_line(verb: str, d: d_pb.Delegation, request_id: str = "") -> str:
    """``acknowledged 6f1c... (status ACKNOWLEDGED, seq 4)``, plus the request and its state."""
    line = f"{verb} {d.id} (status {status_label(d.status)}, seq {d.seq})"
    if request_id:
        request = next((r for r in d.requests if r.request_id == request_id), None)
        line += f" request {request_id}"
        if request is not None and request.state:
            line += f" {request.state}"
            if request.reason:
                line += f": {request.reason}"
    return line


def watch_line(change: node_pb.WatchDelegationsResponse) -> str:
    """One change as one line (newlines in texts folded to spaces)."""
    d = change.delegation
    if change.HasField("event"):
        e = change.event
        side = enum_cli_name(d_pb.Side, SIDE_PREFIX, e.side)
        actor = f"{e.actor_court} ({side})" if e.actor_court else side
        line = (
            f"{local_time(e.at)}  {d.id}  #{e.seq} {kind_label(e.kind)}"
            f" by {actor} -> {status_label(d.status)}"
        )
        detail = _event_text(e)
    else:
        # A change without an event concerns a request: just sent (pending) or refused.
        pending = [r for r in d.requests if r.state == "pending"]
        refused = [r for r in d.requests if r.state == "refused"]
        what = "request refused" if refused and not pending else "request sent"
        line = f"{local_time(d.updated_at)}  {d.id}  {what} -> {status_label(d.status)}"
        detail = ""
        if pending:
            last = pending[-1]
            detail = f"{kind_label(last.kind)} {last.request_id} pending"
        if refused:
            last = refused[-1]
            detail += ("; " if detail else "") + (
                f"{kind_label(last.kind)} {last.request_id} refused: {last.reason}"
            )
    if detail:
        line += "  " + detail
    return " ".join(line.splitlines())


# --- talking to the node ------------------------------------------------------------------------


def usage_error(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_ERROR)


def client_tls(identity: Identity) -> TlsFiles:
    """The certificate a CLI call presents: JD_TLS_CA/JD_TLS_CERT/JD_TLS_KEY when set (a
    certificate from the courts' CA; it must name ``identity``), else ``identity``'s certificate
    in the development CA folder JD_TLS_DIR (default: <JD_DATA_DIR>/pki, i.e. var/pki)."""
    try:
        files = Settings.from_env().tls_for(identity)
        held = identity_of(files.cert.read_bytes())
    except (OSError, ValueError) as exc:
        usage_error(f"no client certificate: {exc}")
    if held != identity:
        usage_error(f"the certificate {files.cert} is {held.label}, not {identity.label}")
    return files


def parse_identity(value: str) -> Identity:
    """``operator:qingdao``, ``operator:region``, ``auditor:region``, ``officer:370202`` ..."""
    try:
        return Identity.parse(f"urn:jiaodong:{value.strip()}")
    except ValueError as exc:
        usage_error(f"--as: {exc}")


def open_channel(address: str, tls: TlsFiles) -> grpc.Channel:
    """The one place a channel is made: mutual TLS with the caller's certificate."""
    return sync_channel(address, tls)


@dataclass(frozen=True)
class NodeCall:
    """Where to call and as whom, as the common options give it."""

    node: str
    court: str
    json: bool
    timeout: float
    tls: TlsFiles


def exit_code_for(code: grpc.StatusCode) -> int:
    if code in REFUSED_CODES:
        return EXIT_REFUSED
    if code in UNREACHABLE_CODES:
        return EXIT_UNREACHABLE
    return EXIT_ERROR


def violation_lines(status: status_pb2.Status) -> list[str]:
    """One ``  - field: description`` line per field violation in a rich status."""
    lines: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines.extend(f"  - {v.field}: {v.description}" for v in bad.field_violations)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            lines.extend(f"  - {v.subject or v.type}: {v.description}" for v in failure.violations)
    return lines


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(err)
    except (ValueError, AttributeError):  # inconsistent trailers, or not a call
        return None
    return status


def _fail(message: str, code: int, node: str, service: str = "node") -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    if code == EXIT_UNREACHABLE:
        option = "--node / JD_NODE" if service == "node" else "--coordinator / JD_COORDINATOR"
        print(
            f"hint: is the {service} at {node} running? Start the local layout with "
            f"`jiaodong up`, or point {option} at a running {service}.",
            file=sys.stderr,
        )
    raise typer.Exit(code)


def report_rpc_error(err: grpc.RpcError, node: str, service: str = "node") -> NoReturn:
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = err.details() if callable(getattr(err, "details", None)) else None
    status = _rich_status(err)
    lines = violation_lines(status) if status is not None else []
    message = f"{code.name}: {details or '(no details)'}"
    if lines:
        message += "\n" + "\n".join(lines)
    _fail(message, exit_code_for(code), node, service)


@contextmanager
def court_node(
    call: NodeCall, *, wait_ready: bool = False
) -> Iterator[node_grpc.CourtNodeServiceStub]:
    """A stub on a fresh channel; gRPC errors become a message on stderr and an exit code.

    ``wait_ready`` first waits up to the timeout for the connection (streams carry no deadline).
    """
    try:
        with open_channel(call.node, call.tls) as channel:
            if wait_ready:
                try:
                    grpc.channel_ready_future(channel).result(timeout=call.timeout)
                except grpc.FutureTimeoutError:
                    _fail(
                        f"UNAVAILABLE: no connection to {call.node} within {call.timeout:g} s",
                        EXIT_UNREACHABLE,
                        call.node,
                    )
            yield node_grpc.CourtNodeServiceStub(channel)
    except grpc.RpcError as err:
        report_rpc_error(err, call.node)


def print_json(message: Message, *, compact: bool = False) -> None:
    text = json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        indent=None if compact else 2,
        ensure_ascii=False,
    )
    print(text, flush=True)


def _console() -> Console:
    return Console(highlight=False)


def _warn(d: d_pb.Delegation) -> None:
    for warning in d.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _report(
    call: NodeCall, verb: str, response: Message, d: d_pb.Delegation, request_id: str = ""
) -> None:
    if call.json:
        print_json(response)
    else:
        print(summary_line(verb, d, request_id))


# --- common options -----------------------------------------------------------------------------

NodeOption = Annotated[
    str,
    typer.Option(
        "--node", envvar="JD_NODE", metavar="ADDRESS", help="Court node gRPC address (host:port)."
    ),
]
CourtOption = Annotated[
    str,
    typer.Option(
        "--as-court",
        envvar="JD_COURT",
        metavar="ID",
        help="Act as this court (6-digit court id): the CLI presents that court's certificate.",
    ),
]
RoleOption = Annotated[
    str,
    typer.Option(
        "--role", envvar="JD_ROLE", help="officer (执行员) or clerk (书记员): whose certificate."
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the response as JSON; stdout carries only JSON.")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the node.")
]
IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Delegation id.")]
DocumentsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--document",
        metavar="PATH",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Attach a file: its content is uploaded to the node, then it travels; repeatable.",
    ),
]
RequestIdOption = Annotated[
    str | None,
    typer.Option(
        "--request-id",
        metavar="KEY",
        help="Idempotency key; reuse it to retry safely (default: a fresh random one).",
    ),
]


def _call(node: str, as_court: str, role: str, json_out: bool, timeout: float) -> NodeCall:
    try:
        identity = Identity(Role(role), as_court.strip())
    except ValueError as exc:
        usage_error(f"--as-court/--role: {exc}")
    if identity.role not in COURT_ROLES:
        usage_error("--role must be officer or clerk")
    tls = client_tls(identity)
    return NodeCall(node=node, court=as_court.strip(), json=json_out, timeout=timeout, tls=tls)


# --- commands ------------------------------------------------------------------------------------


@app.command()
def create(
    as_court: CourtOption,
    request_id: RequestIdOption = None,
    case_number: Annotated[
        str, typer.Option("--case-number", help="Case number (案号), e.g. (2024)鲁0202执123号.")
    ] = "",
    to_court: Annotated[
        str | None, typer.Option("--to-court", metavar="ID", help="Entrusted court id.")
    ] = None,
    to_city: Annotated[
        str | None,
        typer.Option("--to-city", metavar="CITY", help="Target city (qingdao, yantai, ...)."),
    ] = None,
    district: Annotated[
        str | None,
        typer.Option("--district", help="District in --to-city (empty: intermediate court)."),
    ] = None,
    task: Annotated[
        TaskChoice | None, typer.Option("--task", case_sensitive=False, help="What to do.")
    ] = None,
    asset: Annotated[
        AssetChoice | None, typer.Option("--asset", case_sensitive=False, help="Asset kind.")
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", metavar="NAME", help="Debtor: a person's name.")
    ] = None,
    resident_id: Annotated[
        str | None, typer.Option("--resident-id", metavar="ID", help="The person's resident ID.")
    ] = None,
    org: Annotated[
        str | None, typer.Option("--org", metavar="NAME", help="Debtor: an organisation.")
    ] = None,
    credit_code: Annotated[
        str | None,
        typer.Option("--credit-code", metavar="CODE", help="Unified social credit code."),
    ] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="Debtor's telephone.")] = None,
    address: Annotated[str, typer.Option("--address", help="Street address of the work.")] = "",
    place_district: Annotated[
        str, typer.Option("--place-district", help="District or county of the work.")
    ] = "",
    actions: Annotated[
        str, typer.Option("--actions", metavar="TEXT", help="What is asked, in words.")
    ] = "",
    plate: Annotated[str, typer.Option("--plate", help="Vehicle plate (vehicle tasks).")] = "",
    urgent: Annotated[bool, typer.Option("--urgent", help="Urgent: shorter time limits.")] = False,
    document: DocumentsOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Send a new delegation (the same --request-id again returns the same one)."""
    call = _call(node, as_court, role, json_out, timeout)
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
    _report(call, verb, response, response.delegation, request.request_id)
    if not call.json:
        _warn(response.delegation)


@app.command()
def show(
    delegation_id: IdArgument,
    as_court: CourtOption,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Show one delegation with its documents, open requests and history."""
    call = _call(node, as_court, role, json_out, timeout)
    with court_node(call) as stub:
        response = stub.GetDelegation(
            node_pb.GetDelegationRequest(id=delegation_id),
            timeout=call.timeout,
        )
    if call.json:
        print_json(response)
    else:
        render_delegation(_console(), response.delegation)


@app.command("document")
def document_(
    delegation_id: IdArgument,
    sha256: Annotated[str, typer.Argument(metavar="SHA256", help="The document's SHA-256.")],
    out: Annotated[Path, typer.Option("--out", metavar="PATH", help="Where to save it.")],
    as_court: CourtOption,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    timeout: TimeoutOption = 60.0,
) -> None:
    """Save the content of one of a delegation's documents, checked against its SHA-256."""
    call = _call(node, as_court, role, False, timeout)
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
def list_(
    as_court: CourtOption,
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
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """List delegations this court sent or received, newest first."""
    call = _call(node, as_court, role, json_out, timeout)
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
        render_list(_console(), response)


@app.command()
def acknowledge(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="Optional note.")] = "",
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Entrusted court: confirm receipt (签收)."""
    call = _call(node, as_court, role, json_out, timeout)
    with court_node(call) as stub:
        response = stub.Acknowledge(
            node_pb.AcknowledgeRequest(id=delegation_id, text=text),
            timeout=call.timeout,
        )
    _report(call, "acknowledged", response, response.delegation)


@app.command()
def accept(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="Optional note.")] = "",
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Entrusted court: start handling."""
    call = _call(node, as_court, role, json_out, timeout)
    with court_node(call) as stub:
        response = stub.Accept(
            node_pb.AcceptRequest(id=delegation_id, text=text),
            timeout=call.timeout,
        )
    _report(call, "accepted", response, response.delegation)


@app.command("return")
def return_(
    delegation_id: IdArgument,
    as_court: CourtOption,
    reason: Annotated[
        ReasonChoice, typer.Option("--reason", case_sensitive=False, help="Why it goes back.")
    ],
    text: Annotated[str, typer.Option("--text", help="Explanation.")],
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Entrusted court: send back with a reason (退回)."""
    call = _call(node, as_court, role, json_out, timeout)
    with court_node(call) as stub:
        response = stub.Return(
            node_pb.ReturnRequest(id=delegation_id, reason=return_reason(reason), text=text),
            timeout=call.timeout,
        )
    _report(call, "returned", response, response.delegation)


@app.command()
def supplement(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="What was added.")],
    document: DocumentsOption = None,
    request_id: RequestIdOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Requesting court: add missing materials (补正)."""
    call = _call(node, as_court, role, json_out, timeout)
    request = node_pb.SupplementRequest(
        id=delegation_id,
        request_id=request_id or new_request_id(),
        text=text,
        documents=documents_from_paths(document),
    )
    with court_node(call) as stub:
        upload_documents(stub, call, document)
        response = stub.Supplement(request, timeout=call.timeout)
    _report(call, "supplemented", response, response.delegation, request.request_id)


@app.command()
def progress(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="The progress report.")],
    document: DocumentsOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Entrusted court: report progress while handling."""
    call = _call(node, as_court, role, json_out, timeout)
    request = node_pb.ReportProgressRequest(
        id=delegation_id, text=text, documents=documents_from_paths(document)
    )
    with court_node(call) as stub:
        upload_documents(stub, call, document)
        response = stub.ReportProgress(request, timeout=call.timeout)
    _report(call, "progress reported on", response, response.delegation)


@app.command()
def complete(
    delegation_id: IdArgument,
    as_court: CourtOption,
    result: Annotated[
        ResultChoice, typer.Option("--result", case_sensitive=False, help="The outcome.")
    ],
    text: Annotated[str, typer.Option("--text", help="What was done.")],
    document: DocumentsOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Entrusted court: report the result (办结) with receipts."""
    call = _call(node, as_court, role, json_out, timeout)
    request = node_pb.CompleteRequest(
        id=delegation_id,
        result=completion_result(result),
        text=text,
        documents=documents_from_paths(document),
    )
    with court_node(call) as stub:
        upload_documents(stub, call, document)
        response = stub.Complete(request, timeout=call.timeout)
    _report(call, "completed", response, response.delegation)


def _requester_action(
    call: NodeCall,
    rpc: str,
    request_type: Any,
    verb: str,
    delegation_id: str,
    request_id: str | None,
    text: str,
) -> None:
    """Confirm, cancel or urge: a requesting court's request with an idempotency key."""
    request = request_type(id=delegation_id, request_id=request_id or new_request_id(), text=text)
    with court_node(call) as stub:
        response = getattr(stub, rpc)(request, timeout=call.timeout)
    _report(call, verb, response, response.delegation, request.request_id)


@app.command()
def confirm(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="Optional note.")] = "",
    request_id: RequestIdOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Requesting court: accept the result and close."""
    call = _call(node, as_court, role, json_out, timeout)
    _requester_action(
        call, "Confirm", node_pb.ConfirmRequest, "confirmed", delegation_id, request_id, text
    )


@app.command()
def cancel(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="Why it is withdrawn.")],
    request_id: RequestIdOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Requesting court: withdraw before completion (撤回)."""
    call = _call(node, as_court, role, json_out, timeout)
    _requester_action(
        call, "Cancel", node_pb.CancelRequest, "cancelled", delegation_id, request_id, text
    )


@app.command()
def urge(
    delegation_id: IdArgument,
    as_court: CourtOption,
    text: Annotated[str, typer.Option("--text", help="Optional message.")] = "",
    request_id: RequestIdOption = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Requesting court: remind the entrusted court (催办)."""
    call = _call(node, as_court, role, json_out, timeout)
    _requester_action(call, "Urge", node_pb.UrgeRequest, "urged", delegation_id, request_id, text)


@app.command()
def watch(
    as_court: CourtOption,
    delegation_id: Annotated[
        str | None, typer.Argument(metavar="ID", help="Only this delegation (default: all).")
    ] = None,
    node: NodeOption = DEFAULT_NODE,
    role: RoleOption = "officer",
    json_out: JsonOption = False,
    timeout: TimeoutOption = 10.0,
) -> None:
    """Print one line per change until Ctrl-C (--json: one compact JSON object per line)."""
    call = _call(node, as_court, role, json_out, timeout)
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
