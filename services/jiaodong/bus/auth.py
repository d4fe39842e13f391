"""How one service authenticates to a secured broker: the client side of the transport settings.

The server side (users, permissions, the rendered configuration) is in
jiaodong.security.nats_config, which builds these from a PKI folder (``client_auth``). This module
needs nothing from security/: any object with ``ca``, ``cert`` and ``key`` paths will do, such as
``jiaodong.security.certs.TlsFiles``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class TlsPaths(Protocol):
    """The CA to trust and the service's certificate and key (``TlsFiles`` is one)."""

    @property
    def ca(self) -> Path: ...

    @property
    def cert(self) -> Path: ...

    @property
    def key(self) -> Path: ...


@dataclass(frozen=True)
class NatsAuth:
    """How one service connects to the secured broker.

    ``tls`` are the CA to trust and the service's certificate and key; the server maps the
    certificate to the NATS user ``user`` (nothing else is sent). ``inbox_prefix`` must be given
    to the client: the user may subscribe only below it."""

    tls: TlsPaths
    user: str
    inbox_prefix: str

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that verifies the server against the CA and presents the cert."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.tls.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.tls.cert), str(self.tls.key))
        return context
