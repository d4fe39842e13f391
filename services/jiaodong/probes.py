"""The metrics and probe port of one service: plain HTTP, no client certificate, no data.

- ``GET /metrics``: the service's Prometheus series (jiaodong.metrics);
- ``GET /healthz``: liveness. Served by the service's own event loop, so an answer means the
  process is up and its loop responsive (a wedged loop answers nothing and the probe times out);
- ``GET /readyz``: readiness. 200 while the service's gRPC health is SERVING, else 503 with the
  reason as one line of plain text (what is down: the database, the NATS link, the consumer).

It is meant for loopback or a pod-local address: the series carry counts and codes only, never a
delegation or a person, but they are still nobody else's business. uvicorn runs in the service's
loop, as the board does (jiaodong.api.web.server); this module imports nothing of the project
beyond jiaodong.metrics, so the composition root wires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from jiaodong.metrics import Metrics

log = structlog.get_logger("jiaodong.probes")

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


class _Embedded(uvicorn.Server):
    """A uvicorn server that leaves signals to its host service."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0: a free one). A port in use is an error, never shared."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"could not bind the metrics port {host}:{port}: {exc}") from exc
    sock.listen(64)
    sock.setblocking(False)
    return sock


class ProbeServer:
    """``start`` binds and serves in the running loop; ``stop`` ends it (bounded)."""

    def __init__(self, address: str, metrics: Metrics, readiness: Readiness) -> None:
        host, port = parse_address(address)
        self.sock = _bind(host, port)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        config = uvicorn.Config(
            probe_app(metrics, readiness),
            log_config=None,
            access_log=False,  # probes every few seconds would drown the service's log
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = _Embedded(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve([self.sock]), name="probes-http")
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises why it did not start
                raise RuntimeError("the metrics HTTP server stopped at start")
            await asyncio.sleep(0.01)
        log.info("metrics_serving", url=self.url)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except TimeoutError:
            self._task.cancel()
        except Exception as exc:  # noqa: BLE001 - a failed stop must not stop the others
            log.error("metrics_stop_failed", error=str(exc))
        self.sock.close()
