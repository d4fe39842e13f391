"""The Prometheus series of one service (node or coordinator), in a registry of its own.

Each service owns a ``Metrics``: several services in one process (the tests, the demo) never share
a series. Two kinds of figures:

- events counted where they happen: every gRPC call by method and status code, with its latency
  (``RpcMetrics``, the outermost server interceptor, so the security gate's refusals are counted
  with their codes too), and the coordinator's SLA sweeps (``count_sweep``);
- states read when Prometheus scrapes: ``refresh`` functions (the composition root registers them:
  a bounded database query, the transport's counters) run before each exposition, within a bound.

This module imports nothing of the project but jiaodong.grpc_shapes, so any layer may use it;
the composition root (jiaodong.bootstrap) decides what is measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import grpc
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jiaodong.grpc_shapes import rewrapped

log = structlog.get_logger("jiaodong.metrics")

# Latency buckets of an RPC, seconds: a read answers in milliseconds, a create commits (fsync).
RPC_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The longest the scrape-time readings may take together; a slow one keeps its last values.
REFRESH_SECONDS = 5.0

Refresh = Callable[[], Awaitable[None]]


class Metrics:
    """One service's series. Prometheus tells services apart by the target it scraped (``job``
    and ``instance``); ``jiaodong_service_info{service="coordinator"}`` (or ``node-qingdao``...)
    names the service behind a target, for a dashboard to join on."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Info("jiaodong_service", "Which service this is", registry=r).info({"service": service})
        self.rpcs = Counter(
            "jiaodong_rpc",
            "gRPC calls handled, by method and status code",
            ["method", "code"],
            registry=r,
        )
        self.rpc_seconds = Histogram(
            "jiaodong_rpc_duration_seconds",
            "Time to handle a gRPC call, by method",
            ["method"],
            buckets=RPC_BUCKETS,
            registry=r,
        )
        self.sla_actions = Counter(
            "jiaodong_sla_actions",
            "What the coordinator's SLA sweeps asked for: warnings, breaches, automatic urges, "
            "escalations and withdrawals, and reminders of coming operations",
            ["kind"],
            registry=r,
        )
        self._refreshes: list[Refresh] = []
        self._lock = asyncio.Lock()

    def gauge(self, name: str, documentation: str, labels: Iterable[str] = ()) -> Gauge:
        """A gauge in this registry (set by a ``refresh``)."""
        return Gauge(name, documentation, list(labels), registry=self.registry)

    def on_scrape(self, refresh: Refresh) -> None:
        """Run ``refresh`` before each exposition (it sets gauges from a fresh reading)."""
        self._refreshes.append(refresh)

    def collect_from(self, collect: Callable[[], Iterable[Metric]]) -> None:
        """Series built at exposition from counters kept elsewhere (no I/O in ``collect``)."""
        self.registry.register(_Reading(collect))

    def count_sweep(self, kinds: Mapping[str, int]) -> None:
        """Count what one SLA sweep asked for, by the event kind (``SLA_WARNING``, ``URGED``...)."""
        for kind, n in kinds.items():
            if n:
                self.sla_actions.labels(kind.lower()).inc(n)

    async def exposition(self) -> bytes:
        """The text format of every series, after the scrape-time readings (bounded: a reading
        that does not finish in time leaves its gauges as they were)."""
        async with self._lock:
            if self._refreshes:
                readings = [asyncio.ensure_future(r()) for r in self._refreshes]
                done, pending = await asyncio.wait(readings, timeout=REFRESH_SECONDS)
                for task in pending:
                    task.cancel()
                for task in done:
                    if task.exception() is not None:
                        log.warning(
                            "metrics_reading_failed",
                            service=self.service,
                            error=type(task.exception()).__name__,
                        )
                if pending:
                    log.warning("metrics_reading_slow", service=self.service, slow=len(pending))
            return generate_latest(self.registry)

    def interceptor(self) -> RpcMetrics:
        return RpcMetrics(self)


def counter(
    name: str,
    documentation: str,
    values: Mapping[Any, float],
    labels: Iterable[str] = (),
) -> Metric:
    """A counter family from totals kept elsewhere (``values``: label values -> total)."""
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


def gauge(
    name: str,
    documentation: str,
    values: Mapping[Any, float],
    labels: Iterable[str] = (),
) -> Metric:
    """A gauge family from values kept elsewhere (``values``: label values -> value)."""
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for key, value in values.items():
        family.add_metric(list(key), value)
    return family


class _Reading(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return list(self._collect())


def _code_name(context: Any, error: BaseException | None) -> str:
    """The status code a call ended with: what the handler (or the gate) set or aborted with;
    OK when it returned; CANCELLED or UNKNOWN when it raised without one."""
    code: Any = None
    try:
        code = context.code()
    except Exception:  # noqa: BLE001 - an older gRPC without ServicerContext.code(): guessed below
        code = None
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int):
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return str(status.name)
    if error is None:
        return "OK"
    if isinstance(error, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"


def _short(method: str) -> str:
    """``/jiaodong.v1.CourtNodeService/Get`` -> ``CourtNodeService/Get``: the method label."""
    service, _, name = method.lstrip("/").partition("/")
    return f"{service.rsplit('.', 1)[-1]}/{name}"


class RpcMetrics(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts every call by method and final status code, and times it. Placed first of the
    server's interceptors: the gate's refusals (UNAUTHENTICATED, PERMISSION_DENIED,
    RESOURCE_EXHAUSTED) are counted too. Only methods the server has are counted (an unknown
    one gets no handler), so the label values stay bounded."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = _short(details.method)

        def timed(inner: Callable[..., Any], _streamed: bool, streaming: bool) -> Any:
            return (self._stream if streaming else self._call)(method, inner)

        return rewrapped(handler, timed) or handler

    def _done(self, method: str, context: Any, started: float, error: BaseException | None) -> None:
        self.metrics.rpcs.labels(method, _code_name(context, error)).inc()
        self.metrics.rpc_seconds.labels(method).observe(time.perf_counter() - started)

    def _call(self, method: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        async def behavior(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            try:
                reply = await inner(request, context)
            except BaseException as exc:
                self._done(method, context, started, exc)
                raise
            self._done(method, context, started, None)
            return reply

        return behavior

    def _stream(self, method: str, inner: Callable[..., Any]) -> Callable[..., Any]:
        async def behavior(request: Any, context: Any) -> AsyncIterator[Any]:
            started = time.perf_counter()
            try:
                async for item in inner(request, context):
                    yield item
            except BaseException as exc:
                self._done(method, context, started, exc)
                raise
            self._done(method, context, started, None)

        return behavior
