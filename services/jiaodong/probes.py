"""The metrics and probe port of one service: plain HTTP, no client certificate, no data.

- ``GET /metrics``: the service's Prometheus series (jiaodong.metrics);
- ``GET /healthz``: liveness. Served by the service's own event loop, so an answer means the
  process is up and its loop responsive (a wedged loop answers nothing and the probe times out);
- ``GET /readyz``: readiness. 200 while the service's gRPC health is SERVING, else 503 with the
  reason as one line of plain text (what is down: the database, the NATS link, the consumer).

It is meant for loopback or a pod-local address: the series carry counts and codes only, never a
delegation or a person, but they are still nobody else's business. uvicorn runs in the service's
loop, as the board does (both are jiaodong.api.web.server's EmbeddedHttp); the composition root
wires it.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from jiaodong.api.web.server import EmbeddedHttp
from jiaodong.metrics import Metrics

# Whether the service is ready, and if not, why (one line, no personal data).
Readiness = Callable[[], tuple[bool, str]]


def parse_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) -> (host, port); ValueError naming JD_METRICS otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"JD_METRICS takes HOST:PORT (e.g. 127.0.0.1:9464), not {text!r}")
    return host.strip("[]"), int(port)


def probe_app(metrics: Metrics, readiness: Readiness) -> Starlette:
    async def scrape(_: Request) -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        ready, reason = readiness()
        if ready:
            return PlainTextResponse("ready\n")
        return PlainTextResponse(f"not ready: {reason}\n", status_code=503)

    return Starlette(
        routes=[
            Route("/metrics", scrape, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ]
    )


class ProbeServer(EmbeddedHttp):
    """The metrics and probe port of one service (``start``, ``stop``, ``url``)."""

    def __init__(self, address: str, metrics: Metrics, readiness: Readiness) -> None:
        host, port = parse_address(address)
        super().__init__(
            "metrics", probe_app(metrics, readiness), host, port, timeout_graceful_shutdown=1
        )
