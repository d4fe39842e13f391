"""Mutual TLS for gRPC, the caller's identity from its verified certificate, and the gate every
call passes: authentication, the permission table (jiaodong.domain.authz) and per-caller rate
limits. Handlers read the caller with ``caller()``; no request field or metadata can name it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import grpc
import structlog

from jiaodong.domain.authz import Grant, check_call, is_open, rule_for
from jiaodong.domain.errors import NotAllowed
from jiaodong.domain.identity import BadIdentity, Identity
from jiaodong.domain.ratelimit import RateLimiter
from jiaodong.grpc_shapes import rewrapped
from jiaodong.security.certs import TlsFiles, identity_of

log = structlog.get_logger("jiaodong.security")

_CALLER: ContextVar[tuple[Identity, Grant | None] | None] = ContextVar("jd_caller", default=None)


def caller() -> Identity:
    """The verified identity of the call being handled."""
    found = _CALLER.get()
    if found is None:
        raise NotAllowed("no verified caller identity (the call did not pass the security gate)")
    return found[0]


def caller_grant() -> Grant:
    """The grant under which the current call was let in."""
    found = _CALLER.get()
    if found is None or found[1] is None:
        raise NotAllowed("no grant for this call")
    return found[1]


class Undecodable:
    """Stands in for a request message whose bytes did not parse."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def refuse(self, context: Any) -> None:
        await context.abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the request is not a valid protobuf message of this RPC's type "
            f"({type(self.error).__name__})",
        )


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # noqa: BLE001  DecodeError or whatever a parser raises: refused as INVALID_ARGUMENT
            return Undecodable(exc)

    return parse


async def _checked(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            await request.refuse(context)
        yield request


def _reset(token: Any) -> None:
    # Each RPC runs in its own task, so this is tidiness; a stream closed from another context
    # (cancelled while suspended) cannot reset and need not.
    with contextlib.suppress(ValueError):
        _CALLER.reset(token)


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """TLS with a client certificate from our CA required (refused at the handshake otherwise)."""
    ca, cert, key = files.read()
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )


def channel_credentials(files: TlsFiles) -> grpc.ChannelCredentials:
    ca, cert, key = files.read()
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


def aio_channel(
    address: str, files: TlsFiles, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(address, channel_credentials(files), options=list(options))


def sync_channel(address: str, files: TlsFiles) -> grpc.Channel:
    return grpc.secure_channel(address, channel_credentials(files))


@lru_cache(maxsize=1024)
def _identity_of_pem(pem: bytes) -> Identity:
    return identity_of(pem)


def identity_from_context(context: Any) -> Identity:
    """The identity in the peer's certificate (gRPC verified its chain at the handshake)."""
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    if not pems:
        raise BadIdentity("the connection carries no verified client certificate")
    return _identity_of_pem(bytes(pems[0]))


class SecurityInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Authenticate, authorize and rate-limit every call before its handler runs."""

    def __init__(
        self,
        hosted_courts: Iterable[str] = (),
        limiter: RateLimiter | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.hosted = frozenset(hosted_courts)
        self.limiter = limiter
        self.now = now
        self.denied = 0
        self.limited = 0

    async def intercept_service(
        self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method

        # One guard per call shape; the request argument is a message or an iterator of them.
        # Bidirectional streams: only server reflection (open to every valid certificate).
        def guard(inner: Callable[..., Any], streamed: bool, streaming: bool) -> Any:
            return (self._guard_stream if streaming else self._guard_call)(method, inner, streamed)

        return rewrapped(handler, guard, _tolerant(handler.request_deserializer))

    async def _enter(self, method: str, request: Any, context: Any, streamed: bool) -> Any:
        """Admit the caller, then refuse a request that did not decode (INVALID_ARGUMENT, not the
        UNKNOWN gRPC would give); a streamed request is checked message by message."""
        token = await self._admit(method, context)
        if streamed:
            return token, _checked(request, context)
        if isinstance(request, Undecodable):
            await request.refuse(context)
        return token, request

    def _guard_call(
        self, method: str, inner: Callable[..., Any], streamed: bool
    ) -> Callable[..., Any]:
        async def behavior(request: Any, context: Any) -> Any:
            token, request = await self._enter(method, request, context, streamed)
            try:
                return await inner(request, context)
            finally:
                _reset(token)

        return behavior

    def _guard_stream(
        self, method: str, inner: Callable[..., Any], streamed: bool
    ) -> Callable[..., Any]:
        async def behavior(request: Any, context: Any) -> AsyncIterator[Any]:
            token, request = await self._enter(method, request, context, streamed)
            try:
                async for item in inner(request, context):
                    yield item
            finally:
                _reset(token)

        return behavior

    async def _admit(self, method: str, context: Any) -> Any:
        try:
            identity = identity_from_context(context)
        except BadIdentity as exc:
            self.denied += 1
            log.warning("call_unauthenticated", method=method, reason=str(exc))
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise  # unreachable: abort raises
        grant: Grant | None = None
        if not is_open(method):
            try:
                grant = check_call(rule_for(method), identity, self.hosted)
            except NotAllowed as exc:
                self.denied += 1
                log.warning("call_denied", method=method, caller=identity.label, reason=str(exc))
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        if self.limiter is not None and not is_open(method):
            key = identity.court or identity.label
            wait = self.limiter.take(key, self.now())
            if wait > 0:
                self.limited += 1
                log.warning("call_rate_limited", method=method, caller=identity.label)
                await context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"too many calls from {key}; retry in {wait:.2f} s",
                )
        return _CALLER.set((identity, grant))
