"""Who is calling: the identity carried in a verified certificate, as data.

A certificate names its holder in a URI subject alternative name::

    urn:jiaodong:officer:370202      a court officer (执行员) of court 370202
    urn:jiaodong:clerk:370202        a clerk (书记员) of court 370202
    urn:jiaodong:operator:qingdao    Qingdao's command-centre operator
    urn:jiaodong:operator:region     the regional command centre
    urn:jiaodong:auditor:region      an auditor: reads only, and the record of reads
    urn:jiaodong:node:node-qingdao   a city node (a service, not a person)
    urn:jiaodong:coordinator:region  the coordinator (a service)

Pure: parsing and formatting only; verification is the TLS layer's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PREFIX = "urn:jiaodong:"
REGION = "region"


class Role(StrEnum):
    OFFICER = "officer"
    CLERK = "clerk"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    NODE = "node"
    COORDINATOR = "coordinator"


COURT_ROLES = frozenset({Role.OFFICER, Role.CLERK})
_SCOPE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_COURT = re.compile(r"[0-9]{6}")


class BadIdentity(ValueError):
    """A certificate whose identity URI is missing or malformed."""


@dataclass(frozen=True)
class Identity:
    role: Role
    scope: str

    def __post_init__(self) -> None:
        if self.role in COURT_ROLES and not _COURT.fullmatch(self.scope):
            raise BadIdentity(f"{self.role} identity needs a 6-digit court id, not {self.scope!r}")
        if not _SCOPE.fullmatch(self.scope):
            raise BadIdentity(f"bad identity scope {self.scope!r}")
        if self.role in (Role.AUDITOR, Role.COORDINATOR) and self.scope != REGION:
            raise BadIdentity(f"{self.role} identity has scope {REGION!r}, not {self.scope!r}")

    @property
    def uri(self) -> str:
        return f"{PREFIX}{self.role.value}:{self.scope}"

    @property
    def court(self) -> str | None:
        """The court a court officer or clerk works for; None for everyone else."""
        return self.scope if self.role in COURT_ROLES else None

    @property
    def is_regional(self) -> bool:
        return self.scope == REGION

    @property
    def label(self) -> str:
        """Short and free of personal data: safe for logs and the read record."""
        return f"{self.role.value}:{self.scope}"

    @classmethod
    def parse(cls, uri: str) -> Identity:
        if not uri.startswith(PREFIX):
            raise BadIdentity(f"not a jiaodong identity: {uri!r}")
        parts = uri[len(PREFIX) :].split(":")
        if len(parts) != 2:
            raise BadIdentity(f"identity must be {PREFIX}<role>:<scope>, got {uri!r}")
        try:
            role = Role(parts[0])
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise BadIdentity(f"unknown role {parts[0]!r} (roles: {roles})") from None
        return cls(role, parts[1])

    @classmethod
    def from_uris(cls, uris: list[str]) -> Identity:
        """The one jiaodong identity among a certificate's URI SANs."""
        ours = [u for u in uris if u.startswith(PREFIX)]
        if len(ours) != 1:
            raise BadIdentity(
                f"a certificate must carry exactly one {PREFIX}… URI, found {len(ours)}"
            )
        return cls.parse(ours[0])
