"""Talking to a node or the coordinator: whose certificate, the channel, errors and exit codes.

Every call is mutual TLS: the CLI presents the certificate of the identity asked for (a court and
role, or ``ROLE:SCOPE``), and the server takes the caller only from the verified certificate.
gRPC errors become one message on stderr (with field-level errors one a line) and an exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
import typer
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from jiaodong.config import Settings
from jiaodong.domain.identity import COURT_ROLES, Identity, Role
from jiaodong.security.certs import TlsFiles, identity_of
from jiaodong.security.grpc_auth import sync_channel
from jiaodong.v1 import coordinator_service_pb2_grpc as cgrpc
from jiaodong.v1 import court_node_service_pb2_grpc as node_grpc

DEFAULT_NODE = "127.0.0.1:50061"
DEFAULT_COORDINATOR = "127.0.0.1:50060"

EXIT_ERROR = 1
EXIT_REFUSED = 2
EXIT_UNREACHABLE = 3
REFUSED_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)
UNREACHABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def usage_error(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(EXIT_ERROR)


# --- whose certificate ---------------------------------------------------------------------------


def client_tls(identity: Identity) -> TlsFiles:
    """The certificate a CLI call presents: JD_TLS_CA/JD_TLS_CERT/JD_TLS_KEY when set (a
    certificate from the courts' CA; it must name ``identity``), else ``identity``'s certificate
    in the development CA folder JD_TLS_DIR (default: <JD_DATA_DIR>/pki, i.e. var/pki)."""
    try:
        files = Settings.from_env().tls_for(identity)
        held = identity_of(files.cert.read_bytes())
    except (OSError, ValueError) as exc:
        usage_error(f"no client certificate: {exc}")
    if held != identity:
        usage_error(f"the certificate {files.cert} is {held.label}, not {identity.label}")
    return files


def parse_identity(value: str) -> Identity:
    """``operator:qingdao``, ``operator:region``, ``auditor:region``, ``officer:370202`` ..."""
    try:
        return Identity.parse(f"urn:jiaodong:{value.strip()}")
    except ValueError as exc:
        usage_error(f"--as: {exc}")


def open_channel(address: str, tls: TlsFiles) -> grpc.Channel:
    """The one place a channel is made: mutual TLS with the caller's certificate."""
    return sync_channel(address, tls)


@dataclass(frozen=True)
class NodeCall:
    """Where to call and as whom, as the common options give it."""

    node: str
    court: str
    json: bool
    timeout: float
    tls: TlsFiles


def node_call(node: str, as_court: str, role: str, json_out: bool, timeout: float) -> NodeCall:
    """The call the options of a `delegation` command describe; the court's certificate is
    looked up (and checked) before anything is sent."""
    try:
        identity = Identity(Role(role), as_court.strip())
    except ValueError as exc:
        usage_error(f"--as-court/--role: {exc}")
    if identity.role not in COURT_ROLES:
        usage_error("--role must be officer or clerk")
    tls = client_tls(identity)
    return NodeCall(node=node, court=as_court.strip(), json=json_out, timeout=timeout, tls=tls)


@dataclass(frozen=True)
class CoordinatorCall:
    """Where to call the coordinator and as whom (``--as ROLE:SCOPE``)."""

    address: str
    json: bool
    timeout: float
    tls: TlsFiles


def coordinator_call(coordinator: str, who: str, as_json: bool, timeout: float) -> CoordinatorCall:
    """The call the options of an `sla` command describe; ``who`` is ``ROLE:SCOPE``."""
    return CoordinatorCall(
        address=coordinator, json=as_json, timeout=timeout, tls=client_tls(parse_identity(who))
    )


# --- errors and exit codes -----------------------------------------------------------------------


def exit_code_for(code: grpc.StatusCode) -> int:
    if code in REFUSED_CODES:
        return EXIT_REFUSED
    if code in UNREACHABLE_CODES:
        return EXIT_UNREACHABLE
    return EXIT_ERROR


def violation_lines(status: status_pb2.Status) -> list[str]:
    """One ``  - field: description`` line per field violation in a rich status."""
    lines: list[str] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            lines.extend(f"  - {v.field}: {v.description}" for v in bad.field_violations)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            lines.extend(f"  - {v.subject or v.type}: {v.description}" for v in failure.violations)
    return lines


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(err)
    except (ValueError, AttributeError):  # inconsistent trailers, or not a call
        return None
    return status


def _fail(message: str, code: int, node: str, service: str = "node") -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    if code == EXIT_UNREACHABLE:
        option = "--node / JD_NODE" if service == "node" else "--coordinator / JD_COORDINATOR"
        print(
            f"hint: is the {service} at {node} running? Start the local layout with "
            f"`jiaodong up`, or point {option} at a running {service}.",
            file=sys.stderr,
        )
    raise typer.Exit(code)


def report_rpc_error(err: grpc.RpcError, node: str, service: str = "node") -> NoReturn:
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = err.details() if callable(getattr(err, "details", None)) else None
    status = _rich_status(err)
    lines = violation_lines(status) if status is not None else []
    message = f"{code.name}: {details or '(no details)'}"
    if lines:
        message += "\n" + "\n".join(lines)
    _fail(message, exit_code_for(code), node, service)


# --- calls ---------------------------------------------------------------------------------------


@contextmanager
def court_node(
    call: NodeCall, *, wait_ready: bool = False
) -> Iterator[node_grpc.CourtNodeServiceStub]:
    """A stub on a fresh channel; gRPC errors become a message on stderr and an exit code.

    ``wait_ready`` first waits up to the timeout for the connection (streams carry no deadline).
    """
    try:
        with open_channel(call.node, call.tls) as channel:
            if wait_ready:
                try:
                    grpc.channel_ready_future(channel).result(timeout=call.timeout)
                except grpc.FutureTimeoutError:
                    _fail(
                        f"UNAVAILABLE: no connection to {call.node} within {call.timeout:g} s",
                        EXIT_UNREACHABLE,
                        call.node,
                    )
            yield node_grpc.CourtNodeServiceStub(channel)
    except grpc.RpcError as err:
        report_rpc_error(err, call.node)


def call_coordinator(call: CoordinatorCall, rpc: str, request: Any) -> Any:
    """One call to the coordinator; gRPC errors become a message and an exit code."""
    try:
        with open_channel(call.address, call.tls) as channel:
            stub = cgrpc.CoordinatorServiceStub(channel)
            return getattr(stub, rpc)(request, timeout=call.timeout)
    except grpc.RpcError as err:
        report_rpc_error(err, call.address, "coordinator")
