"""What the commands print: tables and lines for people, JSON for programs.

Text that comes from a server is printed as it is, never read as rich markup. Personal data of a
debtor (names, identifiers, phone) is masked here; the full values stay on the node.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table
from rich.text import Text

from jiaodong.cli import lang
from jiaodong.cli.lang import city_name, court_label, court_name, t, zh
from jiaodong.cli.names import (
    asset_text,
    breach_action_text,
    event_text,
    goal_text,
    parked_action_text,
    priority_text,
    reason_text,
    request_state_text,
    result_text,
    side_text,
    sla_level_text,
    sla_state_text,
    status_text,
    task_text,
)
from jiaodong.domain import labels
from jiaodong.domain.identifiers import mask_name, mask_phone, mask_resident_id
from jiaodong.v1 import audit_service_pb2 as audit_api
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import delegation_pb2 as d_pb

if TYPE_CHECKING:
    from jiaodong.domain.registry import Court

SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def console(width: int | None = None) -> Console:
    """A console that prints server text without colouring numbers and words in it."""
    return Console(highlight=False, width=width)


def piped_width() -> int | None:
    """Tables need room; a pipe or a file gets 120 columns rather than rich's default 80,
    unless COLUMNS says how wide the reader's screen is."""
    return None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120


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


def courts_text(d: d_pb.Delegation) -> str:
    """Requesting court -> entrusted court, by name and id (the target before routing)."""
    if d.entrusted_court:
        return f"{court_label(d.requesting_court)} -> {court_label(d.entrusted_court)}"
    t_ = d.target
    if t_.court_id:
        where = court_label(t_.court_id)
    else:
        where = "/".join(part for part in (t_.city, t_.district) if part) or "?"
    return f"{court_label(d.requesting_court)} -> {where} " + t("（尚未分派）", "(not routed yet)")


def window_text(w: d_pb.TimeWindow) -> str:
    """``2026-12-14 09:00-12:00``; ``-`` when unset."""
    if not (w.day or w.start or w.end):
        return "-"
    return f"{w.day} {w.start}-{w.end}".strip()


def _support_word(name: str) -> str:
    return labels.label(labels.SUPPORT, name, lang.current())


def detail_text(detail: str) -> str:
    """What an assistance step carries beyond its text (canonical JSON), in words."""
    try:
        body: dict[str, Any] = json.loads(detail)
    except ValueError:
        return detail
    if isinstance(body.get("plan"), dict):
        raw = body["plan"]
        w = d_pb.TimeWindow(**{k: str(v) for k, v in raw.get("window", {}).items()})
        items = "、".join(
            f"{_support_word(k)} {labels.label(labels.SUPPORT_STATE, st, lang.current())}"
            for k, st in raw.get("support", [])
        )
        text = t(
            f"方案 {window_text(w)}，联络人 {raw.get('liaison', '')}，"
            f"协助人员 {raw.get('assisting_staff', 0)} 名",
            f"plan {window_text(w)}, liaison {raw.get('liaison', '')}, "
            f"{raw.get('assisting_staff', 0)} staff",
        )
        if items:
            text += t(f"；保障：{items}", f"; support: {items}")
        if raw.get("note"):
            text += t(f"；备注：{raw['note']}", f"; note: {raw['note']}")
        return text
    if "support" in body:
        return t("保障事项 ", "support ") + _support_word(str(body["support"]))
    if "plan_seq" in body:
        return t(f"确认第 {body['plan_seq']} 号方案", f"plan #{body['plan_seq']} accepted")
    if isinstance(body.get("window"), dict):
        w = d_pb.TimeWindow(**{k: str(v) for k, v in body["window"].items()})
        return t(f"改期至 {window_text(w)}", f"move to {window_text(w)}")
    return detail


def _event_text(event: d_pb.DelegationEvent) -> str:
    parts: list[str] = []
    if event.court_id:
        parts.append(f"-> {court_label(event.court_id)}")
    if event.detail:  # an on-site assistance step's payload
        parts.append(detail_text(event.detail))
    if event.return_reason:
        parts.append(t("理由 ", "reason ") + reason_text(event.return_reason))
    if event.result:
        parts.append(t("结果 ", "result ") + result_text(event.result))
    if event.text:
        parts.append(event.text)
    if event.documents:
        parts.append(
            t(f"（附 {len(event.documents)} 份文书）", f"(+{len(event.documents)} documents)")
        )
    for c in event.controls:
        term = f"{c.reference} {c.starts_on} – {c.ends_on}"
        parts.append(t(f"查封/冻结 {asset_text(c.asset_kind)} {term}", f"control {term}"))
    return "; ".join(parts)


def _size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size_bytes} B"


ID_WIDTH = 32


def add_id_column(table: Table, header: str, width: int = ID_WIDTH) -> None:
    """A column for ids (delegation ids, SHA-256s, request ids): never wrapped, never cut, so an
    id can be copied whole from the screen; the other columns give way."""
    table.add_column(header, no_wrap=True, overflow="ignore", min_width=width)


def render_delegation(console: Console, d: d_pb.Delegation) -> None:
    """The `show` view: header, masked debtor, district, documents, open requests, history."""
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold", no_wrap=True)
    header.add_column(overflow="fold")

    def row(key: str, value: str) -> None:
        header.add_row(key, Text(value))

    status = status_text(d.status)
    if d.result:
        status += t(f"（结果：{result_text(d.result)}）", f" (result {result_text(d.result)})")
    header.add_row(t("委托编号", "delegation"), Text(d.id, no_wrap=True, overflow="ignore"))
    row(t("案号", "case number"), d.case_number)
    row(t("状态", "status"), status)
    row(t("法院", "courts"), courts_text(d))
    row(t("事项", "task"), task_text(d.task_type))
    row(t("财产", "asset"), asset_text(d.asset_kind))
    if d.plate:
        row(t("车牌", "plate"), d.plate)
    row(t("缓急", "priority"), priority_text(d.priority))
    row(t("序号", "seq"), str(d.seq))
    row(t("发起时间", "created"), local_time(d.created_at))
    row(t("更新时间", "updated"), local_time(d.updated_at))
    row(t("被执行人", "debtor"), masked_debtor(d.debtor))
    row(t("区县", "district"), d.place.district or "-")
    if d.requested_actions:
        row(t("委托内容", "actions"), d.requested_actions)
    for warning in d.warnings:
        row(t("提示", "warning"), warning)
    console.print(header)

    render_records(console, d)


def render_records(console: Console, d: d_pb.Delegation) -> None:
    """What a delegation's or an assistance request's `show` ends with: documents, open
    requests, time limits, history."""
    if d.documents:
        docs = Table(title=t("文书", "documents"), title_justify="left")
        for column in (t("名称", "name"), t("类型", "media type"), t("大小", "size")):
            docs.add_column(column, overflow="fold")
        add_id_column(docs, "sha256", 64)
        for doc in d.documents:
            docs.add_row(
                Text(doc.name), Text(doc.media_type), _size(doc.size_bytes), Text(doc.sha256)
            )
        console.print(docs)

    open_requests = [r for r in d.requests if r.state != "applied"]
    if open_requests:
        reqs = Table(title=t("待处理和被拒绝的请求", "pending and refused requests"))
        reqs.title_justify = "left"
        add_id_column(reqs, t("请求编号", "request"), 0)
        for column in (t("类别", "kind"), t("状态", "state"), t("理由", "reason")):
            reqs.add_column(column, overflow="fold")
        for r in open_requests:
            reqs.add_row(
                Text(r.request_id),
                event_text(r.kind),
                Text(request_state_text(r.state)),
                Text(r.reason),
            )
        console.print(reqs)

    if d.sla:
        render_sla(console, d.sla)

    if d.history:
        history = Table(title=t("办理记录（北京时间）", "history (Asia/Shanghai)"))
        history.title_justify = "left"
        history.add_column(t("序号", "seq"), justify="right")
        history.add_column(t("时间", "time"), no_wrap=True)
        history.add_column(t("事件", "kind"))
        history.add_column(t("一方", "side"))
        history.add_column(t("法院", "court"), overflow="fold")
        history.add_column(t("说明", "text"), overflow="fold")
        for event in d.history:
            history.add_row(
                str(event.seq),
                local_time(event.at),
                event_text(event.kind),
                side_text(event.side),
                Text(court_label(event.actor_court) if event.actor_court else "-"),
                Text(_event_text(event)),
            )
        console.print(history)


def render_sla(console: Console, goals: Sequence[d_pb.SlaGoal]) -> None:
    """The time limits: goal, limit, state, due (local), what is left, action at breach."""
    table = Table(
        title=t("办理时限（按法定工作日历）", "time limits (official working-day calendar)"),
        title_justify="left",
    )
    for column in (
        t("时限", "goal"),
        t("期限", "limit"),
        t("状态", "state"),
        t("到期（北京时间）", "due (Asia/Shanghai)"),
        t("剩余", "left"),
        t("超期后", "at breach"),
    ):
        table.add_column(column)
    for g in goals:
        due = local_time(g.due_at)
        if g.original_due_at.seconds and g.original_due_at != g.due_at:
            due += t(
                f"（原 {local_time(g.original_due_at)}）", f" (was {local_time(g.original_due_at)})"
            )
        name = goal_text(g.goal)
        met = t("完成于 ", "met ") + local_time(g.met_at) if g.met_at.seconds else "-"
        state = sla_state_text(g.state)
        if g.pause_reason:
            state += t(f"（{g.pause_reason}）", f" ({g.pause_reason})")
        table.add_row(
            f"{name} #{g.instance}" if g.instance > 1 else name,
            g.period,
            Text(state),
            due,
            Text(g.remaining or met),
            breach_action_text(g.on_breach),
        )
    console.print(table)


# --- lists and lines -----------------------------------------------------------------------------


def _court_pair(d: d_pb.Delegation) -> str:
    """``青岛市市南区人民法院 → 荣成市人民法院``: names only (ids are in `show`)."""
    if d.entrusted_court:
        to = court_name(d.entrusted_court)
    elif d.target.court_id:
        to = court_name(d.target.court_id)
    else:
        to = "/".join(p for p in (d.target.city, d.target.district) if p) or "?"
        to += t("（未分派）", " (not routed)")
    return f"{court_name(d.requesting_court)} → {to}"


def left_text(seconds_left: int, working_days_left: int) -> str:
    """``剩 2 个工作日`` / ``超期 5 小时`` (``2 working days left`` / ``5 h overdue``)."""
    if seconds_left < 0:
        hours = -seconds_left // 3600
        if hours >= 24:
            return t(f"超期 {hours // 24} 天", f"{hours // 24} d overdue")
        return t(f"超期 {hours} 小时", f"{hours} h overdue")
    if working_days_left >= 0:
        return t(f"剩 {working_days_left} 个工作日", f"{working_days_left} working days left")
    hours = seconds_left // 3600
    return t(f"剩 {hours} 小时", f"{hours} h left")


def due_line(entry: capi.QueueEntry) -> str:
    """A listed delegation's next due time: the limit, what is left, the warning level."""
    if not entry.goal:
        return ""
    line = f"{goal_text(entry.goal)} {left_text(entry.seconds_left, entry.working_days_left)}"
    if entry.level in (capi.SLA_LEVEL_HALF, capi.SLA_LEVEL_THREE_QUARTERS):
        line += f" {sla_level_text(entry.level)}"
    return line


def delegation_table(
    delegations: Iterable[d_pb.Delegation], entries: Sequence[capi.QueueEntry] = ()
) -> Table:
    """One row per delegation: the whole id with the case number under it, status (and
    urgency), courts by name, task, last change. Fits 80 columns without breaking an id."""
    table = Table(show_edge=False)
    add_id_column(table, t("委托编号 / 案号", "id / case number"))
    table.add_column(t("状态", "status"), overflow="fold")
    table.add_column(t("委托法院 → 受托法院", "requesting → entrusted"), overflow="fold")
    table.add_column(t("事项", "task"), overflow="fold")
    table.add_column(t("更新时间", "updated"), min_width=10)
    due = {e.delegation_id: e for e in entries}
    for d in delegations:
        status = status_text(d.status)
        if d.priority == d_pb.PRIORITY_URGENT:
            status += "\n" + priority_text(d.priority)
        if d.id in due and (line := due_line(due[d.id])):
            status += "\n" + line
        table.add_row(
            Text(f"{d.id}\n{d.case_number}"),
            status,
            Text(_court_pair(d)),
            task_text(d.task_type),
            local_time(d.updated_at).replace(" ", "\n", 1),
        )
    return table


def render_list(
    console: Console,
    response: node_pb.ListDelegationsResponse | capi.CoordinatorListDelegationsResponse,
) -> None:
    if not response.delegations:
        console.print(t("没有委托事项", "no delegations"))
    else:
        entries = list(getattr(response, "entries", ()))
        console.print(delegation_table(response.delegations, entries))
    if response.next_page_token:
        console.print(Text(t("下一页：", "more: ") + f"--page-token {response.next_page_token}"))


VERBS = {
    "created": "已发起",
    "already created": "此前已发起",
    "acknowledged": "已签收",
    "accepted": "已开始办理",
    "returned": "已退回",
    "supplemented": "已补正",
    "progress reported on": "已报告进展",
    "completed": "已办结",
    "confirmed": "已确认",
    "cancelled": "已撤回",
    "urged": "已催办",
    "escalated": "已督办",
    "rerouted": "已改派",
    "released": "已审核发布",
}


def summary_line(verb: str, d: d_pb.Delegation, request_id: str = "") -> str:
    """``acknowledged 6f1c... (status ACKNOWLEDGED, seq 4)``, plus the request and its state."""
    line = t(
        f"{VERBS.get(verb, verb)} {d.id}（状态 {status_text(d.status)}，序号 {d.seq}）",
        f"{verb} {d.id} (status {status_text(d.status)}, seq {d.seq})",
    )
    if request_id:
        request = next((r for r in d.requests if r.request_id == request_id), None)
        line += t(f" 请求 {request_id}", f" request {request_id}")
        if request is not None and request.state:
            line += f" {request_state_text(request.state)}"
            if request.reason:
                line += f": {request.reason}"
    return line


def watch_line(change: node_pb.WatchDelegationsResponse | capi.WatchBoardResponse) -> str:
    """One change as one line (newlines in texts folded to spaces)."""
    d = change.delegation
    if change.HasField("event"):
        e = change.event
        side = side_text(e.side)
        if e.actor_court:
            actor = t(
                f"{side} {court_label(e.actor_court)}", f"{court_label(e.actor_court)} ({side})"
            )
        else:
            actor = side
        line = f"{local_time(e.at)}  {d.id}  #{e.seq} {event_text(e.kind)}" + t(
            f" 由 {actor} -> {status_text(d.status)}", f" by {actor} -> {status_text(d.status)}"
        )
        detail = _event_text(e)
    else:
        # A change without an event concerns a request: just sent (pending) or refused.
        pending = [r for r in d.requests if r.state == "pending"]
        refused = [r for r in d.requests if r.state == "refused"]
        if refused and not pending:
            what = t("请求被拒绝", "request refused")
        else:
            what = t("请求已发出", "request sent")
        line = f"{local_time(d.updated_at)}  {d.id}  {what} -> {status_text(d.status)}"
        detail = ""
        if pending:
            last = pending[-1]
            detail = f"{event_text(last.kind)} {last.request_id} {request_state_text('pending')}"
        if refused:
            last = refused[-1]
            detail += ("; " if detail else "") + (
                f"{event_text(last.kind)} {last.request_id} "
                f"{request_state_text('refused')}: {last.reason}"
            )
    if detail:
        line += "  " + detail
    return " ".join(line.splitlines())


def warn(d: d_pb.Delegation) -> None:
    """The node's warnings about a delegation, on stderr (with --json they are in the JSON)."""
    for warning in d.warnings:
        print(t("提示：", "warning: ") + warning, file=sys.stderr)


def report(
    as_json: bool, verb: str, response: Message, d: d_pb.Delegation, request_id: str = ""
) -> None:
    """The outcome of a step: the response as JSON, or its summary line."""
    if as_json:
        print_json(response)
    else:
        print(summary_line(verb, d, request_id))


REGISTRY_STATES = {
    "pending": ("待提交", "pending"),
    "submitted": ("已提交，待答复", "submitted, waiting for the answer"),
    "held": ("待审核发布", "held for review"),
    "answered": ("已答复并记录", "answered and recorded"),
    "manual": ("已转人工办理", "handed to officers"),
    "superseded": ("承办人已先行办理", "an officer acted first"),
    "dropped": ("委托已撤回、办结或改派，未再办理", "cancelled, closed or moved: not asked"),
    "orphaned": (
        "控制已生效但委托已不在本院办理：请核实并解除",
        "a control registered after the delegation went away: check and release it",
    ),
}


def render_registry_requests(
    console: Console, reply: node_pb.ListRegistryRequestsResponse, court: str
) -> None:
    """`delegation registry`: a delegation's requests to its city's registries (网络查控)."""
    if not reply.requests:
        console.print(t("本委托没有经登记机关自动办理的事项。", "No registry requests for it."))
        return
    table = Table(title=t("网络查控", "Registry requests"))
    for zh_col, en_col in (
        ("协助执行单位", "registry"),
        ("事项", "asset"),
        ("状态", "state"),
        ("受理号", "registry no."),
        ("答复", "results"),
        ("连续失败", "failures"),
        ("审核人", "reviewed by"),
    ):
        table.add_column(t(zh_col, en_col))
    for r in reply.requests:
        zh_state, en_state = REGISTRY_STATES.get(r.state, (r.state, r.state))
        table.add_row(
            r.registry,
            asset_text(r.asset_kind)
            + (
                t("（查询）", " inquiry")
                if r.action == "INQUIRE"
                else t("（查封/冻结）", " control")
            ),
            t(zh_state, en_state),
            r.registry_no or "-",
            str(r.results),
            str(r.attempts),
            r.reviewed_by or "-",
        )
    console.print(table)
    for r in reply.requests:
        if r.letter:
            console.print(Text(r.letter))
        if r.state == "held":
            delegation_id = r.request_id.rsplit("-", 1)[0]
            command = f"jiaodong delegation release {delegation_id} --as-court {court}"
            console.print(
                t(
                    f"结果待审核：核对无误后用 `{command}` 发布。",
                    f"Held for review: release it with `{command}` once checked.",
                )
            )


# --- the other groups ----------------------------------------------------------------------------


def render_moved(console: Console, reply: capi.RecomputeSlaResponse, dry_run: bool) -> None:
    """`sla recompute`: how many clocks are open, which moved, and the calendar's gaps."""
    moved = len(reply.moved)
    console.print(
        t(
            f"{reply.open_clocks} 个未结时限；{'将变动' if dry_run else '已变动'} {moved} 个",
            f"{reply.open_clocks} open clocks; {moved} {'would move' if dry_run else 'moved'}",
        ),
        markup=False,
    )
    if reply.moved:
        table = Table()
        add_id_column(table, t("委托编号", "delegation"))
        for column in (
            t("时限", "goal"),
            t("原到期", "due before"),
            t("新到期", "due after"),
        ):
            table.add_column(column)
        for move in reply.moved:
            table.add_row(
                move.delegation_id,
                goal_text(move.goal),
                local_time(move.old_due_at),
                local_time(move.new_due_at),
            )
        console.print(table)
    for warning in reply.warnings:
        console.print(t("提示：", "warning: ") + warning, markup=False)


def render_notes(console: Console, notes: Sequence[capi.OperatorNote]) -> None:
    """`ops show`: the command centres' notes, oldest first (not part of the courts' history)."""
    if not notes:
        return
    table = Table(title=t("指挥中心备注", "command-centre notes"), title_justify="left")
    table.add_column(t("时间", "when"), no_wrap=True)
    table.add_column(t("操作员", "operator"))
    table.add_column(t("备注", "note"), overflow="fold")
    for note in notes:
        table.add_row(local_time(note.at), Text(note.operator), Text(note.text))
    console.print(table)


def parked_holder(city: str) -> str:
    """Whose parked messages: ``烟台市节点`` / ``the Yantai node``, or the coordinator's."""
    if not city:
        return t("协调器", "the coordinator")
    return t(f"{city_name(city)}节点", f"the {city_name(city)} node")


def render_parked_list(console: Console, reply: capi.ListParkedResponse, city: str = "") -> None:
    """`ops parked list`: one row per parked message, newest first (whose: ``city``'s node, or
    the coordinator's)."""
    holder = parked_holder(city)
    if not reply.parked:
        console.print(t(f"{holder}没有搁置的消息", f"no parked messages at {holder}"))
    else:
        console.print(Text(t(f"{holder}的搁置消息", f"parked messages at {holder}")))
        table = Table(show_edge=False)
        table.add_column(t("编号", "id"), justify="right", no_wrap=True)
        table.add_column(t("搁置时间", "parked at"), min_width=10)
        table.add_column(t("法院 / 委托编号", "court / delegation"), no_wrap=True, min_width=32)
        table.add_column(t("原因", "reason"), overflow="fold")
        for p in reply.parked:
            where = court_label(p.court_id) if p.court_id else "-"
            if p.delegation_id:
                where += f"\n{p.delegation_id}"
            table.add_row(
                str(p.id),
                local_time(p.parked_at).replace(" ", "\n", 1),
                Text(where),
                Text(p.reason),
            )
        console.print(table)
    if reply.next_page_token:
        console.print(Text(t("下一页：", "more: ") + f"--page-token {reply.next_page_token}"))


def parked_action_line(action: capi.ParkedAction) -> str:
    """``重试（operator:region，2026-11-30 14:00:00）：已应用；理由 ...``."""
    what = parked_action_text(action.action)
    # The outcome starts with one word (applied, failed, discarded), then the server's details.
    word, _, rest = action.outcome.partition(" ")
    word = word.rstrip(":")
    outcome = parked_action_text(word)
    rest = rest.strip()
    line = t(
        f"{what}（{action.operator}，{local_time(action.at)}）：{outcome}",
        f"{what} ({action.operator}, {local_time(action.at)}): {outcome}",
    )
    if rest:
        line += f" {rest}"
    if action.reason:
        line += t(f"；理由：{action.reason}", f"; reason: {action.reason}")
    return line


def render_parked(console: Console, reply: capi.GetParkedResponse) -> None:
    """`ops parked show`: subject, reason, when, the masked summary, earlier actions."""
    p = reply.parked
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(t("编号", "id"), str(p.id))
    grid.add_row(t("搁置于", "held by"), parked_holder(p.city))
    grid.add_row(t("主题", "subject"), Text(p.subject))
    grid.add_row(t("消息编号", "message id"), Text(p.message_id, no_wrap=True))
    grid.add_row(t("法院", "court"), Text(court_label(p.court_id) if p.court_id else "-"))
    if p.delegation_id:
        grid.add_row(t("委托编号", "delegation"), Text(p.delegation_id, no_wrap=True))
    grid.add_row(t("搁置时间", "parked at"), local_time(p.parked_at))
    grid.add_row(t("原因", "reason"), Text(p.reason))
    grid.add_row(t("内容摘要", "summary"), Text(p.summary))
    console.print(grid)
    for action in reply.actions:
        console.print(Text(parked_action_line(action)))


def render_reads(console: Console, reads: Sequence[audit_api.DataRead]) -> None:
    """`audit reads`: one row per recorded read of personal data."""
    table = Table(
        title=t(
            f"共 {len(reads)} 次个人信息读取记录", f"{len(reads)} recorded reads of personal data"
        )
    )
    table.add_column(t("时间", "when"), no_wrap=True)
    table.add_column(t("读取者", "reader"))
    add_id_column(table, t("委托编号", "delegation"))
    table.add_column("rpc", overflow="fold")
    table.add_column(t("记录方", "recorded by"))
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


def render_courts(console: Console, courts: Sequence[Court | capi.Court]) -> None:
    """`courts`, `ops courts`: the registry, Chinese and English names together, districts
    joined by 、."""
    table = Table(title=t(f"共 {len(courts)} 个法院", f"{len(courts)} courts"))
    for column in (
        t("法院编号", "id"),
        t("代字", "code"),
        t("名称", "name"),
        t("城市", "city"),
        t("级别", "level"),
        t("节点", "node"),
        t("管辖区县", "districts"),
    ):
        table.add_column(column, no_wrap=column in ("id", "法院编号"))
    for c in courts:
        names = (c.name_zh, c.name_en) if zh() else (c.name_en, c.name_zh)
        table.add_row(
            c.court_id,
            c.case_code,
            "\n".join(names),
            city_name(c.city),
            t({"basic": "基层", "intermediate": "中级"}.get(c.level, c.level), c.level),
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


def render_layout(
    console: Console, nats_url: str, services: Iterable[tuple[str, str, str]]
) -> None:
    """`up`: where NATS and each service listen: gRPC, and the metrics with the HTTP probes."""
    table = Table(title="Jiaodong layout")
    table.add_column("service")
    table.add_column("address")
    table.add_column(t("指标", "metrics"))
    table.add_row("nats", nats_url, "")
    for name, address, metrics in services:
        table.add_row(name, address, metrics)
    console.print(table)


CONTROL_STATES = {
    "STANDING": ("有效", "standing"),
    "RENEW_SOON": ("待续封", "renew soon"),
    "RENEW_OVERDUE": ("不足一月，应立即续封", "renewal overdue"),
    "LAPSED": ("已到期失效", "lapsed"),
    "RENEWED": ("已续封", "renewed"),
}


def render_controls(
    console: Console, controls: Sequence[d_pb.ControlWatch], court: str, total: int = 0
) -> None:
    """`controls` / `ops controls`: seizures and freezes in force and when to renew them (续封/
    续冻), soonest renewal limit first; with the command that renews one when it is due."""
    if not controls:
        console.print(t("没有需要关注的查封、冻结。", "No seizures or freezes to watch."))
        return
    table = Table(title=t("查封、冻结期限", "Seizures and freezes in force"))
    for zh_col, en_col in (
        ("委托编号", "delegation"),
        ("案号", "case"),
        ("委托法院", "requesting court"),
        ("实施法院", "entrusted court"),
        ("财产", "asset"),
        ("登记号", "number"),
        ("期限至", "ends"),
        ("最迟续封日", "renew by"),
        ("状态", "state"),
    ):
        table.add_column(t(zh_col, en_col))
    for c in controls:
        zh_state, en_state = CONTROL_STATES.get(c.state, (c.state, c.state))
        state = t(zh_state, en_state)
        if c.renewed_by:
            state += f" ({c.renewed_by[:8]})"
        table.add_row(
            c.delegation_id[:8],
            c.case_number or "-",
            court_label(c.requesting_court),
            court_label(c.entrusted_court),
            asset_text(c.term.asset_kind),
            c.term.reference,
            c.term.ends_on,
            c.renew_by,
            state,
        )
    console.print(table)
    if total > len(controls):
        console.print(
            t(
                f"共 {total} 项，仅列出续封期限最近的 {len(controls)} 项（--state 可缩小范围）。",
                f"{total} in all; the {len(controls)} with the soonest renewal limit are listed.",
            )
        )
    due = [c for c in controls if c.state in ("RENEW_SOON", "RENEW_OVERDUE")]
    for c in due:
        if court and c.requesting_court != court:
            continue
        command = f"jiaodong delegation renew {c.delegation_id} --as-court {c.requesting_court}"
        console.print(
            t(
                f"请在 {c.renew_by} 前续封/续冻（{c.term.reference}，{c.term.ends_on} 到期）：",
                f"Renew by {c.renew_by} ({c.term.reference}, ends {c.term.ends_on}):",
            ),
            soft_wrap=True,
        )
        console.print(f"  {command}", soft_wrap=True, markup=False)
