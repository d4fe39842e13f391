"""JetStream transport: the outbox relay and the durable pull consumer.

The database is the record and the bus only carries: the relay publishes committed outbox rows with
``Nats-Msg-Id`` (so the broker drops a re-publish inside its window), and the consumer acks a
message only after its effect is committed. A message that cannot be decoded, or whose handler
keeps failing, is parked as a dead letter in the database and acked, so it never blocks the ones
behind it.

On an open broker every service creates the streams and its own consumer. On a secured broker
(``BusSettings.auth``, see jiaodong.security.nats_config) a city node may not: it runs with
``provision=False`` and only binds to the consumer the coordinator provisions for it
(``provision_consumers``), waiting for it at start and whenever it goes missing.

A link that cannot wedge: when the broker stops reading our socket (a half-open or frozen link),
nats-py can wait without bound in a publish and in its own reconnect (``wait_closed`` on a socket
whose peer never reads, nats-io/nats.py#671), and the pull consumer on that connection stops. So
the client pings (``ping_interval`` x ``max_outstanding_pings``), bounds forced flushes
(``flush_timeout``), every publish runs as a task awaited with a bound (never relying on
cancelling it), and a watchdog replaces the whole connection when rows wait without publish
progress, or the consumer makes no progress while messages are pending, or the broker answers
nothing, for ``stall_seconds``: it aborts the old socket, then connects anew and restarts the
relay and the consumers (``relay_stalled`` in the log). A re-published row keeps its
``Nats-Msg-Id`` (the row's own id), so the broker's duplicate window drops a copy.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import nats
import structlog
from google.protobuf.message import DecodeError
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from jiaodong.bus.auth import NatsAuth
from jiaodong.bus.flow import Flow
from jiaodong.bus.subjects import MAX_DELIVER, STREAMS, ConsumerSpec, Kind
from jiaodong.domain.clock import Clock
from jiaodong.domain.errors import DomainError, HistoryConflict
from jiaodong.domain.ids import new_id
from jiaodong.v1 import bus_pb2

log = structlog.get_logger("jiaodong.bus")

Handler = Callable[[str, bus_pb2.Envelope], Awaitable[None]]
# Answers a request (core NATS request/reply): the request's payload in, the reply's out.
Responder = Callable[[bytes], Awaitable[bytes]]
# Applies a fetched batch in one transaction; per message None (applied) or why it failed.
BatchHandler = Callable[
    [Sequence[tuple[str, bus_pb2.Envelope]]], Awaitable[Sequence[BaseException | None]]
]
MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
MAX_SUBJECT = 120
ERROR_EVERY = 10.0  # seconds between two log lines of the same nats-py error
T = TypeVar("T")


class Queued(Protocol):
    """A committed message waiting in a service's outbox."""

    @property
    def id(self) -> int | None: ...

    @property
    def message_id(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


class Outbox(Protocol):
    """The service's side of the relay and of parking: its database's outbox and dead letters
    (``store.outbox.DatabaseOutbox``). The transport reads committed rows, never writes state."""

    async def unpublished(self, limit: int) -> Sequence[Queued]: ...

    async def mark_published(self, ids: Sequence[int], now: datetime) -> None: ...

    async def oldest_unpublished(self) -> datetime | None: ...

    async def park(
        self, subject: str, message_id: str, reason: str, payload: bytes, now: datetime
    ) -> None: ...


class Permanent(Exception):
    """A message that can never be applied; park it at once."""


@dataclass
class BusSettings:
    """``auth``: TLS files and inbox prefix for a secured broker (None: an open broker).
    ``provision``: create the streams and this service's consumer (False: only bind to a consumer
    someone else provisions, waiting up to ``bind_timeout`` seconds at start).
    ``provision_consumers``: further consumers to create and keep (the coordinator's, for the
    nodes), ensured at start, when the streams or own consumer were lost, and every
    ``provision_check_seconds``.

    The link: ``ping_interval`` seconds between client pings, ``max_outstanding_pings`` pings
    unanswered before nats-py calls the connection stale; ``flush_timeout`` bounds a forced flush
    of nats-py's pending buffer; ``publish_timeout`` bounds a publish's answer (PubAck);
    ``stall_seconds`` without progress and the watchdog replaces the connection; the first
    connect gives up after ``start_timeout`` seconds (``NatsUnreachable``).

    ``watch``: consumers whose backlog (num_pending) is measured every ``flow_seconds``, with the
    age of the oldest unpublished outbox row, into ``Transport.flow`` (logged as ``flow``)."""

    url: str
    name: str
    replicas: int = 1
    fetch_batch: int = 64
    relay_batch: int = 256
    auth: NatsAuth | None = None
    provision: bool = True
    provision_consumers: tuple[ConsumerSpec, ...] = ()
    bind_timeout: float = 60.0
    provision_check_seconds: float = 30.0
    ping_interval: float = 5.0
    max_outstanding_pings: int = 2
    flush_timeout: float = 5.0
    publish_timeout: float = 5.0
    stall_seconds: float = 15.0
    start_timeout: float = 30.0
    watch: tuple[ConsumerSpec, ...] = ()
    flow_seconds: float = 5.0


# Seconds an empty fetch lingers at the broker before it is asked again.
FETCH_WAIT = 1.0
# Seconds the relay sleeps with nothing to publish unless woken: every commit through the core
# wakes it, so this only bounds how late a row written any other way goes out.
RELAY_POLL = 1.0


class NatsUnreachable(RuntimeError):
    """The first connection to the broker did not succeed within the start-up deadline."""

    def __init__(self, url: str, seconds: float, last_error: BaseException | None) -> None:
        self.url = shown_url(url)
        reason = f" (last error: {last_error})" if last_error else ""
        super().__init__(
            f"cannot connect to NATS at {self.url} within {seconds:g}s{reason}; check "
            "JD_NATS_URL / --nats-url and that nats-server is running and reachable"
        )


class PublishStuck(Exception):
    """A publish did not finish within its bound (the link may be frozen)."""


class NoAnswer(Exception):
    """A request (core NATS request/reply) got no answer in time: nobody listens on the subject,
    the listener did not answer, or this service has no link."""


def shown_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe to log or print)."""
    return re.sub(r"//([^:/@,]+):[^@/,]*@", r"//\1:***@", url)


async def connect(
    url: str,
    name: str,
    timeout: float = 20.0,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
    auth: NatsAuth | None = None,
    settings: BusSettings | None = None,
) -> NatsClient:
    """Connect within ``timeout`` seconds (``NatsUnreachable`` naming the URL otherwise), then
    keep reconnecting forever if the broker goes away. With ``auth``: TLS with the service's
    client certificate, and its own inbox prefix. The link options (pings, flush timeout) come
    from ``settings``."""
    link = settings or BusSettings(url=url, name=name)

    said: dict[str, tuple[float, int]] = {}  # per error text: when last logged, repeats since

    async def _err(exc: Exception) -> None:
        # A frozen link or a broker away repeats the same error many times a second: log each
        # text at most every ERROR_EVERY seconds, with how often it came meanwhile.
        text, now = str(exc), time.monotonic()
        at, repeats = said.get(text, (-ERROR_EVERY, 0))
        if now - at < ERROR_EVERY:
            said[text] = (at, repeats + 1)
            return
        if len(said) > 100:
            said.clear()
        said[text] = (now, 0)
        log.warning("nats_error", error=text, service=name, repeated=repeats)

    secure: dict[str, Any] = {}
    if auth is not None:
        secure = {"tls": auth.ssl_context(), "inbox_prefix": auth.inbox_prefix}

    nc = NatsClient()
    # nats-py retries a first connect forever when reconnecting is allowed (max_reconnect_attempts
    # -1): the attempt runs as a task awaited with the deadline, and is abandoned after it.
    attempt = asyncio.create_task(
        nc.connect(
            servers=[u.strip() for u in url.split(",") if u.strip()],
            name=name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,  # type: ignore[arg-type]  # any number of seconds
            connect_timeout=2,
            allow_reconnect=True,
            ping_interval=link.ping_interval,  # type: ignore[arg-type]  # any number of seconds
            max_outstanding_pings=link.max_outstanding_pings,
            flush_timeout=link.flush_timeout,
            error_cb=_err,
            reconnected_cb=on_reconnect,
            **secure,
        ),
        name="nats-connect",
    )
    try:
        done, _ = await asyncio.wait({attempt}, timeout=timeout)
    finally:
        if not attempt.done():
            attempt.cancel()
            await _abandon(nc, attempt)
    if attempt in done:
        attempt.result()  # an error nats-py gave up on at once (e.g. a refused certificate)
        return nc
    raise NatsUnreachable(url, timeout, nc.last_error)


async def _abandon(nc: NatsClient, *tasks: asyncio.Task[Any]) -> None:
    """Give up on a client: abort its socket (a graceful close can wait forever on a peer that
    does not read), close it and wait for ``tasks`` a short while; what is left keeps running
    unobserved until it ends on the closed socket."""
    abort_socket(nc)
    closing = asyncio.create_task(_close_quietly(nc), name="nats-close")
    pending = {closing, *tasks}
    with contextlib.suppress(Exception):
        _, pending = await asyncio.wait(pending, timeout=3)
    for task in pending:
        task.cancel()
        _ORPHANS.add(task)
        task.add_done_callback(_forget)


def abort_socket(nc: NatsClient | None) -> None:
    """Drop the client's TCP connection at once, discarding unsent data. nats-py offers no way
    to: its close and reconnect wait in ``wait_closed()`` for a peer that may never read again
    (nats-io/nats.py#671), so this reaches the asyncio transport under its stream writer."""
    stream = getattr(getattr(nc, "_transport", None), "_io_writer", None)
    socket_transport = getattr(stream, "transport", None)
    if socket_transport is not None:
        with contextlib.suppress(Exception):
            socket_transport.abort()


async def _close_quietly(nc: NatsClient) -> None:
    with contextlib.suppress(Exception):
        await nc.close()


# Tasks given up on (a publish or close on an abandoned connection): kept referenced until they
# end, their outcome retrieved, so asyncio neither collects them early nor warns about them.
_ORPHANS: set[asyncio.Task[Any]] = set()


def _forget(task: asyncio.Task[Any]) -> None:
    _ORPHANS.discard(task)
    if not task.cancelled():
        task.exception()


async def _within(work: Awaitable[T], bound: float, name: str) -> asyncio.Task[T]:
    """Run ``work`` as a task and wait for it at most ``bound`` seconds; the task is returned
    done or, past the bound, still running and left to end by itself (kept in ``_ORPHANS``):
    nats-py may swallow a cancellation while it waits to flush, so nothing here relies on one."""
    task = asyncio.ensure_future(work)
    task.set_name(name)
    try:
        await asyncio.wait({task}, timeout=bound)
    finally:
        if not task.done():
            _ORPHANS.add(task)
            task.add_done_callback(_forget)
    return task


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    """Create the streams if missing. Existing streams are left as operators configured them
    (replicas, limits); only a missing one is created, with ``replicas``."""
    for spec in STREAMS:
        try:
            await js.stream_info(spec.name)
            continue
        except NotFoundError:
            pass
        config = api.StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            retention=api.RetentionPolicy.LIMITS,
            storage=api.StorageType.FILE,
            max_age=float(spec.max_age_seconds),
            duplicate_window=float(spec.duplicate_window_seconds),
            num_replicas=replicas,
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Created meanwhile by another service starting at the same time.
            await js.stream_info(spec.name)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    config = api.ConsumerConfig(
        durable_name=spec.durable,
        filter_subjects=list(spec.filter_subjects),
        ack_policy=api.AckPolicy.EXPLICIT,
        deliver_policy=api.DeliverPolicy.ALL,
        max_deliver=spec.max_deliver,
        ack_wait=float(spec.ack_wait_seconds),
        max_ack_pending=spec.max_ack_pending,
    )
    await js.add_consumer(spec.stream, config)


async def consumer_exists(js: JetStreamContext, spec: ConsumerSpec, timeout: float = 2) -> bool:
    """Whether the consumer is there (False only on the broker's "not found")."""
    try:
        await js.consumer_info(spec.stream, spec.durable, timeout=timeout)
    except NotFoundError:
        return False
    return True


class Transport:
    """One service's link to JetStream: relay out, consume in, and a watchdog that replaces the
    connection when it stops making progress."""

    def __init__(self, settings: BusSettings, outbox: Outbox, clock: Clock) -> None:
        self.settings = settings
        self.outbox = outbox
        self.clock = clock
        self.nc: NatsClient | None = None
        self.js: JetStreamContext | None = None
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.published = 0
        self.consumed = 0
        self.parked = 0
        self.replaced = 0  # connections replaced by the watchdog
        self.redelivered = 0  # messages fetched that had been delivered before (nak, ack_wait)
        # Messages published and applied, by (direction, kind): what the metrics export.
        self.traffic: collections.Counter[tuple[str, str]] = collections.Counter()
        # Set whenever the connection comes back: reconciliation runs at once.
        self.reconnected = asyncio.Event()
        self._provisioned_at = 0.0
        # What the running relay and consumers read: (spec, handler, batch) per consumer.
        self._consumers: list[tuple[ConsumerSpec, Handler, BatchHandler | None]] = []
        # The relay and consumer loops of an older connection end when this moves on.
        self._generation = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._progress = Progress()
        # The bus's backlog as last measured (see BusSettings.watch), and its measuring task.
        self.flow = Flow()
        self._flow_task: asyncio.Task[None] | None = None
        # Each consumer's backlog as the broker last gave it: (num_pending, event-loop time).
        self._counted: dict[str, tuple[int, float]] = {}
        # Subjects this service answers requests on (subscribed again on every new connection).
        self._responders: dict[str, Responder] = {}

    async def start(
        self,
        consumer: ConsumerSpec,
        handler: Handler,
        batch: BatchHandler | None = None,
        also: Sequence[tuple[ConsumerSpec, Handler]] = (),
    ) -> None:
        """Connect (within ``start_timeout``), provision or bind the consumer, and run the relay,
        the consumer and the watchdog; with ``batch``, each fetched batch is applied in one
        transaction (group commit). ``also``: further consumers of this service, each fetched on
        its own and applied one message per transaction (the coordinator's digests), so neither
        queues behind the other. Cancelling it at any stage leaves nothing running."""
        self._consumers = [(consumer, handler, batch), *((s, h, None) for s, h in also)]
        await self._connect(self.settings.start_timeout)
        try:
            for spec, _, _ in self._consumers:
                await self._provision_or_bind(spec)
        except BaseException:
            await self._drop_link()
            raise
        self._spawn()
        self._watchdog = asyncio.create_task(self._watch(), name="bus-watchdog")
        if self.settings.watch:
            self._flow_task = asyncio.create_task(self._watch_flow(), name="bus-flow")

    async def _connect(self, timeout: float) -> None:
        self.nc = await connect(
            self.settings.url,
            self.settings.name,
            timeout=timeout,
            on_reconnect=self._reconnected,
            auth=self.settings.auth,
            settings=self.settings,
        )
        self.js = self.nc.jetstream()
        for subject, responder in self._responders.items():
            await self._subscribe(subject, responder)
        log.info("nats_connected", service=self.settings.name, url=shown_url(self.settings.url))

    async def _reconnected(self) -> None:
        log.info("nats_reconnected", service=self.settings.name)
        # A new link gets a whole bound from now: a question asked on the old socket that times
        # out after the reconnect must not make the watchdog replace the link just made.
        self._progress.fresh_link(asyncio.get_running_loop().time())
        self.reconnected.set()

    async def _provision_or_bind(self, consumer: ConsumerSpec) -> None:
        if self.settings.provision:
            # A cluster may still be electing its JetStream leader: wait for it rather than fail.
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(60),
                wait=wait_exponential(multiplier=0.2, max=3),
                retry=retry_if_exception_type((nats.errors.Error, TimeoutError)),
                before_sleep=_jetstream_not_ready,
                reraise=True,
            ):
                with attempt:
                    await self._provision(consumer)
        else:
            await self._wait_for_consumer(consumer)

    def _spawn(self) -> None:
        """Run the relay and the consumers on the current connection."""
        self._progress = Progress(now=asyncio.get_running_loop().time())
        self._tasks = [asyncio.create_task(self._relay(), name="outbox-relay")] + [
            asyncio.create_task(
                self._consume(spec, handler, batch), name=f"consumer-{spec.durable}"
            )
            for spec, handler, batch in self._consumers
        ]

    def _live(self, generation: int) -> bool:
        """Whether a loop started on connection ``generation`` should keep running."""
        return generation == self._generation and not self._stopping.is_set()

    async def publish_direct(self, subject: str, envelope: bus_pb2.Envelope) -> None:
        """Publish a message that needs no outbox (a digest: ephemeral, rebuilt each round)."""
        if not envelope.message_id:
            envelope.message_id = new_id()
        await self._publish(
            subject, envelope.SerializeToString(deterministic=True), envelope.message_id
        )
        self.traffic["published", kind_label(subject)] += 1

    # -- request/reply (core NATS, no stream: operators' questions that want an answer now) ----

    async def serve(self, subject: str, responder: Responder) -> None:
        """Answer requests on ``subject`` with ``responder``, on this connection and on every one
        that replaces it. A responder that raises sends no answer (the asker's bound runs out)."""
        self._responders[subject] = responder
        if self.nc is not None and self.nc.is_connected:
            await self._subscribe(subject, responder)

    async def _subscribe(self, subject: str, responder: Responder) -> None:
        nc = self.nc
        assert nc is not None

        async def answer(msg: Msg) -> None:
            if not msg.reply:
                return
            try:
                reply = await responder(msg.data)
            except Exception as exc:  # noqa: BLE001 - no answer; the asker times out and says so
                log.error("request_unanswered", subject=subject, error_type=type(exc).__name__)
                return
            with contextlib.suppress(nats.errors.Error):
                await msg.respond(reply)

        await nc.subscribe(subject, cb=answer)

    async def request(self, subject: str, payload: bytes, timeout: float) -> bytes:
        """Ask on ``subject`` and wait at most ``timeout`` seconds for the answer (``NoAnswer``
        otherwise: nobody listening, no answer in time, or no link)."""
        nc = self.nc
        if nc is None or not nc.is_connected:
            raise NoAnswer("not connected to NATS")
        task = await _within(nc.request(subject, payload, timeout=timeout), timeout + 1, "ask")
        if not task.done():
            raise NoAnswer(f"no answer within {timeout:g}s")
        try:
            return task.result().data
        except nats.errors.NoRespondersError:
            raise NoAnswer("nobody answers on this subject") from None
        except (nats.errors.TimeoutError, TimeoutError):
            raise NoAnswer(f"no answer within {timeout:g}s") from None
        except nats.errors.Error as exc:
            raise NoAnswer(f"{type(exc).__name__}") from None

    async def _publish(self, subject: str, payload: bytes, message_id: str) -> None:
        """Publish and wait for the broker's answer, within a bound. The publish runs as a task
        that is left to end by itself if it overruns (nats-py may swallow a cancellation while
        it waits to flush); the watchdog replaces the connection it is stuck on."""
        js = self.js
        if js is None:
            raise PublishStuck("not connected")
        bound = self.settings.publish_timeout + self.settings.flush_timeout + 1.0
        task = await _within(
            js.publish(
                subject,
                payload,
                headers={"Nats-Msg-Id": message_id},
                timeout=self.settings.publish_timeout,
            ),
            bound,
            "nats-publish",
        )
        if not task.done():
            raise PublishStuck(f"publish unanswered after {bound:g}s")
        task.result()

    async def _provision(self, consumer: ConsumerSpec) -> None:
        """Create what is missing: the streams, this service's consumer and the consumers it
        provisions for others."""
        assert self.js is not None
        await ensure_streams(self.js, self.settings.replicas)
        await ensure_consumer(self.js, consumer)
        for spec in self.settings.provision_consumers:
            await ensure_consumer(self.js, spec)
        self._provisioned_at = asyncio.get_running_loop().time()

    async def _check_provisioned(self) -> None:
        """Recreate any provisioned consumer that went missing (a consumer deleted by hand, or
        lost with the broker's store while this service's own consumer survived)."""
        assert self.js is not None
        self._provisioned_at = asyncio.get_running_loop().time()
        for spec in self.settings.provision_consumers:
            if not await consumer_exists(self.js, spec):
                log.warning(
                    "provisioned_consumer_missing", stream=spec.stream, consumer=spec.durable
                )
                await ensure_streams(self.js, self.settings.replicas)
                await ensure_consumer(self.js, spec)

    async def _wait_for_consumer(self, consumer: ConsumerSpec) -> None:
        """Without provisioning rights: wait until our consumer exists (the coordinator creates
        it), up to ``bind_timeout`` seconds, saying what is awaited."""
        assert self.js is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.settings.bind_timeout
        logged = -1.0
        last: Exception | None = None
        while True:
            try:
                if await consumer_exists(self.js, consumer):
                    if logged >= 0:
                        log.info(
                            "consumer_ready", stream=consumer.stream, consumer=consumer.durable
                        )
                    return
                last = None
            except (nats.errors.Error, TimeoutError) as exc:
                last = exc
            now = loop.time()
            if now >= deadline:
                raise RuntimeError(
                    f"JetStream consumer {consumer.stream}/{consumer.durable} does not exist "
                    f"after {self.settings.bind_timeout:.0f}s: this service may only bind to it; "
                    "the coordinator provisions it (is the coordinator running against this "
                    f"broker?){f'; last error: {last}' if last else ''}"
                )
            if logged < 0 or now - logged >= 10:
                logged = now
                log.warning(
                    "waiting_for_consumer",
                    stream=consumer.stream,
                    consumer=consumer.durable,
                    waited=round(now - started, 1),
                    reason="not provisioned yet (the coordinator creates it)"
                    if last is None
                    else str(last),
                )
            await asyncio.sleep(0.5)

    def wake(self) -> None:
        """Tell the relay there is something new in the outbox."""
        self._wake.set()

    async def stop(self) -> None:
        """Drain: finish the message in hand, publish what is committed, then close. Bounded:
        a connection that does not close in time has its socket aborted."""
        self._stopping.set()
        self._wake.set()
        for side in (self._watchdog, self._flow_task):
            if side is not None:
                side.cancel()
                await asyncio.wait({side}, timeout=5)
        self._watchdog = self._flow_task = None
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, timeout=5)
        self._tasks = []
        nc = self.nc
        if nc is not None and not nc.is_closed:
            closing = asyncio.create_task(_flush_and_close(nc), name="nats-close")
            await asyncio.wait({closing}, timeout=5)
            if not closing.done():
                await _abandon(nc, closing)
        self.nc = None

    # -- health --------------------------------------------------------------------------------

    def trouble(self) -> str | None:
        """Why this link is not healthy now (one line, for the log and the readiness probe), or
        None while it is: not connected; committed rows waiting with no publish succeeding for
        the stall bound; or messages pending for a consumer that fetches none for the stall
        bound (the watchdog's own measure, ``Progress.idle_since``, which it refreshes every
        few seconds while the consumer keeps up). The watchdog replaces such a link meanwhile."""
        nc = self.nc
        if nc is None or not nc.is_connected:
            return "NATS link down (reconnecting)"
        now = asyncio.get_running_loop().time()
        bound = self.settings.stall_seconds
        p = self._progress
        if p.relay_stuck_since is not None and now - p.relay_stuck_since >= bound:
            return f"outbox relay: no publish succeeded for over {bound:g}s"
        # The watchdog looks every period (at most 5 s) and may wait that long for an answer.
        slack = 2 * max(min(bound / 5, 5.0), 0.1)
        if self._consumers and now - p.idle_since >= bound + slack:
            return f"consumer: messages pending, none fetched for over {bound:g}s"
        return None

    # -- flow ----------------------------------------------------------------------------------

    async def measure_flow(self) -> Flow:
        """Measure the watched consumers' backlog and the outbox's oldest row once (a consumer
        that does not answer keeps its last value; the broker is asked as the watchdog asks it,
        through a bounded task)."""
        loop = asyncio.get_running_loop()
        lag = dict(self.flow.lag)
        for spec in self.settings.watch:
            # The watchdog asks about this service's own consumers every few seconds: use its
            # answer when it is fresh rather than ask the broker twice.
            seen = self._counted.get(spec.durable)
            if seen is not None and loop.time() - seen[1] < self.settings.flow_seconds:
                lag[spec.durable] = seen[0]
                continue
            counts = await self._consumer_counts(spec, timeout=2.0)
            if counts is not None:
                lag[spec.durable] = int(counts[0])
        oldest = await self.outbox.oldest_unpublished()
        age = 0.0 if oldest is None else max(0.0, (self.clock.now() - oldest).total_seconds())
        self.flow = Flow(lag=lag, outbox_age=round(age, 3), measured_at=loop.time())
        return self.flow

    async def _watch_flow(self) -> None:
        """Measure the flow every ``flow_seconds``; log it when something waits, and once a
        minute anyway. Runs until ``stop``."""
        logged = 0.0
        while not self._stopping.is_set():
            try:
                flow = await self.measure_flow()
                behind = any(flow.lag.values()) or flow.outbox_age >= 1.0
                if behind or flow.measured_at - logged >= 60:
                    logged = flow.measured_at
                    log.info(
                        "flow",
                        service=self.settings.name,
                        consumer_lag=flow.lag,
                        outbox_age=flow.outbox_age,
                    )
            except Exception as exc:  # noqa: BLE001 - measuring must never stop the service
                log.warning("flow_failed", service=self.settings.name, error=str(exc)[:200])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.settings.flow_seconds)

    # -- watchdog ------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Every few seconds: has the link made progress? If not for ``stall_seconds``, replace
        it. Runs until ``stop``."""
        period = max(min(self.settings.stall_seconds / 5, 5.0), 0.1)
        while not self._stopping.is_set():
            await asyncio.sleep(period)
            try:
                stall = await self._stalled()
                if stall is None:
                    continue
                log.error("relay_stalled", service=self.settings.name, **stall)
                await self._replace_link()
            except Exception as exc:  # noqa: BLE001 - the watchdog must outlive any failure
                log.error("watchdog_failed", service=self.settings.name, error=str(exc)[:500])

    async def _stalled(self) -> dict[str, Any] | None:
        """Why the link counts as stalled (what to log), or None while it makes progress: rows
        wait and no publish succeeds; or the broker answers nothing; or messages are pending
        for a consumer that fetches none (and is not at its limit of unacknowledged ones, nor
        applying what it fetched)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        bound = self.settings.stall_seconds
        p = self._progress
        if p.relay_stuck_since is not None and now - p.relay_stuck_since >= bound:
            return {
                "cause": "publish",
                "waiting": p.waiting,
                "stalled_seconds": round(now - p.relay_stuck_since, 1),
            }
        for spec, _, _ in self._consumers:
            counts = await self._consumer_counts(spec, timeout=min(bound / 2, 5.0))
            now = loop.time()
            if counts is None:
                if now - p.answered_at >= bound:
                    return {"cause": "no_answer", "stalled_seconds": round(now - p.answered_at, 1)}
                continue
            p.answered_at = now
            pending, unacknowledged = counts
            room = unacknowledged < spec.max_ack_pending
            if pending == 0 or not room or p.fetched != p.fetched_seen or p.applying:
                p.fetched_seen = p.fetched
                p.idle_since = now
            elif now - p.idle_since >= bound:
                return {
                    "cause": "consumer",
                    "consumer": spec.durable,
                    "pending": pending,
                    "stalled_seconds": round(now - p.idle_since, 1),
                }
        return None

    async def _consumer_counts(self, spec: ConsumerSpec, timeout: float) -> tuple[int, int] | None:
        """A consumer's messages pending and delivered-unacknowledged, as the broker counts them;
        None if it did not answer within ``timeout`` (asked through a task that is left to end
        by itself, like a publish). A missing consumer counts as nothing pending: the consumer
        loop recreates or waits for it."""
        js = self.js
        if js is None:
            return None
        task = await _within(
            js.consumer_info(spec.stream, spec.durable, timeout=timeout),
            timeout + 1.0,
            "nats-consumer-info",
        )
        if not task.done() or task.cancelled():
            return None
        exc = task.exception()
        if isinstance(exc, NotFoundError):
            return (0, 0)
        if exc is not None:
            return None
        info = task.result()
        pending = info.num_pending or 0
        self._counted[spec.durable] = (pending, asyncio.get_running_loop().time())
        return (pending, info.num_ack_pending or 0)

    async def _replace_link(self) -> None:
        """Abort the old socket, let the old relay and consumers end, connect anew (retrying
        until the broker answers or ``stop``) and run the relay and consumers again."""
        self._generation += 1
        self.replaced += 1
        self._wake.set()
        old, self._tasks = self._tasks, []
        await self._drop_link(*old)
        while not self._stopping.is_set():
            try:
                await self._connect(self.settings.start_timeout)
                break
            except Exception as exc:  # noqa: BLE001 - unreachable, refused: try again
                log.warning("nats_reconnect_failed", service=self.settings.name, error=str(exc))
                await asyncio.sleep(1.0)
        if self._stopping.is_set():
            return
        log.info("nats_link_replaced", service=self.settings.name, times=self.replaced)
        self._spawn()
        self.reconnected.set()

    async def _drop_link(self, *tasks: asyncio.Task[None]) -> None:
        nc = self.nc
        if nc is not None:
            await _abandon(nc, *tasks)

    # -- outbox relay --------------------------------------------------------------------------

    async def _relay(self) -> None:
        generation = self._generation
        backoff = 0.1
        while self._live(generation):
            try:
                sent = await self.relay_once()
                backoff = 0.1
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any failure: backs off
                log.warning("relay_failed", error=str(exc), retry_in=backoff)
                if (
                    isinstance(exc, nats.js.errors.NoStreamResponseError)
                    and self.js is not None
                    and self.settings.provision
                ):
                    with contextlib.suppress(Exception):
                        await ensure_streams(self.js, self.settings.replicas)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if sent == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=RELAY_POLL)

    async def relay_once(self) -> int:
        """Publish one batch of committed outbox rows; returns how many were published. A row
        always goes out under its own message id, so a retry is a duplicate the broker drops."""
        rows = await self.outbox.unpublished(self.settings.relay_batch)
        loop = asyncio.get_running_loop()
        self._progress.waiting_rows(len(rows), loop.time())
        done: list[int] = []
        try:
            for row in rows:
                await self._publish(row.subject, row.payload, row.message_id)
                assert row.id is not None
                done.append(row.id)
                self._progress.published_one(loop.time())
                self.traffic["published", kind_label(row.subject)] += 1
        finally:
            if done:
                now = self.clock.now()
                await self.outbox.mark_published(done, now)
                self.published += len(done)
        return len(done)

    # -- consumer ------------------------------------------------------------------------------

    async def _consume(
        self, spec: ConsumerSpec, handler: Handler, batch: BatchHandler | None = None
    ) -> None:
        """Fetch and apply, forever. If the consumer or its stream disappears (a broker that lost
        its store), recreate both (with ``provision``; otherwise wait for the coordinator to) and
        bind again; reconciliation repairs what was lost."""
        assert self.js is not None
        generation = self._generation
        loop = asyncio.get_running_loop()
        sub = None
        idle_since = loop.time()
        waiting_since: float | None = None
        while self._live(generation):
            if (
                sub is not None
                and self.settings.provision_consumers
                and loop.time() - self._provisioned_at >= self.settings.provision_check_seconds
            ):
                with contextlib.suppress(Exception):
                    await self._check_provisioned()
            try:
                if sub is None:
                    if self.settings.provision:
                        await self._provision(spec)
                    elif not await consumer_exists(self.js, spec):
                        now = loop.time()
                        if waiting_since is None or now - waiting_since >= 10:
                            waiting_since = now
                            log.warning(
                                "consumer_missing_waiting",
                                stream=spec.stream,
                                consumer=spec.durable,
                                reason="not provisioned (the coordinator recreates it)",
                            )
                        await asyncio.sleep(1.0)
                        continue
                    waiting_since = None
                    sub = await self.js.pull_subscribe_bind(
                        durable=spec.durable, stream=spec.stream
                    )
                # A fetch that finds nothing lingers at the broker until a message comes (then it
                # returns at once) or the timeout: a longer wait costs no latency, only fewer
                # empty round trips when idle (0.25 s here was 4 per second per consumer).
                msgs = await sub.fetch(batch=self.settings.fetch_batch, timeout=FETCH_WAIT)
            except (TimeoutError, nats.errors.TimeoutError):
                now = loop.time()
                if now - idle_since > 5:
                    idle_since = now
                    if not await self._consumer_exists(spec):
                        log.warning("consumer_missing", consumer=spec.durable)
                        await _unbind(sub)
                        sub = None
                continue
            except Exception as exc:  # noqa: BLE001 - the consumer must outlive any failure: rebinds
                log.warning("fetch_failed", error=str(exc), consumer=spec.durable)
                await _unbind(sub)
                sub = None
                await asyncio.sleep(0.5)
                continue
            idle_since = asyncio.get_running_loop().time()
            self._progress.fetched += len(msgs)
            self.redelivered += sum(1 for m in msgs if _delivered(m) > 1)
            # Applying a batch is work, not a stalled link: on a busy machine 64 messages can
            # take longer than the stall bound, and replacing the link then abandoned the batch
            # (its acks lost, the messages back only after ack_wait) again and again (the
            # overload row, 2026-11-30). A link that stops answering is still caught meanwhile:
            # the watchdog's consumer question goes unanswered ("no_answer").
            self._progress.applying += 1
            try:
                await self._apply(msgs, handler, batch)
            finally:
                self._progress.applying -= 1

    async def _apply(
        self, msgs: Sequence[Msg], handler: Handler, batch: BatchHandler | None
    ) -> None:
        """Apply a fetched batch: in one transaction if the service can, else one by one."""
        if batch is not None:
            try:
                await self._deliver_batch(msgs, batch)
                return
            except Exception as exc:  # noqa: BLE001 - the batch as a whole: one by one now
                log.warning("batch_failed", error=str(exc)[:500], messages=len(msgs))
        for msg in msgs:  # alone, each is applied, parked or retried on its own account
            try:
                await self._deliver(msg, handler)
            except Exception as exc:  # noqa: BLE001 - e.g. the database down: never stop
                log.error("delivery_failed", subject=msg.subject[:120], error=str(exc)[:500])
                with contextlib.suppress(Exception):
                    await msg.nak(delay=1.0)

    async def _consumer_exists(self, spec: ConsumerSpec) -> bool:
        assert self.js is not None
        try:
            return await consumer_exists(self.js, spec)
        except Exception:  # noqa: BLE001 - cannot tell (e.g. disconnected): keep the binding
            return True  # cannot tell (e.g. disconnected): keep the binding

    async def _deliver(self, msg: Msg, handler: Handler) -> None:
        """Apply one message: ack after the handler's commit, park what can never apply, nak
        what may apply later (parked after MAX_DELIVER deliveries)."""
        envelope = bus_pb2.Envelope()
        try:
            envelope = _decoded(msg)
            await handler(msg.subject, envelope)
        except Exception as exc:  # noqa: BLE001 - every failure is answered: parked or retried
            await self._failed(msg, envelope, exc)
            return
        await self._done(msg)

    async def _deliver_batch(self, msgs: Sequence[Msg], batch: BatchHandler) -> None:
        """Apply a fetched batch in one transaction (one commit, one fsync: group commit); each
        message still succeeds or fails alone, and is acked only after the commit."""
        ready: list[tuple[Msg, bus_pb2.Envelope]] = []
        for msg in msgs:
            try:
                ready.append((msg, _decoded(msg)))
            except (DecodeError, Permanent) as exc:
                await self._failed(msg, bus_pb2.Envelope(), exc)
        if not ready:
            return
        outcomes = await batch([(msg.subject, envelope) for msg, envelope in ready])
        for (msg, envelope), failure in zip(ready, outcomes, strict=True):
            if failure is None:
                await self._done(msg)
            else:
                await self._failed(msg, envelope, failure)

    async def _done(self, msg: Msg) -> None:
        self.consumed += 1
        self.traffic["applied", kind_label(msg.subject)] += 1
        with contextlib.suppress(Exception):
            await msg.ack()

    async def _failed(self, msg: Msg, envelope: bus_pb2.Envelope, exc: BaseException) -> None:
        delivered = msg.metadata.num_delivered
        header_id = (msg.headers or {}).get("Nats-Msg-Id", "")
        if isinstance(exc, (DecodeError, Permanent, DomainError, HistoryConflict, ValueError)):
            # ValueError: content that cannot be converted (a timestamp out of range, an unknown
            # enum): it will never apply, so it is parked at once rather than retried.
            await self._park(msg, header_id, f"{type(exc).__name__}: {exc}")
            return
        if delivered >= MAX_DELIVER:
            await self._park(msg, header_id, f"failed {delivered} times: {exc}")
            return
        log.warning(
            "message_retry",
            subject=msg.subject,
            delivered=delivered,
            error=str(exc),
            delegation_id=_delegation_of(envelope),
        )
        with contextlib.suppress(Exception):
            await msg.nak(delay=min(0.2 * 2**delivered, 10.0))

    async def _park(self, msg: Msg, message_id: str, reason: str) -> None:
        now = self.clock.now()
        await self.outbox.park(msg.subject, message_id, reason, msg.data, now)
        self.parked += 1
        log.error("message_parked", subject=msg.subject, message_id=message_id, reason=reason)
        with contextlib.suppress(Exception):
            await msg.ack()


@dataclass
class Progress:
    """What the watchdog reads (event-loop times): since when publishing fails with rows
    waiting, and how many; when the broker last answered; what the consumers fetched."""

    now: float = 0.0
    relay_stuck_since: float | None = None
    waiting: int = 0
    answered_at: float = 0.0
    fetched: int = 0
    fetched_seen: int = 0
    applying: int = 0  # consumers applying a fetched batch now
    idle_since: float = 0.0

    def __post_init__(self) -> None:
        self.answered_at = self.idle_since = self.now

    def fresh_link(self, now: float) -> None:
        """nats-py reconnected by itself: every clock of the watchdog starts again."""
        self.answered_at = self.idle_since = now
        if self.relay_stuck_since is not None:
            self.relay_stuck_since = now

    def waiting_rows(self, count: int, now: float) -> None:
        """The relay read ``count`` unpublished rows: they wait from now (if not already)."""
        self.waiting = count
        if not count:
            self.relay_stuck_since = None
        elif self.relay_stuck_since is None:
            self.relay_stuck_since = now

    def published_one(self, now: float) -> None:
        """A publish succeeded: progress; the next row waits from now."""
        self.waiting = max(self.waiting - 1, 0)
        self.relay_stuck_since = now if self.waiting else None


def _jetstream_not_ready(state: RetryCallState) -> None:
    outcome = state.outcome
    log.warning(
        "jetstream_not_ready",
        waited=round(state.seconds_since_start or 0.0, 1),
        error=str(outcome.exception()) if outcome is not None else "",
    )


async def _flush_and_close(nc: NatsClient) -> None:
    with contextlib.suppress(Exception):
        await nc.flush(timeout=2)
    await _close_quietly(nc)


async def _unbind(sub: JetStreamContext.PullSubscription | None) -> None:
    """Drop a pull subscription's inbox before binding anew."""
    if sub is not None:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return None


def _decoded(msg: Msg) -> bus_pb2.Envelope:
    """The envelope a message carries; Permanent (or DecodeError) if it can never apply."""
    envelope = bus_pb2.Envelope()
    envelope.ParseFromString(msg.data)
    if not envelope.message_id or envelope.WhichOneof("body") is None:
        raise Permanent("envelope without message id or body")
    if not MESSAGE_ID.fullmatch(envelope.message_id):
        raise Permanent("message id is not 1-40 letters, digits, - or _")
    if len(msg.subject) > MAX_SUBJECT:
        raise Permanent(f"subject longer than {MAX_SUBJECT} characters")
    return envelope


def kind_label(subject: str) -> str:
    """A subject's kind for the metrics (its last token), ``other`` for one that is none of ours:
    a label must never take a value from what a peer wrote."""
    kind = subject.rsplit(".", 1)[-1]
    return kind if kind in _KINDS else "other"


_KINDS = frozenset(k.value for k in Kind)


def _delivered(msg: Msg) -> int:
    """How many times the broker has delivered ``msg`` (1: the first time)."""
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # noqa: BLE001 - a message without JetStream metadata: first delivery
        return 1


def _delegation_of(envelope: bus_pb2.Envelope) -> str:
    body = envelope.WhichOneof("body")
    if body == "sync":
        return envelope.sync.delegation.id
    if body == "request":
        return envelope.request.delegation_id
    if body == "refused":
        return envelope.refused.delegation_id
    return ""
