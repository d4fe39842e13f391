"""The board's HTTPS server: uvicorn in the coordinator's event loop, started and stopped with it.

TLS always, with the coordinator's own certificate. A client certificate from the platform's CA
is asked for and verified at the handshake (an operator's or auditor's identity, as on gRPC); a
browser without one gets in only with the development login token, when one is configured. The
verified certificate is handed to the application in the ASGI TLS extension
(``scope["extensions"]["tls"]["client_cert_chain"]``), which uvicorn does not fill itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Generator
from typing import Any

import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from jiaodong.security.certs import TlsFiles

log = structlog.get_logger("jiaodong.board")


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    """Server TLS with the service's certificate; a client certificate is optional but, when
    given, must be issued by the platform's CA (the handshake fails otherwise)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.cert), str(files.key))
    context.load_verify_locations(cafile=str(files.ca))
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _with_client_cert(app: Any, pem: str | None) -> Any:
    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = {"client_cert_chain": [pem] if pem else []}
            scope["extensions"] = extensions
        await app(scope, receive, send)

    return wrapped


class CertifiedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, passing on the client certificate verified at the handshake
    (asyncio calls ``connection_made`` after the handshake, once per connection)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        pem = ssl.DER_cert_to_PEM_cert(der) if der else None
        self.app = _with_client_cert(self.app, pem)


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signals to its host (the service stops it)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int, what: str) -> socket.socket:
    """The listening socket (port 0: a free one); a port in use is an error, never shared."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(f"could not bind the {what} port {host}:{port}: {exc}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class EmbeddedHttp:
    """uvicorn in the service's own event loop, started and stopped with it: ``start`` binds and
    serves, ``stop`` ends it gracefully (bounded). The board (HTTPS) and the metrics and probe
    port (plain HTTP, jiaodong.probes) are both one of these. Requests are never logged: the
    board's access log would name the login token in a URL, the probes' would drown the log."""

    def __init__(
        self, name: str, app: Any, host: str, port: int, *, scheme: str = "http", **config: Any
    ) -> None:
        self.name = name
        self.scheme = scheme
        self.sock = bind(host, port, name)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.server = EmbeddedServer(
            uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", **config)
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve([self.sock]), name=f"{self.name}-http")
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises why it did not start
                raise RuntimeError(f"the {self.name} HTTP server stopped at start")
            await asyncio.sleep(0.01)
        log.info("http_serving", server=self.name, url=self.url)

    def refuse_new(self) -> None:
        """Take no further requests (the board: before its live streams are ended)."""
        self.server.should_exit = True

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except TimeoutError:
            self._task.cancel()
        except Exception as exc:  # noqa: BLE001 - a failed stop must not stop the others
            log.error("http_stop_failed", server=self.name, error=str(exc))
        self.sock.close()


class BoardServer(EmbeddedHttp):
    """The board's HTTPS server, with the coordinator's certificate (see the module doc)."""

    def __init__(self, app: Any, host: str, port: int, files: TlsFiles) -> None:
        context = tls_context(files)
        super().__init__(
            "board",
            app,
            host,
            port,
            scheme="https",
            http=CertifiedH11Protocol,
            ssl_context_factory=lambda _config, _default: context,
            timeout_graceful_shutdown=2,
        )
