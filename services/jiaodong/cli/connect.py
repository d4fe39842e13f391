"""Talking to a node or the coordinator: whose certificate, the channel, errors and exit codes.

Every call is mutual TLS: the CLI presents the certificate of the identity asked for (a court and
role, or ``ROLE:SCOPE``), and the server takes the caller only from the verified certificate.
gRPC errors become one message on stderr (with field-level errors one a line) and an exit code.
The message is in the CLI's language and names the caller and the service by court and city
name; it keeps the gRPC code's name (``PERMISSION_DENIED``) for scripts, and the server's own
words after it.
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

from jiaodong.cli.lang import city_name, court_city, identity_name, t
from jiaodong.config import Settings
from jiaodong.domain.identity import COURT_ROLES, Identity, Role
from jiaodong.security.certs import TlsFiles, identity_of, issued_by
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
    print(t("错误：", "error: ") + message, file=sys.stderr)
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
        usage_error(
            t(
                f"没有{identity_name(identity)}（{identity.label}）的客户端证书：",
                "no client certificate: ",
            )
            + str(exc)
        )
    if not issued_by(files.cert.read_bytes(), files.ca.read_bytes()):
        usage_error(
            t(
                f"证书 {files.cert} 不是由 {files.ca} 中的 CA 签发的："
                "证书与 CA 分属不同的证书颁发机构",
                f"the certificate {files.cert} is not issued by the CA in {files.ca}: "
                "they belong to different certificate authorities",
            )
        )
    if held != identity:
        usage_error(
            t(
                f"证书 {files.cert} 属于 {held.label}，不是 {identity.label}",
                f"the certificate {files.cert} is {held.label}, not {identity.label}",
            )
        )
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
    identity: Identity | None = None


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
    return NodeCall(
        node=node,
        court=as_court.strip(),
        json=json_out,
        timeout=timeout,
        tls=tls,
        identity=identity,
    )


@dataclass(frozen=True)
class CoordinatorCall:
    """Where to call the coordinator and as whom (``--as ROLE:SCOPE``)."""

    address: str
    json: bool
    timeout: float
    tls: TlsFiles
    identity: Identity | None = None


def coordinator_call(coordinator: str, who: str, as_json: bool, timeout: float) -> CoordinatorCall:
    """The call the options of an `sla` or `ops` command describe; ``who`` is ``ROLE:SCOPE``."""
    identity = parse_identity(who)
    return CoordinatorCall(
        address=coordinator,
        json=as_json,
        timeout=timeout,
        tls=client_tls(identity),
        identity=identity,
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


def silent_node(status: status_pb2.Status | None) -> str:
    """The city whose node did not answer the coordinator's question (UNAVAILABLE with the
    ErrorInfo NODE_UNREACHABLE), or empty: the coordinator itself is up."""
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.reason == "NODE_UNREACHABLE":
                return info.metadata.get("city", "") or "?"
    return ""


def _rich_status(err: grpc.RpcError) -> status_pb2.Status | None:
    try:
        status: status_pb2.Status | None = rpc_status.from_call(err)
    except (ValueError, AttributeError):  # inconsistent trailers, or not a call
        return None
    return status


def service_name(service: str, who: Identity | None = None) -> str:
    """``协调中心`` / ``青岛市法院节点``: the service called, for people."""
    if service == "coordinator":
        return t("协调中心", "the coordinator")
    if service == "node":
        city = court_city(who.scope) if who is not None and who.court else ""
        if city:
            return t(f"{city_name(city)}法院节点", f"the {city_name(city)} court node")
        return t("法院节点", "the court node")
    return t("服务", "the service")


def _fail(message: str, code: int, node: str, service: str = "node") -> NoReturn:
    print(t("错误：", "error: ") + message, file=sys.stderr)
    if code == EXIT_UNREACHABLE:
        option = "--node / JD_NODE" if service == "node" else "--coordinator / JD_COORDINATOR"
        name = service_name(service)
        print(
            t(
                f"提示：{name}（{node}）是否在运行？可用 `jiaodong up` 启动本地布局，"
                f"或用 {option} 指向正在运行的{name}。",
                f"hint: is the {service} at {node} running? Start the local layout with "
                f"`jiaodong up`, or point {option} at a running {service}.",
            ),
            file=sys.stderr,
        )
    raise typer.Exit(code)


def _headline(
    code: grpc.StatusCode,
    address: str,
    service: str,
    who: Identity | None,
    subject: str,
    kind: str = "delegation",
) -> str:
    """What went wrong, in the CLI's language, naming the caller and the service."""
    where = service_name(service, who)
    caller = (
        f"{identity_name(who)}（{who.label}）" if who is not None else t("调用方", "the caller")
    )
    caller_en = f"{identity_name(who)} ({who.label})" if who is not None else "the caller"
    if kind == "parked":
        thing = t(f"搁置消息 {subject}", f"parked message {subject}") if subject else ""
    else:
        thing = t(f"委托事项 {subject}", f"delegation {subject}") if subject else ""
    if code in UNREACHABLE_CODES:
        return t(f"无法连接{where}（{address}）", f"cannot reach {where} at {address}")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        scope = ""
        if who is not None and who.role is Role.OPERATOR and not who.is_regional:
            scope = t(
                f"：{caller}只能查看和处理涉及{city_name(who.scope)}的委托事项",
                f": {caller_en} sees and acts only on delegations touching {city_name(who.scope)}",
            )
        return t(
            f"{caller}无权执行此操作{('（' + thing + '）') if thing else ''}，未作任何更改{scope}",
            f"{caller_en} may not do this{(' (' + thing + ')') if thing else ''}; "
            f"nothing was changed{scope}",
        )
    if code == grpc.StatusCode.NOT_FOUND:
        return t(
            f"{where}找不到{thing or '所要的对象'}",
            f"{where} does not know {thing or 'what was asked for'}",
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return t("请求有误，未作任何更改", "the request is not valid; nothing was changed")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return t(
            f"{thing or '该委托事项'}当前的状态不允许此操作，未作任何更改",
            f"{thing or 'the delegation'} is not in a state that allows this; nothing was changed",
        )
    if code == grpc.StatusCode.ALREADY_EXISTS:
        return t("该请求编号已用于另一请求", "the request id was used for another request")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return t(f"{where}不认可证书", f"{where} does not accept the certificate")
    return t(f"{where}出错", f"{where} failed")


def report_rpc_error(
    err: grpc.RpcError,
    node: str,
    service: str = "node",
    who: Identity | None = None,
    subject: str = "",
    kind: str = "delegation",
) -> NoReturn:
    code = err.code() if callable(getattr(err, "code", None)) else grpc.StatusCode.UNKNOWN
    details = err.details() if callable(getattr(err, "details", None)) else None
    status = _rich_status(err)
    lines = violation_lines(status) if status is not None else []
    if code in UNREACHABLE_CODES and "CERTIFICATE_VERIFY_FAILED" in (details or ""):
        # Reached, but the TLS handshake failed: the server's certificate is not from our CA.
        where = service_name(service, who)
        print(
            t(
                f"错误：{where}（{node}）的证书不是由本方 CA 签发的，TLS 握手失败，未作任何更改"
                "（双方的证书来自不同的证书颁发机构：检查 JD_TLS_DIR 或 JD_TLS_CA）"
                f" [{code.name}]: CERTIFICATE_VERIFY_FAILED",
                f"error: the certificate of {where} ({node}) is not issued by our CA: the TLS "
                "handshake failed, nothing was changed (the two sides' certificates come from "
                f"different certificate authorities: check JD_TLS_DIR or JD_TLS_CA) "
                f"[{code.name}]: CERTIFICATE_VERIFY_FAILED",
            ),
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_REFUSED)
    city = silent_node(status)
    if city:
        name = city_name(city)
        print(
            t(
                f"错误：{name}节点未应答（经{service_name(service)} {node} 转问），未作任何更改 "
                f"[{code.name}]: {details or ''}\n提示：{name}节点是否在运行并连接着消息总线？"
                "请稍后重试。",
                f"error: the {name} node did not answer (asked through {service_name(service)} "
                f"at {node}); nothing was changed [{code.name}]: {details or ''}\nhint: is the "
                f"{name} node running and connected to the bus? Try again later.",
            ),
            file=sys.stderr,
        )
        raise typer.Exit(EXIT_UNREACHABLE)
    message = (
        f"{_headline(code, node, service, who, subject, kind)} "
        f"[{code.name}]: {details or t('（无说明）', '(no details)')}"
    )
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
                    where = service_name("node", call.identity)
                    _fail(
                        t(
                            f"{call.timeout:g} 秒内无法连接{where}（{call.node}）[UNAVAILABLE]",
                            f"UNAVAILABLE: no connection to {call.node} within {call.timeout:g} s",
                        ),
                        EXIT_UNREACHABLE,
                        call.node,
                    )
            yield node_grpc.CourtNodeServiceStub(channel)
    except grpc.RpcError as err:
        report_rpc_error(err, call.node, "node", call.identity)


def call_coordinator(call: CoordinatorCall, rpc: str, request: Any) -> Any:
    """One call to the coordinator; gRPC errors become a message and an exit code."""
    try:
        with open_channel(call.address, call.tls) as channel:
            stub = cgrpc.CoordinatorServiceStub(channel)
            return getattr(stub, rpc)(request, timeout=call.timeout)
    except grpc.RpcError as err:
        subject = str(getattr(request, "id", "") or "")
        kind = "parked" if rpc.endswith("Parked") else "delegation"
        report_rpc_error(err, call.address, "coordinator", call.identity, subject, kind)
