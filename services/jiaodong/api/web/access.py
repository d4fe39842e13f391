"""Who is looking at the board, and what they may see and do: the same identities and the same
permission table (jiaodong.domain.authz) as the gRPC API.

An identity comes from the client certificate verified at the TLS handshake, or, in development
only, from a session cookie obtained with the login token the coordinator was started with. Each
page or action is checked as the CoordinatorService RPC it stands for (the board as WatchBoard,
a detail as GetDelegation, 督办 as Escalate ...), so a city operator sees and steers only what
touches its city, and the auditor reads only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from jiaodong.app.coordinator import Guard
from jiaodong.domain.authz import COORDINATOR_SERVICE, Grant, check_call, check_delegation, rule_for
from jiaodong.domain.errors import NotAllowed
from jiaodong.domain.identity import REGION, BadIdentity, Identity, Role
from jiaodong.security.certs import identity_of

SESSION_COOKIE = "jd_board_session"
# The roles a person at a board can have; services' certificates do not open it.
BOARD_ROLES = (Role.OPERATOR, Role.AUDITOR)


class NotSignedIn(Exception):
    """No client certificate and no valid development session."""


@lru_cache(maxsize=256)
def _identity_of_pem(pem: str) -> Identity:
    return identity_of(pem.encode())


def certificate_identity(chain: list[str]) -> Identity | None:
    """The identity of the verified client certificate, if the browser presented one."""
    if not chain:
        return None
    return _identity_of_pem(chain[0])


@dataclass(frozen=True)
class DevLogin:
    """The development login: whoever knows ``token`` may sign in as an operator (the regional
    centre, or a city's). The session cookie is the identity signed with the token."""

    token: str

    def check_token(self, offered: str) -> bool:
        return bool(self.token) and hmac.compare_digest(self.token, offered)

    def cookie_for(self, identity: Identity) -> str:
        return f"{identity.uri}|{self._sign(identity.uri)}"

    def identity_in(self, cookie: str) -> Identity | None:
        uri, _, signature = cookie.rpartition("|")
        if not uri or not hmac.compare_digest(signature, self._sign(uri)):
            return None
        try:
            return Identity.parse(uri)
        except BadIdentity:
            return None

    def _sign(self, text: str) -> str:
        return hmac.new(self.token.encode(), text.encode(), hashlib.sha256).hexdigest()


def login_identity(scope: str) -> Identity:
    """The operator a development login signs in as: ``region`` (default) or a city."""
    return Identity(Role.OPERATOR, scope or REGION)


@dataclass(frozen=True)
class Viewer:
    """A signed-in person and how they got in."""

    identity: Identity
    by_certificate: bool

    @property
    def label(self) -> str:
        return self.identity.label

    @property
    def city(self) -> str:
        """The city a city operator is limited to; "" for regional identities."""
        return "" if self.identity.is_regional else self.identity.scope

    def grant(self, method: str) -> Grant:
        """May this viewer do what CoordinatorService/``method`` does? Raises NotAllowed."""
        if self.identity.role not in BOARD_ROLES:
            raise NotAllowed(f"the board is for operators and auditors, not {self.label}")
        return check_call(rule_for(f"/{COORDINATOR_SERVICE}/{method}"), self.identity)

    def may(self, method: str) -> bool:
        try:
            self.grant(method)
        except NotAllowed:
            return False
        return True

    def guard(self, method: str, city_of: Callable[[str], str]) -> Guard:
        """The delegation-scope check of ``method`` for this viewer (raises NotAllowed)."""
        grant = self.grant(method)
        identity = self.identity

        def guard(requesting: str, entrusted: str) -> None:
            check_delegation(grant, identity, requesting, entrusted, city_of)

        return guard
