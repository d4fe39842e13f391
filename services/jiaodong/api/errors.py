"""Domain errors to gRPC status, with the rich error model for bad input."""

from __future__ import annotations

import asyncio
import functools
import traceback
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from jiaodong.app.watch import WatchBehind
from jiaodong.domain.errors import (
    AlreadyExists,
    DomainError,
    FieldViolation,
    IllegalTransition,
    InvalidInput,
    NotActive,
    NotAllowed,
    NotFound,
    RoutingRefused,
    Unreachable,
)

log = structlog.get_logger("jiaodong.grpc")

F = TypeVar("F", bound=Callable[..., Any])


def _unavailable(exc: DomainError, reason: str, **metadata: str) -> status_pb2.Status:
    """UNAVAILABLE, with an ErrorInfo saying why and where to go for programs."""
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="jiaodong", metadata=metadata))
    return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=str(exc), details=[info])


def status_for(exc: DomainError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error."""
    if isinstance(exc, InvalidInput | RoutingRefused):
        violations = (
            exc.violations
            if isinstance(exc, InvalidInput)
            else [FieldViolation(exc.field, exc.reason)]
        )
        detail = any_pb2.Any()
        detail.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in violations
                ]
            )
        )
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=f"invalid request: {exc}", details=[detail]
        )
    if isinstance(exc, NotActive):
        # Where to retry, for programs: ErrorInfo.metadata["active"] (empty while unknown).
        return _unavailable(exc, "COORDINATOR_STANDBY", active=exc.active)
    if isinstance(exc, Unreachable):
        # Which node, for programs (and the CLI's wording): ErrorInfo.metadata["city"].
        return _unavailable(exc, "NODE_UNREACHABLE", city=exc.city)
    if isinstance(exc, NotFound):
        code = code_pb2.NOT_FOUND
    elif isinstance(exc, AlreadyExists):
        code = code_pb2.ALREADY_EXISTS
    elif isinstance(exc, IllegalTransition):
        code = code_pb2.FAILED_PRECONDITION
    elif isinstance(exc, NotAllowed):
        code = code_pb2.PERMISSION_DENIED
    else:
        code = code_pb2.FAILED_PRECONDITION
    return status_pb2.Status(code=code, message=str(exc))


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: DomainError) -> None:
    await context.abort_with_status(rpc_status.to_status(status_for(exc)))


async def abort_internal(context: Any, rpc: str, exc: Exception) -> None:
    """A fault of ours. The log gets an incident id, the exception type and where it was raised,
    not its text (database errors quote statements and stored values, which may be personal
    data); the caller gets the incident id."""
    incident = uuid.uuid4().hex[:12]
    frames = traceback.extract_tb(exc.__traceback__)
    where = [f"{Path(f.filename).name}:{f.lineno}" for f in frames[-4:]]
    log.error("rpc_failed", rpc=rpc, incident=incident, error_type=type(exc).__name__, where=where)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (incident {incident})")


def handles_domain_errors(method: F) -> F:
    """Turn a DomainError raised by a unary servicer method into the right gRPC status."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except DomainError as exc:
            log.info("rpc_refused", rpc=method.__name__, code=type(exc).__name__)
            await abort_with(context, exc)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001  last resort: any bug becomes INTERNAL + incident id, logged
            await abort_internal(context, method.__name__, exc)

    return wrapper  # type: ignore[return-value]


def streams_domain_errors(
    method: Callable[..., AsyncIterator[Any]],
) -> Callable[..., AsyncIterator[Any]]:
    """The same for server-streaming methods."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(self, request, context):
                yield item
        except DomainError as exc:
            await abort_with(context, exc)
        except WatchBehind as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001  last resort: any bug becomes INTERNAL + incident id, logged
            await abort_internal(context, method.__name__, exc)

    return wrapper
