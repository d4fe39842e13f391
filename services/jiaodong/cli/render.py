"""What the commands print: tables and lines for people, JSON for programs.

Text that comes from a server is printed as it is, never read as rich markup. Personal data of a
debtor (names, identifiers, phone) is masked here; the full values stay on the node.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jiaodong.cli.names import (
    asset_name,
    kind_label,
    priority_name,
    reason_name,
    result_name,
    side_name,
    sla_state_name,
    status_label,
    task_name,
)
from jiaodong.domain.identifiers import mask_name, mask_phone, mask_resident_id
from jiaodong.v1 import audit_service_pb2 as audit_api
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import delegation_pb2 as d_pb

if TYPE_CHECKING:
    from jiaodong.domain.registry import Court

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
LIST_COLUMNS = ("id", "case", "status", "courts", "task", "priority", "seq", "updated")


def console(width: int | None = None) -> Console:
    """A console that prints server text without colouring numbers and words in it."""
    return Console(highlight=False, width=width)


def piped_width() -> int | None:
    """Tables need room; a pipe or a file gets 120 columns rather than rich's default 80."""
    return None if sys.stdout.isatty() else 120


def print_json(message: Message, *, compact: bool = False) -> None:
    text = json_format.MessageToJson(
        message,
        preserving_proto_field_name=True,
        indent=None if compact else 2,
        ensure_ascii=False,
    )
    print(text, flush=True)


def local_time(ts: Timestamp) -> str:
    """A timestamp in Asia/Shanghai local time; ``-`` when unset."""
    if ts.seconds == 0 and ts.nanos == 0:
        return "-"
    return ts.ToDatetime(tzinfo=UTC).astimezone(SHANGHAI).strftime(TIME_FORMAT)


# --- one delegation ------------------------------------------------------------------------------


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


def _table(columns: Iterable[str], title: str | None = None) -> Table:
    """Columns that fold long values (ids, hashes) rather than cut them."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


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
    row("task", task_name(d.task_type))
    row("asset", asset_name(d.asset_kind))
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
        docs = _table(("name", "media type", "size", "sha256"), "documents")
        for doc in d.documents:
            docs.add_row(
                Text(doc.name), Text(doc.media_type), _size(doc.size_bytes), Text(doc.sha256)
            )
        console.print(docs)

    open_requests = [r for r in d.requests if r.state != "applied"]
    if open_requests:
        reqs = _table(("request", "kind", "state", "reason"), "pending and refused requests")
        for r in open_requests:
            reqs.add_row(Text(r.request_id), kind_label(r.kind), Text(r.state), Text(r.reason))
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
                side_name(event.side),
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
        due = local_time(g.due_at)
        if g.original_due_at.seconds and g.original_due_at != g.due_at:
            due += f" (was {local_time(g.original_due_at)})"
        table.add_row(
            f"{g.goal} #{g.instance}" if g.instance > 1 else g.goal,
            g.period,
            sla_state_name(g.state),
            due,
            Text(g.remaining or ("met " + local_time(g.met_at) if g.met_at.seconds else "-")),
            g.on_breach,
        )
    console.print(table)


# --- lists and lines -----------------------------------------------------------------------------


def render_list(console: Console, response: node_pb.ListDelegationsResponse) -> None:
    if not response.delegations:
        console.print("no delegations")
    else:
        table = _table(LIST_COLUMNS)
        for d in response.delegations:
            table.add_row(
                Text(d.id),
                Text(d.case_number),
                status_label(d.status),
                Text(_courts(d)),
                task_name(d.task_type),
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
        side = side_name(e.side)
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


def warn(d: d_pb.Delegation) -> None:
    """The node's warnings about a delegation, on stderr (with --json they are in the JSON)."""
    for warning in d.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def report(
    as_json: bool, verb: str, response: Message, d: d_pb.Delegation, request_id: str = ""
) -> None:
    """The outcome of a step: the response as JSON, or its summary line."""
    if as_json:
        print_json(response)
    else:
        print(summary_line(verb, d, request_id))


# --- the other groups ----------------------------------------------------------------------------


def render_moved(console: Console, reply: capi.RecomputeSlaResponse, dry_run: bool) -> None:
    """`sla recompute`: how many clocks are open, which moved, and the calendar's gaps."""
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


def render_reads(console: Console, reads: Sequence[audit_api.DataRead]) -> None:
    """`audit reads`: one row per recorded read of personal data."""
    table = Table(title=f"{len(reads)} recorded reads of personal data")
    for column in ("when", "reader", "delegation", "rpc", "recorded by"):
        table.add_column(column)
    for read in reads:
        table.add_row(local_time(read.at), read.reader, read.delegation_id, read.rpc, read.service)
    console.print(table)


def render_rows(console: Console, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A plain table of text rows (`certs list`)."""
    table = Table()
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def render_courts(console: Console, courts: Sequence[Court]) -> None:
    """`courts`: the registry, Chinese and English names together, districts joined by 、."""
    table = Table(title=f"{len(courts)} courts")
    for column in ("id", "code", "name", "city", "level", "node", "districts"):
        table.add_column(column)
    for c in courts:
        table.add_row(
            c.court_id,
            c.case_code,
            f"{c.name_zh}\n{c.name_en}",
            c.city,
            c.level,
            c.node,
            "、".join(c.districts),
        )
    console.print(table)


def courts_json(courts: Sequence[Court]) -> str:
    """`courts --json`: the registry as a JSON array, Chinese as it is."""
    out = [
        {
            "court_id": c.court_id,
            "case_code": c.case_code,
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "city": c.city,
            "level": c.level,
            "node": c.node,
            "districts": list(c.districts),
        }
        for c in courts
    ]
    return json.dumps(out, ensure_ascii=False, indent=2)


def render_layout(console: Console, nats_url: str, services: Iterable[tuple[str, str]]) -> None:
    """`up`: where NATS and each service listen."""
    table = Table(title="Jiaodong layout")
    table.add_column("service")
    table.add_column("address")
    table.add_row("nats", nats_url)
    for name, address in services:
        table.add_row(name, address)
    console.print(table)
