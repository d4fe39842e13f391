"""The command centre's web board: a Starlette application on the coordinator's application core.

Pages are rendered on the server (Jinja2) and kept live by server-sent events from the
coordinator's Broadcaster (the same feed as the gRPC WatchBoard): each change tells the page which
delegation changed, and the page fetches the part it shows again. Lists are masked; a
delegation's detail shows personal data only after the read is recorded (as GetDelegation).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import structlog
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from jiaodong.api.audit import record_reads
from jiaodong.api.masking import masked
from jiaodong.api.web.access import (
    SESSION_COOKIE,
    DevLogin,
    NotSignedIn,
    Viewer,
    certificate_identity,
    login_identity,
)
from jiaodong.api.web.coalesce import Coalesced
from jiaodong.api.web.i18n import LANG_COOKIE, Language, pick
from jiaodong.app.coordinator import Coordinator
from jiaodong.app.coordinator.board import Board as BoardFigures
from jiaodong.app.coordinator.board import QueueItem, QueuePage
from jiaodong.app.leadership import Replica
from jiaodong.app.watch import Change, WatchBehind
from jiaodong.domain.authz import parked_scope
from jiaodong.domain.calendar import SHANGHAI
from jiaodong.domain.delegation import TaskType
from jiaodong.domain.errors import (
    DomainError,
    NotActive,
    NotAllowed,
    NotFound,
    Unreachable,
)
from jiaodong.domain.identity import BadIdentity
from jiaodong.domain.lifecycle import RULES, EventKind, Status
from jiaodong.domain.routing import check_reroute
from jiaodong.store.ledger import RegionFilter
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import from_ts, optional_enum

log = structlog.get_logger("jiaodong.board")

HERE = Path(__file__).parent
PAGE_SIZE = 25
READ_RPC = "BoardWeb/Delegation"
# A header a cross-site form cannot send: every action must come from the board's own script.
ACTION_HEADER = "x-jd-board-action"
SSE_PING_SECONDS = 15.0
AT_RISK = ("RUNNING", "BREACHED")
# Each operator step and the CoordinatorService RPC whose permission it takes.
STEER_METHODS = {
    EventKind.ESCALATED: "Escalate",
    EventKind.REROUTED: "Reroute",
    EventKind.URGED: "Urge",
}


@dataclass
class BoardSettings:
    """What the composition tells the board: the development login (None: certificates only)."""

    dev_login: DevLogin | None = None
    window_days: int = 30


def local_time(at: datetime | None) -> str:
    if at is None:
        return ""
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    env.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.0f}%"
    return env


class Board:
    """The routes, bound to one coordinator."""

    def __init__(
        self, coordinator: Coordinator, replica: Replica | None, settings: BoardSettings
    ) -> None:
        self.coordinator = coordinator
        self.replica = replica
        self.settings = settings
        self.env = _templates()
        # Many screens refreshing at once share one count of the same figures.
        self.figures: Coalesced[tuple[BoardFigures, QueuePage]] = Coalesced()

    # -- who and in which language --

    def viewer(self, request: Request) -> Viewer:
        chain = request.scope.get("extensions", {}).get("tls", {}).get("client_cert_chain", [])
        try:
            identity = certificate_identity(chain)
        except BadIdentity as exc:
            raise NotAllowed(f"the certificate carries no usable identity: {exc}") from exc
        if identity is not None:
            return Viewer(identity, by_certificate=True)
        login = self.settings.dev_login
        cookie = request.cookies.get(SESSION_COOKIE, "")
        if login is not None and cookie:
            found = login.identity_in(cookie)
            if found is not None:
                return Viewer(found, by_certificate=False)
        raise NotSignedIn()

    def language(self, request: Request) -> Language:
        code = pick(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
        return Language(code, self.coordinator.registry)

    def render(
        self, request: Request, name: str, http_status: int = 200, **context: Any
    ) -> HTMLResponse:
        lang = self.language(request)
        # The language link keeps what the page shows (filters, page), only the language changes.
        switch = "?" + urlencode({**request.query_params, "lang": lang.other})
        body = self.env.get_template(name).render(lang=lang, t=lang.t, switch=switch, **context)
        response = HTMLResponse(body, status_code=http_status)
        if request.query_params.get("lang") == lang.code:
            response.set_cookie(LANG_COOKIE, lang.code, samesite="strict", secure=True)
        return response

    def city_of(self, court: str) -> str:
        return self.coordinator.registry.court(court).city

    async def guarded(
        self, request: Request, page: Callable[[Viewer], Awaitable[Response]]
    ) -> Response:
        """Sign-in and the domain's refusals as pages: 401, 403, 404, 400, 503."""
        try:
            viewer = self.viewer(request)
            return await page(viewer)
        except NotSignedIn:
            return self.render(request, "signin.html", 401, viewer=None)
        except NotAllowed as exc:
            return self._refusal(request, 403, "not_allowed", str(exc))
        except NotFound as exc:
            return self._refusal(request, 404, "not_found", str(exc))
        except (NotActive, Unreachable) as exc:
            return self._refusal(request, 503, "refused", str(exc))
        except DomainError as exc:
            return self._refusal(request, 400, "refused", str(exc))

    def _refusal(self, request: Request, status: int, key: str, detail: str) -> Response:
        if request.method == "POST" or request.headers.get("accept") == "application/json":
            return JSONResponse({"ok": False, "error": detail}, status_code=status)
        return self.render(request, "refused.html", status, key=key, detail=detail, viewer=None)

    # -- sign-in --

    async def login(self, request: Request) -> Response:
        """``/login?token=…[&as=<city>]``: the development login (absent in production)."""
        login = self.settings.dev_login
        offered = request.query_params.get("token", "")
        if login is None or not login.check_token(offered):
            return self.render(request, "signin.html", 401, viewer=None)
        scope = request.query_params.get("as", "")
        if scope and scope not in self.coordinator.registry.cities:
            return self.render(request, "signin.html", 400, viewer=None)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            login.cookie_for(login_identity(scope)),
            httponly=True,
            secure=True,
            samesite="strict",
        )
        return response

    # -- the board --

    async def board_page(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._board(request, v, "board.html"))

    async def board_fragment(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._board(request, v, "board_body.html"))

    async def _board(self, request: Request, viewer: Viewer, template: str) -> Response:
        viewer.grant("WatchBoard")
        page = max(1, _int(request.query_params.get("page"), 1))
        chosen = QueueFilter.read(request.query_params, self.coordinator.registry.cities)
        board, queue = await self.figures.get(
            (viewer.city, page, chosen), lambda: self._figures(viewer.city, page, chosen)
        )
        pages = max(1, -(-queue.total // PAGE_SIZE))
        return self.render(
            request,
            template,
            viewer=viewer,
            board=board,
            pairs={(p.from_city, p.to_city): p for p in board.pairs},
            queue=[QueueRow.of(item, board.at) for item in queue.items],
            total=queue.total,
            page=page,
            pages=pages,
            chosen=chosen,
            cities=list(self.coordinator.registry.cities),
            tasks=[t.value for t in TaskType],
        )

    async def _figures(
        self, city: str, page: int, chosen: QueueFilter
    ) -> tuple[BoardFigures, QueuePage]:
        """The figures of ``city``'s board (""; the region) and one page of its at-risk queue:
        delegations with a running limit (as ``chosen`` narrows it), the least time left first.
        Read side by side (the database has two reader threads)."""
        coordinator = self.coordinator
        where = RegionFilter(
            touching=city,
            from_city=chosen.from_city,
            to_city=chosen.to_city,
            task_types=(chosen.task,) if chosen.task else (),
            sla_states=(chosen.sla,) if chosen.sla else AT_RISK,
            case_number=chosen.case_number,
            order="due",
        )
        board, queue = await asyncio.gather(
            coordinator.board(city or None, self.settings.window_days),
            coordinator.queue(where, (page - 1) * PAGE_SIZE, PAGE_SIZE),
        )
        return board, queue

    # -- one delegation --

    async def detail_page(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._detail(request, v, "detail.html"))

    async def detail_fragment(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._detail(request, v, "detail_body.html"))

    async def _detail(self, request: Request, viewer: Viewer, template: str) -> Response:
        delegation_id = request.path_params["delegation_id"]
        coordinator = self.coordinator
        delegation = await coordinator.get(
            delegation_id, viewer.guard("GetDelegation", self.city_of)
        )
        # Recorded before the data leaves, as GetDelegation does.
        await record_reads(
            coordinator.db, coordinator.clock, READ_RPC, [delegation.id], reader=viewer.label
        )
        _, lines = await coordinator.explain(
            delegation_id, viewer.guard("ExplainSla", self.city_of)
        )
        notes = await coordinator.notes(delegation_id, viewer.guard("GetDelegation", self.city_of))
        status = optional_enum(pb.Status, "STATUS", delegation.status)
        moves = _moves(viewer, status)
        return self.render(
            request,
            template,
            viewer=viewer,
            d=delegation,
            status=status,
            task=optional_enum(pb.TaskType, "TASK_TYPE", delegation.task_type),
            asset=optional_enum(pb.AssetKind, "ASSET_KIND", delegation.asset_kind),
            events=[_event_row(e) for e in delegation.history],
            clocks=[_clock_row(g) for g in delegation.sla],
            lines=lines,
            can_escalate=EventKind.ESCALATED in moves,
            can_reroute=EventKind.REROUTED in moves,
            can_urge=EventKind.URGED in moves,
            can_annotate=viewer.may("Annotate"),
            notes=notes,
            reroute_to=self._reroute_choices(delegation) if EventKind.REROUTED in moves else [],
            request_id=uuid.uuid4().hex,
        )

    def _reroute_choices(self, delegation: pb.Delegation) -> list[str]:
        """The courts the delegation may be moved to: every court the routing rules accept."""
        registry = self.coordinator.registry
        here = registry.courts.get(delegation.entrusted_court)
        out = []
        # The current entrusted court's city first: a move is most often within it.
        ordered = sorted(
            registry.courts.values(), key=lambda c: (c.city != here.city if here else 0, c.court_id)
        )
        for court in (c.court_id for c in ordered):
            try:
                check_reroute(
                    registry, delegation.requesting_court, delegation.entrusted_court, court
                )
            except DomainError:
                continue
            out.append(court)
        return out

    # -- actions --

    async def escalate(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._steer(request, v, EventKind.ESCALATED))

    async def reroute(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._steer(request, v, EventKind.REROUTED))

    async def urge(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._steer(request, v, EventKind.URGED))

    async def annotate(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._annotate(request, v))

    async def _action_form(self, request: Request, viewer: Viewer, method: str) -> dict[str, str]:
        """The checks every action passes, then its URL-encoded fields (three short ones: no
        multipart parser needed)."""
        if request.headers.get(ACTION_HEADER) != "1":
            raise NotAllowed("actions are taken from the board's own page")
        viewer.grant(method)
        if self.replica is not None:
            self.replica.require_active()
        return {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}

    async def _steer(self, request: Request, viewer: Viewer, kind: EventKind) -> Response:
        method = STEER_METHODS[kind]
        form = await self._action_form(request, viewer, method)
        d = await self.coordinator.steer(
            request.path_params["delegation_id"],
            kind,
            form.get("request_id", ""),
            form.get("text", ""),
            form.get("court_id", ""),
            guard=viewer.guard(method, self.city_of),
            operator=viewer.label,
        )
        # The operator, not the text, is what the log keeps (the text may name a debtor).
        log.info("board_action", kind=kind.value, delegation_id=d.id, operator=viewer.label)
        return JSONResponse({"ok": True, "delegation_id": d.id})

    async def _annotate(self, request: Request, viewer: Viewer) -> Response:
        form = await self._action_form(request, viewer, "Annotate")
        note = await self.coordinator.annotate(
            request.path_params["delegation_id"],
            form.get("request_id", ""),
            form.get("text", ""),
            viewer.label,
            viewer.guard("Annotate", self.city_of),
        )
        return JSONResponse({"ok": True, "delegation_id": note.delegation_id})

    # -- parked messages --

    def _parked_courts(self, viewer: Viewer, city: str) -> frozenset[str] | None:
        """The courts whose parked messages the viewer may see (None: all, regional): the
        coordinator's, or with ``city`` that city's node's (a city's centre: its own only)."""
        courts = parked_scope(viewer.identity, city, self.coordinator.registry)
        if city and self.replica is not None:
            self.replica.require_active()  # only the active replica has a link to the nodes
        return courts

    async def parked_page(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._parked(request, v))

    async def _parked(self, request: Request, viewer: Viewer) -> Response:
        viewer.grant("ListParked")
        page = max(1, _int(request.query_params.get("page"), 1))
        city = request.query_params.get("city", "")
        courts = self._parked_courts(viewer, city)
        items, more = await self.coordinator.parked_messages_at(
            city, courts, (page - 1) * PAGE_SIZE, PAGE_SIZE
        )
        return self.render(
            request,
            "parked.html",
            viewer=viewer,
            items=items,
            page=page,
            more=more,
            city=city,
            can_act=viewer.may("RetryParked"),
            request_id=uuid.uuid4().hex,
        )

    async def parked_action(self, request: Request) -> Response:
        return await self.guarded(request, lambda v: self._parked_action(request, v))

    async def _parked_action(self, request: Request, viewer: Viewer) -> Response:
        action = request.path_params["action"]
        if action not in ("retry", "discard"):
            raise NotFound(f"no such action on a parked message: {action}")
        form = await self._action_form(
            request, viewer, "RetryParked" if action == "retry" else "DiscardParked"
        )
        parked_id = _int(request.path_params["parked_id"], 0)
        city = request.query_params.get("city", "")
        courts = self._parked_courts(viewer, city)
        reason = form.get("text", "")
        if action == "retry":
            applied, done = await self.coordinator.retry_parked_at(
                city, parked_id, reason, viewer.label, courts
            )
        else:
            done = await self.coordinator.discard_parked_at(
                city, parked_id, reason, viewer.label, courts
            )
            applied = True
        log.info(
            "board_parked", action=action, parked_id=parked_id, city=city, operator=viewer.label
        )
        return JSONResponse({"ok": applied, "outcome": done.outcome, "error": done.outcome})

    # -- live updates --

    async def events(self, request: Request) -> Response:
        try:
            viewer = self.viewer(request)
            viewer.grant("WatchBoard")
            if self.replica is not None:
                self.replica.require_active()  # a standby's broadcaster hears of no change
        except NotSignedIn:
            return Response(status_code=401)
        except NotAllowed:
            return Response(status_code=403)
        except NotActive:
            return Response(status_code=503)
        return EventStream(self._changes(viewer))

    async def _changes(self, viewer: Viewer) -> AsyncIterator[str]:
        registry = self.coordinator.registry
        city = viewer.city

        def keep(change: Change) -> bool:
            if not city:
                return True
            d = change.delegation
            return any(
                registry.court(c).city == city for c in (d.requesting_court, d.entrusted_court) if c
            )

        courts = None if not city else [c.court_id for c in registry.courts_in_city(city)]
        yield "retry: 1000\n\n"
        try:
            async for change in self.coordinator.broadcaster.watch(keep, courts=courts):
                d = change.delegation
                # Ids and states only: the page fetches what it shows (masked or recorded).
                data = {
                    "id": d.id,
                    "status": optional_enum(pb.Status, "STATUS", d.status),
                    "event": (
                        optional_enum(pb.EventKind, "EVENT_KIND", change.event.kind)
                        if change.event is not None
                        else ""
                    ),
                }
                yield f"event: change\ndata: {json.dumps(data)}\n\n"
        except WatchBehind:
            yield "event: behind\ndata: {}\n\n"

    def app(self) -> Starlette:
        routes = [
            Route("/", self.board_page),
            Route("/fragment/board", self.board_fragment),
            Route("/login", self.login),
            Route("/events", self.events),
            Route("/d/{delegation_id}", self.detail_page),
            Route("/fragment/d/{delegation_id}", self.detail_fragment),
            Route("/d/{delegation_id}/escalate", self.escalate, methods=["POST"]),
            Route("/d/{delegation_id}/reroute", self.reroute, methods=["POST"]),
            Route("/d/{delegation_id}/urge", self.urge, methods=["POST"]),
            Route("/parked", self.parked_page),
            Route("/parked/{parked_id}/{action}", self.parked_action, methods=["POST"]),
            Route("/d/{delegation_id}/annotate", self.annotate, methods=["POST"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        return Starlette(routes=routes)


class EventStream(Response):
    """A server-sent event stream, with a comment line now and then so proxies keep it open."""

    media_type = "text/event-stream"

    def __init__(self, items: AsyncIterator[str]) -> None:
        # No Content-Length: the body is a stream that ends when the watch does.
        self.status_code = 200
        self.background = None
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self.items = items

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for item in self.items:
                    await queue.put(item)
            finally:
                await queue.put(None)

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            await queue.put(None)

        tasks = [asyncio.create_task(pump()), asyncio.create_task(disconnected())]
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=SSE_PING_SECONDS)
                except TimeoutError:
                    item = ": ping\n\n"
                if item is None:
                    break
                await send({"type": "http.response.body", "body": item.encode(), "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the browser went away
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class QueueFilter:
    """What an operator narrowed the at-risk queue to (values not offered are dropped)."""

    from_city: str = ""
    to_city: str = ""
    task: str = ""
    sla: str = ""  # "", RUNNING or BREACHED
    case_number: str = ""

    @classmethod
    def read(cls, params: Any, cities: Any) -> QueueFilter:
        def city(name: str) -> str:
            value = str(params.get(name, ""))
            return value if value in cities else ""

        task = str(params.get("task", ""))
        sla = str(params.get("sla", ""))
        return cls(
            from_city=city("from"),
            to_city=city("to"),
            task=task if task in TaskType.__members__ else "",
            sla=sla if sla in AT_RISK else "",
            case_number=str(params.get("case", "")).strip()[:60],
        )

    @property
    def query(self) -> str:
        """The filter as a query string (for the page links and the live fragment)."""
        pairs = {
            "from": self.from_city,
            "to": self.to_city,
            "task": self.task,
            "sla": self.sla,
            "case": self.case_number,
        }
        return urlencode({k: v for k, v in pairs.items() if v})


@dataclass(frozen=True)
class QueueRow:
    """One line of the at-risk queue, from the masked view only."""

    delegation_id: str
    case_number: str
    requesting_court: str
    entrusted_court: str
    task_type: str
    status: str
    goal: str
    due_at: datetime | None
    level: int  # 0, 50, 75, 100 (breached)
    working_days_left: int | None
    overdue: bool
    hours_left: int  # for hour limits, and how late an overdue one is

    @classmethod
    def of(cls, item: QueueItem, now: datetime) -> QueueRow:
        d = masked(item.delegation)
        return cls(
            delegation_id=d.id,
            case_number=d.case_number,
            requesting_court=d.requesting_court,
            entrusted_court=d.entrusted_court,
            task_type=optional_enum(pb.TaskType, "TASK_TYPE", d.task_type),
            status=optional_enum(pb.Status, "STATUS", d.status),
            goal=item.goal,
            due_at=item.next_due,
            level=item.level,
            working_days_left=item.working_days_left,
            overdue=item.next_due is not None and item.next_due <= now,
            hours_left=(item.seconds_left or 0) // 3600,
        )


@dataclass(frozen=True)
class EventRow:
    kind: str
    side: str
    actor_court: str
    at: datetime
    text: str
    court_id: str
    return_reason: str
    result: str


def _moves(viewer: Viewer, status: str) -> frozenset[EventKind]:
    """The operator steps the board offers on a delegation in ``status``: those the lifecycle's
    rules allow from it (the one place that says so) and the viewer's permissions grant."""
    if status not in Status.__members__:
        return frozenset()
    here = Status(status)
    return frozenset(
        kind
        for kind, method in STEER_METHODS.items()
        if here in RULES[kind].moves and viewer.may(method)
    )


def _event_row(e: pb.DelegationEvent) -> EventRow:
    return EventRow(
        kind=optional_enum(pb.EventKind, "EVENT_KIND", e.kind),
        side=optional_enum(pb.Side, "SIDE", e.side),
        actor_court=e.actor_court,
        at=from_ts(e.at),
        text=e.text,
        court_id=e.court_id,
        return_reason=optional_enum(pb.ReturnReason, "RETURN_REASON", e.return_reason),
        result=optional_enum(pb.CompletionResult, "COMPLETION_RESULT", e.result),
    )


@dataclass(frozen=True)
class ClockRow:
    goal: str
    instance: int
    state: str
    period: str
    due_at: datetime
    remaining: str
    court: str
    source: str
    on_breach: str


def _clock_row(g: pb.SlaGoal) -> ClockRow:
    return ClockRow(
        goal=g.goal,
        instance=g.instance,
        state=optional_enum(pb.SlaState, "SLA_STATE", g.state),
        period=g.period,
        due_at=from_ts(g.due_at),
        remaining=g.remaining,
        court=g.court,
        source=g.source,
        on_breach=g.on_breach,
    )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def create_board(
    coordinator: Coordinator, replica: Replica | None = None, settings: BoardSettings | None = None
) -> Starlette:
    """The board's ASGI application for one coordinator."""
    return Board(coordinator, replica, settings or BoardSettings()).app()
