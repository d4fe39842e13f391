"""`jiaodong board`: the command centre's live terminal view (rich.live).

Headline figures per city (open inbound and outbound delegations, those due within three working
days, those breached) and the at-risk queue, sorted by the time left to the next due time.

The figures come from the coordinator's GetBoard (counted by its database, with the on-time rate,
node health, city pairs, aging and parked messages) and the queue from ListDelegations in due
order; both are asked again after every change the WatchBoard stream reports, and every few
seconds as time moves clocks on. A coordinator without GetBoard (an older one answers
UNIMPLEMENTED) still gets a board: the figures are then computed here from the open delegations
(ListDelegations pages), each one's time limits (ExplainSla: no personal data, no recorded read)
and the stream. Inbound, due soon and breached count for the entrusted court's city (the one that
must act), outbound for the requesting court's. The coordinator scopes all of it: a city's centre
sees only delegations touching its city.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import grpc
import typer
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from jiaodong.cli.connect import CoordinatorCall, open_channel, report_rpc_error
from jiaodong.cli.lang import cities, city_name, court_city, court_name, current, identity_name, t
from jiaodong.cli.names import goal_text, status_text
from jiaodong.cli.options import coordinator_command
from jiaodong.cli.render import add_id_column, console, left_text, local_time, piped_width
from jiaodong.domain import lifecycle
from jiaodong.domain.calendar import SHANGHAI, WorkCalendar
from jiaodong.domain.labels import MEASURE, SUPPORT, SUPPORT_STATE, label
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import delegation_pb2 as d_pb

# The wire values of the lifecycle's closed statuses (the lifecycle says which they are).
CLOSED = frozenset(d_pb.Status.Value(f"STATUS_{s.value}") for s in lifecycle.CLOSED)
OPEN_STATUSES = [s for s in d_pb.Status.values() if s and s not in CLOSED]
DUE_SOON_WORKING_DAYS = 3
PAGE = 500
EXPLAIN_BATCH = 32


def _dt(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def working_days_until(cal: WorkCalendar, now: datetime, due: datetime) -> int:
    """Working days after today (Asia/Shanghai) up to and including the due day."""
    day, last = now.astimezone(SHANGHAI).date(), due.astimezone(SHANGHAI).date()
    count = 0
    while day < last and count <= DUE_SOON_WORKING_DAYS:
        day += timedelta(days=1)
        count += cal.is_working_day(day)
    return count


@dataclass
class Risk:
    """The most pressing time limit of one open delegation."""

    delegation: d_pb.Delegation
    goal: d_pb.SlaGoal
    due: datetime
    used: float  # share of the limit used; 1 or more: breached

    @property
    def breached(self) -> bool:
        return self.used >= 1 or self.goal.state == d_pb.SLA_STATE_BREACHED


@dataclass
class CityFigures:
    open_in: int = 0
    open_out: int = 0
    due_soon: int = 0
    breached: int = 0
    on_time_rate: float | None = None


@dataclass
class QueueRow:
    """One delegation of the at-risk queue, however it was computed."""

    delegation: d_pb.Delegation
    goal: str
    due_at: datetime | None
    left: str
    level: str  # "breached", "75", "50" or ""


@dataclass
class Snapshot:
    """What the board shows at one moment."""

    at: datetime
    cities: dict[str, CityFigures]
    queue: list[QueueRow]
    board: capi.GetBoardResponse | None = None  # from the coordinator; None: computed here


@dataclass
class BoardState:
    """The open delegations the caller may see, and their time limits; fed by the stream."""

    calendar: WorkCalendar
    delegations: dict[str, d_pb.Delegation] = field(default_factory=dict)
    goals: dict[str, list[d_pb.SlaGoal]] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stream_error: str = ""
    changes: int = 0
    # Set when the stream broke: what changed meanwhile is read again from the list.
    resync: bool = False

    def apply(self, d: d_pb.Delegation) -> None:
        """A delegation as listed or as changed; an older copy never replaces a newer one."""
        with self.lock:
            held = self.delegations.get(d.id)
            if held is not None and held.seq > d.seq:
                return
            self.delegations[d.id] = d
            if d.status in CLOSED:
                self.goals.pop(d.id, None)
                self.dirty.discard(d.id)
            else:
                self.dirty.add(d.id)

    def take_dirty(self) -> list[str]:
        with self.lock:
            out, self.dirty = sorted(self.dirty), set()
            return out

    def open(self) -> list[d_pb.Delegation]:
        with self.lock:
            return [d for d in self.delegations.values() if d.status not in CLOSED]

    def risk(self, d: d_pb.Delegation, now: datetime) -> Risk | None:
        """The running or breached limit closest to (or furthest past) its due time."""
        best: Risk | None = None
        for g in self.goals.get(d.id, ()):
            if g.state not in (d_pb.SLA_STATE_RUNNING, d_pb.SLA_STATE_BREACHED):
                continue
            if not g.due_at.seconds:
                continue
            due, start = _dt(g.due_at), _dt(g.started_at)
            span = (due - start).total_seconds()
            used = (now - start).total_seconds() / span if span > 0 else 1.0
            if g.state == d_pb.SLA_STATE_BREACHED:
                used = max(used, 1.0)
            risk = Risk(d, g, due, used)
            if best is None or risk.due < best.due:
                best = risk
        return best

    def figures(self, now: datetime) -> tuple[dict[str, CityFigures], list[Risk]]:
        """Per city figures, and every open delegation's risk, most pressing first."""
        per_city = {city: CityFigures() for city in cities()}
        risks: list[Risk] = []
        for d in self.open():
            source = court_city(d.requesting_court)
            target = court_city(d.entrusted_court) if d.entrusted_court else d.target.city
            if source in per_city:
                per_city[source].open_out += 1
            if target in per_city:
                per_city[target].open_in += 1
            risk = self.risk(d, now)
            if risk is None:
                continue
            risks.append(risk)
            if target not in per_city:
                continue
            if risk.breached:
                per_city[target].breached += 1
            elif working_days_until(self.calendar, now, risk.due) <= DUE_SOON_WORKING_DAYS:
                per_city[target].due_soon += 1
        risks.sort(key=lambda r: (not r.breached, r.due))
        return per_city, risks


# --- talking to the coordinator ------------------------------------------------------------------


def _list_open(
    stub: cgrpc.CoordinatorServiceStub, call: CoordinatorCall, city: str, limit: int
) -> Iterator[d_pb.Delegation]:
    """The open delegations the caller may see (touching ``city`` when given), up to ``limit``."""
    filters = [("", "")] if not city else [(city, ""), ("", city)]
    seen = 0
    for from_city, to_city in filters:
        token = ""
        while seen < limit:
            reply = stub.ListDelegations(
                capi.CoordinatorListDelegationsRequest(
                    from_city=from_city,
                    to_city=to_city,
                    statuses=OPEN_STATUSES,
                    page_size=min(PAGE, limit - seen),
                    page_token=token,
                ),
                timeout=call.timeout,
            )
            seen += len(reply.delegations)
            yield from reply.delegations
            token = reply.next_page_token
            if not token:
                break


def _fetch_goals(
    stub: cgrpc.CoordinatorServiceStub, call: CoordinatorCall, state: BoardState, ids: list[str]
) -> None:
    """Each delegation's time limits (ExplainSla), a batch of calls in flight at a time."""
    for at in range(0, len(ids), EXPLAIN_BATCH):
        batch = ids[at : at + EXPLAIN_BATCH]
        futures = [
            (i, stub.ExplainSla.future(capi.ExplainSlaRequest(id=i), timeout=call.timeout))
            for i in batch
        ]
        for delegation_id, future in futures:
            try:
                goals = list(future.result().goals)
            except grpc.RpcError as err:
                if err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
                    continue
                raise
            with state.lock:
                state.goals[delegation_id] = goals


def _watch(
    stub: cgrpc.CoordinatorServiceStub,
    state: BoardState,
    city: str,
    stop: threading.Event,
    keep: bool = True,
) -> None:
    """Apply every change from WatchBoard until ``stop``; reconnect after a failure."""
    current: list[Any] = []  # the stream being read, for the one thread that cancels it

    def cancel_at_stop() -> None:
        stop.wait()
        for stream in current:
            stream.cancel()

    threading.Thread(target=cancel_at_stop, name="watch-stop", daemon=True).start()
    while not stop.is_set():
        stream = stub.WatchBoard(capi.WatchBoardRequest(city=city))
        current[:] = [stream]
        try:
            for change in stream:
                if keep:  # computing the figures here: keep every open delegation
                    state.apply(change.delegation)
                with state.lock:
                    state.changes += 1
                    state.stream_error = ""
            problem = t("协调中心结束了实时推送", "the coordinator ended the stream")
        except grpc.RpcError as err:
            problem = f"{err.code().name}: {err.details() or ''}"
        if stop.is_set():
            return
        with state.lock:
            state.stream_error = problem
            state.resync = True
        stop.wait(2.0)


# --- snapshots ------------------------------------------------------------------------------------


def _level(used: float, breached: bool) -> str:
    if breached or used >= 1:
        return "breached"
    return "75" if used >= 0.75 else "50" if used >= 0.5 else ""


def snapshot_from_state(state: BoardState, now: datetime, rows: int) -> Snapshot:
    """The board computed here, from the open delegations and their clocks."""
    per_city, risks = state.figures(now)
    queue = [
        QueueRow(r.delegation, r.goal.goal, r.due, _left(r.due, now), _level(r.used, r.breached))
        for r in risks[:rows]
    ]
    return Snapshot(now, per_city, queue)


LEVELS = {
    capi.SLA_LEVEL_BREACHED: "breached",
    capi.SLA_LEVEL_THREE_QUARTERS: "75",
    capi.SLA_LEVEL_HALF: "50",
}


def snapshot_from_coordinator(
    stub: cgrpc.CoordinatorServiceStub,
    call: CoordinatorCall,
    city: str,
    rows: int,
    board_reply: capi.GetBoardResponse | None = None,
) -> Snapshot:
    """The coordinator's figures (GetBoard, unless ``board_reply`` holds them already) and its
    queue (ListDelegations in due order)."""
    if board_reply is None:
        board_reply = stub.GetBoard(capi.GetBoardRequest(city=city), timeout=call.timeout)
    listed = stub.ListDelegations(
        capi.CoordinatorListDelegationsRequest(
            to_city=city,
            statuses=OPEN_STATUSES,
            order=capi.LIST_ORDER_DUE,
            page_size=rows,
        ),
        timeout=call.timeout,
    )
    per_city = {c: CityFigures() for c in cities()}
    for f in board_reply.cities:
        per_city[f.city] = CityFigures(
            f.inbound_open,
            f.outbound_open,
            f.due_soon,
            f.breached,
            f.on_time_rate if f.HasField("on_time_rate") else None,
        )
    entries = {e.delegation_id: e for e in listed.entries}
    queue: list[QueueRow] = []
    for d in listed.delegations:
        entry = entries.get(d.id)
        if entry is None or not entry.goal:
            continue
        due = _dt(entry.next_due_at) if entry.next_due_at.seconds else None
        left = left_text(entry.seconds_left, entry.working_days_left)
        queue.append(QueueRow(d, entry.goal, due, left, LEVELS.get(entry.level, "")))
    at = _dt(board_reply.at) if board_reply.at.seconds else datetime.now(UTC)
    return Snapshot(at, per_city, queue, board_reply)


# --- what is shown -------------------------------------------------------------------------------


def _left(due: datetime, now: datetime) -> str:
    """Time to the due time or past it: ``2天3小时``, ``超期 5小时`` (``2 d 3 h``, ``5 h over``)."""
    delta = due - now
    over = delta.total_seconds() < 0
    seconds = abs(int(delta.total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        text = t(f"{days}天{hours}小时", f"{days} d {hours} h")
    elif hours:
        text = t(f"{hours}小时", f"{hours} h")
    else:
        text = t(f"{minutes}分", f"{minutes} min")
    return t(f"超期 {text}", f"{text} over") if over else text


def _badge(level: str) -> Text:
    if level == "breached":
        return Text(t("已超期", "breached"), style="bold red")
    if level == "75":
        return Text("75%", style="bold yellow")
    if level == "50":
        return Text("50%", style="yellow")
    return Text("-")


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _cities_table(snap: Snapshot) -> Table:
    table = Table(title=t("各市情况", "cities"), title_justify="left")
    columns = [
        t("城市", "city"),
        t("收到未结", "open in"),
        t("发出未结", "open out"),
        t(f"{DUE_SOON_WORKING_DAYS}个工作日内到期", f"due ≤{DUE_SOON_WORKING_DAYS} working days"),
        t("已超期", "breached"),
    ]
    if snap.board is not None:
        columns.append(
            t(f"按期率（{snap.board.window_days}天）", f"on time ({snap.board.window_days} d)")
        )
    for column in columns:
        table.add_column(column, justify="right" if table.columns else "left")
    total = CityFigures()
    for city, f in snap.cities.items():
        row: list[str | Text] = [
            city_name(city),
            str(f.open_in),
            str(f.open_out),
            str(f.due_soon),
            Text(str(f.breached), style="bold red" if f.breached else ""),
        ]
        if snap.board is not None:
            row.append(_rate(f.on_time_rate))
        table.add_row(*row)
        total.open_in += f.open_in
        total.open_out += f.open_out
        total.due_soon += f.due_soon
        total.breached += f.breached
    totals: list[str | Text] = [
        Text(t("合计", "total"), style="bold"),
        str(total.open_in),
        str(total.open_out),
        str(total.due_soon),
        str(total.breached),
    ]
    if snap.board is not None:
        decided = sum(c.decided for c in snap.board.cities)
        met = sum(c.met_on_time for c in snap.board.cities)
        totals.append(_rate(met / decided if decided else None))
    table.add_row(*totals)
    return table


def _queue_table(snap: Snapshot, rows: int) -> Table:
    queue = Table(
        show_edge=False,
        title=t(
            f"风险队列（前 {rows} 件，按剩余时间排序）",
            f"at-risk queue (first {rows}, by time left)",
        ),
        title_justify="left",
    )
    add_id_column(queue, t("委托编号", "delegation"))
    queue.add_column(t("受托法院 / 状态", "entrusted court / status"), overflow="fold", ratio=2)
    for column in (t("时限", "limit"), t("剩余", "left"), t("预警", "level")):
        queue.add_column(column, ratio=1)
    for row in snap.queue[:rows]:
        d = row.delegation
        court = court_name(d.entrusted_court) if d.entrusted_court else "-"
        queue.add_row(
            Text(d.id),
            Text(f"{court}\n{status_text(d.status)}"),
            goal_text(row.goal),
            row.left,
            _badge(row.level),
        )
    return queue


def _operations(board_reply: capi.GetBoardResponse) -> list[object]:
    """Node health, city pairs with open work, aging and parked messages (GetBoard only)."""
    parts: list[object] = []
    nodes = Table(title=t("节点状态", "nodes"), title_justify="left")
    for column in (
        t("节点", "node"),
        t("最近消息", "last message"),
        t("状态", "state"),
        t("待发布", "unpublished"),
        t("未送达", "undelivered"),
        t("搁置", "parked"),
    ):
        nodes.add_column(column)
    for n in board_reply.nodes:
        if n.offline:
            since = local_time(n.offline_since) if n.offline_since.seconds else "-"
            state = Text(t(f"离线（自 {since}）", f"offline since {since}"), style="bold red")
        else:
            state = Text(t("在线", "online"), style="green")
        nodes.add_row(
            f"{city_name(n.city)} ({n.node})",
            local_time(n.last_seen_at),
            state,
            str(n.unpublished),
            str(n.undelivered),
            # The node's own dead letters as its last digest said; "-": it has not said.
            Text(str(n.parked), style="bold red" if n.parked else "")
            if n.HasField("parked")
            else Text("-"),
        )
    parts.append(nodes)
    pairs = sorted(board_reply.pairs, key=lambda p: (-p.breached, -p.open))
    if pairs:
        text = "  ".join(
            f"{city_name(p.from_city)}→{city_name(p.to_city)} {p.open}"
            + (t(f"（超期 {p.breached}）", f" ({p.breached} breached)") if p.breached else "")
            for p in pairs
        )
        parts.append(Text(t("城市间未结：", "open between cities: ") + text))
    if board_reply.aging:
        text = "  ".join(
            t(f"超过{a.over_days}天 {a.count}", f">{a.over_days} d {a.count}")
            for a in board_reply.aging
        )
        parts.append(Text(t("未结时长：", "open for: ") + text))
    parked = Text(
        t(f"搁置消息：{board_reply.parked}", f"parked messages: {board_reply.parked}"),
        style="bold red" if board_reply.parked else "",
    )
    if board_reply.parked:
        parked.append(t("（查看：jiaodong ops parked list）", " (see: jiaodong ops parked list)"))
    parts.append(parked)
    # Where a node holds parked messages, the command that lists them (through the coordinator).
    for n in board_reply.nodes:
        if n.HasField("parked") and n.parked:
            parts.append(
                Text(
                    t(
                        f"{city_name(n.city)}节点搁置 {n.parked} 条："
                        f"jiaodong ops parked list --city {n.city}",
                        f"{city_name(n.city)} node holds {n.parked} parked: "
                        f"jiaodong ops parked list --city {n.city}",
                    ),
                    style="bold red",
                )
            )
    for notice in board_reply.notices:
        parts.append(Text(t("提示：", "notice: ") + notice))
    parts.append(operations_table(board_reply))
    return parts


def operations_table(board_reply: capi.GetBoardResponse) -> Table:
    """The calendar of on-site assistance operations of the coming two weeks (masked)."""
    table = Table(
        title=t("异地执行协助行动日历（未来两周）", "on-site assistance, next two weeks"),
        title_justify="left",
    )
    for column in (
        t("日期", "day"),
        t("时段", "window"),
        t("协助法院", "local court"),
        t("请求法院", "requesting court"),
        t("措施", "measure"),
        t("状态", "status"),
        t("执行人员", "officers"),
        t("保障", "support"),
    ):
        table.add_column(column)
    now = current()
    for o in board_reply.operations:
        support = "、".join(
            f"{label(SUPPORT, d_pb.SupportKind.Name(i.kind).removeprefix('SUPPORT_KIND_'), now)}"
            f"（{label(SUPPORT_STATE, d_pb.SupportState.Name(i.state)[14:], now)}）"
            for i in o.support
        )
        table.add_row(
            o.day + (t(" 已提醒", " reminded") if o.reminder_today else ""),
            o.window,
            court_name(o.local_court),
            court_name(o.requesting_court),
            label(MEASURE, d_pb.Measure.Name(o.measure).removeprefix("MEASURE_"), now),
            status_text(o.status),
            "、".join(o.officers),
            support,
        )
    if not board_reply.operations:
        table.add_row(t("无", "none"), "", "", "", "", "", "", "")
    return table


def render_board(
    snap: Snapshot, who: str, rows: int, *, live: bool = True, error: str = ""
) -> Group:
    stamp = snap.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    head = Text(
        t(f"胶东委托执行看板 · {who} · {stamp}", f"Jiaodong delegation board · {who} · {stamp}"),
        style="bold",
    )
    parts: list[object] = [head, _cities_table(snap), _queue_table(snap, rows)]
    if snap.board is not None:
        parts.extend(_operations(snap.board))
    if error:
        parts.append(
            Text(
                t("实时更新中断，正在重连：", "live updates interrupted, reconnecting: ") + error,
                style="red",
            )
        )
    elif live:
        parts.append(Text(t("实时更新中；Ctrl-C 退出", "live; Ctrl-C to quit"), style="dim"))
    return Group(*parts)  # type: ignore[arg-type]


def figures_json(snap: Snapshot, rows: int) -> str:
    """The board for programs: the headline figures, the queue, and GetBoard's reply as it is."""
    out: dict[str, Any] = {
        "at": snap.at.isoformat(),
        "source": "coordinator" if snap.board is not None else "computed",
        "cities": {
            city: {
                "open_in": f.open_in,
                "open_out": f.open_out,
                "due_soon": f.due_soon,
                "breached": f.breached,
                "on_time_rate": f.on_time_rate,
            }
            for city, f in snap.cities.items()
        },
        "at_risk": [
            {
                "id": r.delegation.id,
                "requesting_court": r.delegation.requesting_court,
                "entrusted_court": r.delegation.entrusted_court,
                "status": d_pb.Status.Name(r.delegation.status),
                "goal": r.goal,
                "due_at": r.due_at.isoformat() if r.due_at else None,
                "level": r.level,
            }
            for r in snap.queue[:rows]
        ],
    }
    if snap.board is not None:
        out["board"] = json_format.MessageToDict(snap.board, preserving_proto_field_name=True)
    return json.dumps(out, ensure_ascii=False)


def _who(call: CoordinatorCall) -> str:
    return identity_name(call.identity) if call.identity is not None else ""


def _calendar() -> WorkCalendar:
    from jiaodong.config import Settings
    from jiaodong.files.calendar import load_calendar

    return load_calendar(Settings.from_env().courts_dir)


# --- the command ---------------------------------------------------------------------------------


@dataclass
class Feed:
    """Where the snapshots come from, and when to ask again."""

    stub: cgrpc.CoordinatorServiceStub
    call: CoordinatorCall
    state: BoardState
    city: str
    rows: int
    limit: int
    server: bool  # GetBoard answered: the coordinator counts
    seen_changes: int = -1
    fetched_at: float = 0.0
    last: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        if not self.server:
            _refresh(self.stub, self.call, self.state, self.city, self.limit)
            return snapshot_from_state(self.state, datetime.now(UTC), self.rows)
        with self.state.lock:
            changes = self.state.changes
        stale = time.monotonic() - self.fetched_at > SERVER_POLL_SECONDS
        if self.last is None or changes != self.seen_changes or stale:
            self.last = snapshot_from_coordinator(self.stub, self.call, self.city, self.rows)
            self.seen_changes, self.fetched_at = changes, time.monotonic()
        return self.last


SERVER_POLL_SECONDS = 5.0


def _first_board(
    stub: cgrpc.CoordinatorServiceStub, call: CoordinatorCall, city: str
) -> capi.GetBoardResponse | None:
    """The coordinator's first figures, or None where it has no GetBoard (an older one): asked
    once, and the first snapshot is built from the same reply."""
    try:
        reply: capi.GetBoardResponse = stub.GetBoard(
            capi.GetBoardRequest(city=city), timeout=call.timeout
        )
    except grpc.RpcError as err:
        if err.code() == grpc.StatusCode.UNIMPLEMENTED:
            return None
        raise
    return reply


@coordinator_command(timeout=10.0)
def board(
    call: CoordinatorCall,
    city: Annotated[
        str, typer.Option("--city", metavar="CITY", help="Only delegations touching this city.")
    ] = "",
    rows: Annotated[int, typer.Option("--rows", min=1, max=200, help="At-risk rows shown.")] = 15,
    refresh: Annotated[
        float, typer.Option("--refresh", min=0.2, help="Seconds between redraws.")
    ] = 1.0,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=1, help="Open delegations read at most (only without GetBoard)."
        ),
    ] = 5000,
    once: Annotated[
        bool, typer.Option("--once", help="Print the board once and exit (no live view).")
    ] = False,
) -> None:
    """Live board: open in/out, due within 3 working days, breached and on-time rate per city,
    the at-risk queue, node health and parked messages, kept current from the coordinator's
    WatchBoard stream (--once: one snapshot; --json: JSON instead of the board)."""
    state = BoardState(_calendar())
    stop = threading.Event()
    try:
        with open_channel(call.address, call.tls) as channel:
            stub = cgrpc.CoordinatorServiceStub(channel)
            first = _first_board(stub, call, city)
            server = first is not None
            if not once:
                # The stream first, so nothing that changes while the pages are read is missed.
                threading.Thread(
                    target=_watch,
                    args=(stub, state, city, stop, not server),
                    name="watch",
                    daemon=True,
                ).start()
            if not server:
                for d in _list_open(stub, call, city, limit):
                    state.apply(d)
            feed = Feed(stub, call, state, city, rows, limit, server)
            if first is not None:
                feed.last = snapshot_from_coordinator(stub, call, city, rows, first)
                feed.seen_changes, feed.fetched_at = 0, time.monotonic()
            if once:
                snap = feed.snapshot()
                if call.json:
                    print(figures_json(snap, rows))
                else:
                    out = console(piped_width())
                    out.print(render_board(snap, _who(call), rows, live=False))
                return
            _live(feed, refresh)
    except grpc.RpcError as err:
        report_rpc_error(err, call.address, "coordinator", call.identity)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()


def _refresh(
    stub: cgrpc.CoordinatorServiceStub,
    call: CoordinatorCall,
    state: BoardState,
    city: str,
    limit: int,
) -> None:
    """After a break in the stream, read the open delegations again (a fresh picture); then ask
    for the clocks of whatever changed."""
    with state.lock:
        resync, state.resync = state.resync, False
    if resync:
        fresh = {d.id: d for d in _list_open(stub, call, city, limit)}
        with state.lock:
            state.delegations = fresh
            state.goals = {i: g for i, g in state.goals.items() if i in fresh}
            state.dirty = set(fresh)
    _fetch_goals(stub, call, state, state.take_dirty())


def _live(feed: Feed, refresh: float) -> None:
    """Redraw every ``refresh`` seconds until Ctrl-C; with --json, one JSON line each time."""
    who = _who(feed.call)

    def error() -> str:
        with feed.state.lock:
            return feed.state.stream_error

    if feed.call.json:
        while True:
            print(figures_json(feed.snapshot(), feed.rows), flush=True)
            time.sleep(refresh)
    first = render_board(feed.snapshot(), who, feed.rows)
    with Live(first, console=Console(), auto_refresh=False) as live:
        while True:
            time.sleep(refresh)
            live.update(render_board(feed.snapshot(), who, feed.rows, error=error()), refresh=True)
