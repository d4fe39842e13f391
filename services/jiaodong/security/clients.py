"""Client side of mutual TLS for programs that act for many identities at once (the demo, the
test suites): one channel per (server, identity), and typed stubs that pick the certificate per
call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import grpc

from jiaodong.domain.identity import Identity, Role
from jiaodong.security.certs import TlsFiles
from jiaodong.security.grpc_auth import aio_channel

# A client-side marker, never sent: ``metadata=act_as("370202")`` makes one call with that court's
# officer certificate. Servers learn who calls only from the certificate.
ACT_AS = "x-jd-act-as-court"
S = TypeVar("S")


def act_as(court: str) -> list[tuple[str, str]]:
    return [(ACT_AS, court)]


class ChannelPool:
    """Mutual-TLS channels, one per (address, identity), closed together."""

    def __init__(
        self,
        tls_for: Callable[[Identity], TlsFiles],
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self.tls_for = tls_for
        self.options = options
        self.channels: dict[tuple[str, Identity], grpc.aio.Channel] = {}

    def channel(self, address: str, identity: Identity) -> grpc.aio.Channel:
        key = (address, identity)
        if key not in self.channels:
            self.channels[key] = aio_channel(address, self.tls_for(identity), self.options)
        return self.channels[key]

    def stub(
        self,
        stub_type: Callable[[grpc.aio.Channel], S],
        address: str,
        default: Identity | None = None,
    ) -> S:
        """A typed stub whose calls present ``default``'s certificate, or the officer certificate
        of the court named by ``metadata=act_as(court)``."""
        return cast(S, ActingStub(self, address, stub_type, default))

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
        self.channels.clear()


class ActingStub:
    def __init__(
        self,
        pool: ChannelPool,
        address: str,
        stub_type: Callable[[grpc.aio.Channel], Any],
        default: Identity | None,
    ) -> None:
        self._pool = pool
        self._address = address
        self._stub_type = stub_type
        self._default = default

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def call(request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
            identity = self._default
            rest = []
            for key, value in metadata or ():
                if key == ACT_AS:
                    identity = Identity(Role.OFFICER, value)
                else:
                    rest.append((key, value))
            if identity is None:
                raise ValueError(f"{method}: say which court acts (metadata=act_as(court))")
            stub = self._stub_type(self._pool.channel(self._address, identity))
            return getattr(stub, method)(request, metadata=rest or None, **kwargs)

        return call
