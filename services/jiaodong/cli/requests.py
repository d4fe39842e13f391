"""Requests from command-line options: where a delegation goes, who the debtor is, which files
travel with it, and the upload of those files' content before the step that attaches them.

Structural contradictions (two targets, two debtors) are refused here, as a usage error naming
the option; everything about content is the node's to check.
"""

from __future__ import annotations

import hashlib
import mimetypes
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import typer

from jiaodong.cli.connect import NodeCall
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import court_node_service_pb2_grpc as node_grpc
from jiaodong.v1 import delegation_pb2 as d_pb

OCTET_STREAM = "application/octet-stream"
CHUNK = 1 << 20


def new_request_id() -> str:
    return uuid.uuid4().hex


def build_target(to_court: str | None, to_city: str | None, district: str | None) -> d_pb.Target:
    """A court, or a city plus district for the coordinator to resolve; never both."""
    if to_court and (to_city or district):
        raise typer.BadParameter(
            "give either --to-court, or --to-city (with --district), not both",
            param_hint="'--to-court'",
        )
    if district and not to_city:
        raise typer.BadParameter("--district needs --to-city", param_hint="'--district'")
    return d_pb.Target(court_id=to_court or "", city=to_city or "", district=district or "")


def build_party(
    person: str | None,
    resident_id: str | None,
    org: str | None,
    credit_code: str | None,
    phone: str | None,
) -> d_pb.Party | None:
    """The debtor: a person or an organisation, never both. None when nothing was given."""
    if person is not None and org is not None:
        raise typer.BadParameter("the debtor is --person or --org, not both", param_hint="'--org'")
    if resident_id is not None and person is None:
        raise typer.BadParameter("--resident-id needs --person", param_hint="'--resident-id'")
    if credit_code is not None and org is None:
        raise typer.BadParameter("--credit-code needs --org", param_hint="'--credit-code'")
    if person is not None:
        return d_pb.Party(
            person=d_pb.Person(name=person, resident_id=resident_id or ""), phone=phone or ""
        )
    if org is not None:
        return d_pb.Party(
            organisation=d_pb.Organisation(name=org, social_credit_code=credit_code or ""),
            phone=phone or "",
        )
    if phone:
        return d_pb.Party(phone=phone)
    return None


# --- documents -----------------------------------------------------------------------------------


def document_from_path(path: Path) -> d_pb.Document:
    """The evidence of a local file: name, media type, size and SHA-256 of its content."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    mimetypes.add_type("application/ofd", ".ofd")  # China's e-document format; not in the table
    media_type, _encoding = mimetypes.guess_type(path.name)
    return d_pb.Document(
        name=path.name,
        media_type=media_type or OCTET_STREAM,
        size_bytes=size,
        sha256=digest.hexdigest(),
    )


def documents_from_paths(paths: Sequence[Path] | None) -> list[d_pb.Document]:
    return [document_from_path(path) for path in paths or ()]


def _pieces(path: Path, evidence: d_pb.Document) -> Iterator[node_pb.UploadDocumentRequest]:
    with path.open("rb") as file:
        first = True
        while data := file.read(CHUNK):
            yield node_pb.UploadDocumentRequest(
                sha256=evidence.sha256 if first else "",
                size_bytes=evidence.size_bytes if first else 0,
                data=data,
            )
            first = False


def upload_documents(
    stub: node_grpc.CourtNodeServiceStub, call: NodeCall, paths: Sequence[Path] | None
) -> None:
    """Send each file's content to the node (UploadDocument) before the step that attaches it;
    the node checks the declared SHA-256 and size, and the other party checks them again."""
    for path in paths or ():
        evidence = document_from_path(path)
        stub.UploadDocument(_pieces(path, evidence), timeout=max(call.timeout, 60.0))
