"""Domain errors. Each maps to one gRPC status code at the edge (see node/errors)."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Root of every error the domain raises on purpose."""


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: its path (``subject.resident_id``) and a sentence a clerk understands."""

    field: str
    description: str


class InvalidInput(DomainError):
    """Bad input: one or more field violations (gRPC INVALID_ARGUMENT)."""

    def __init__(self, violations: list[FieldViolation] | FieldViolation) -> None:
        self.violations = violations if isinstance(violations, list) else [violations]
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @classmethod
    def one(cls, field: str, description: str) -> InvalidInput:
        return cls(FieldViolation(field, description))


class NotFound(DomainError):
    """The thing asked for does not exist (gRPC NOT_FOUND)."""


class AlreadyExists(DomainError):
    """A client id was reused for different content (gRPC ALREADY_EXISTS)."""


class IllegalTransition(DomainError):
    """The action is not allowed in the delegation's current state (gRPC FAILED_PRECONDITION)."""

    def __init__(self, state: str, action: str, reason: str = "") -> None:
        self.state = state
        self.action = action
        text = f"cannot {action} a delegation that is {state}"
        super().__init__(f"{text}: {reason}" if reason else text)


class NotAllowed(DomainError):
    """The acting court or side may not do this (gRPC PERMISSION_DENIED)."""


class RoutingRefused(DomainError):
    """No court can take the delegation as addressed (gRPC INVALID_ARGUMENT on the target field)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(reason)


class RegistryError(DomainError):
    """A registry or policy file is wrong; names the file and line so an operator can fix it."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file = file
        self.line = line
        self.message = message
        super().__init__(f"{file}:{line}: {message}")


class HistoryConflict(DomainError):
    """Two histories disagree on an event both hold: a broken single-writer rule. Never retried."""


class NotActive(DomainError):
    """This coordinator replica is a standby: writes and live views belong to the active one
    (gRPC UNAVAILABLE, naming it, so a client can retry there)."""

    def __init__(self, active: str) -> None:
        self.active = active
        where = f"the active coordinator is at {active}" if active else "no active one is known yet"
        super().__init__(
            f"this coordinator is a standby and takes no writes: {where}; retry there "
            f"(本协调器为备用实例，不受理写操作；请向主用实例 {active or '（暂未选出）'} 重试)"
        )


class Unreachable(DomainError):
    """A city's node did not answer a question asked on an operator's behalf in time
    (gRPC UNAVAILABLE, naming the node's city)."""

    def __init__(self, city: str, name_zh: str, why: str) -> None:
        self.city = city
        super().__init__(
            f"the node of {city} did not answer: {why}; try again later "
            f"(节点 {name_zh or city} 未应答，请稍后重试)"
        )
