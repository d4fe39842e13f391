"""Mutual TLS at the handshake: who cannot get in at all, and what a request cannot claim."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import grpc
import pytest

from jiaodong.bootstrap import StartRefused, create_server
from jiaodong.config import Settings
from jiaodong.domain.identity import Identity, Role
from jiaodong.files.registry import load_registry
from jiaodong.security.certs import NATS_SERVER, TlsFiles, files, init_pki, issue
from jiaodong.security.grpc_auth import aio_channel
from jiaodong.store.tables import DelegationRow
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import court_node_service_pb2_grpc as ngrpc
from tests.helpers.factory import create_request
from tests.helpers.network import Region, rpc_error, shared_pki
from tests.integration.conftest import table_rows

QD = "370202"


async def call_with(region: Region, tls: TlsFiles) -> grpc.aio.AioRpcError:
    channel = aio_channel(region.nodes["qingdao"].address, tls)
    try:
        stub = ngrpc.CourtNodeServiceStub(channel)
        return await rpc_error(stub.CreateDelegation(create_request(), timeout=5))
    finally:
        await channel.close()


def copy_with(tmp_path: Path, stem: str) -> Path:
    """A CA folder holding the shared CA (so new certificates chain to it)."""
    root = tmp_path / "extra"
    root.mkdir(exist_ok=True)
    for name in ("ca.pem", "ca.key"):
        shutil.copy(shared_pki() / name, root / name)
    return root


async def test_no_client_certificate_is_refused_at_the_handshake(region: Region) -> None:
    channel = grpc.aio.secure_channel(
        region.nodes["qingdao"].address,
        grpc.ssl_channel_credentials(root_certificates=(shared_pki() / "ca.pem").read_bytes()),
    )
    try:
        stub = ngrpc.CourtNodeServiceStub(channel)
        err = await rpc_error(stub.CreateDelegation(create_request(), timeout=5))
    finally:
        await channel.close()
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert not table_rows(region.nodes["qingdao"], DelegationRow)


async def test_plaintext_is_refused(region: Region) -> None:
    channel = grpc.aio.insecure_channel(region.nodes["qingdao"].address)
    try:
        err = await rpc_error(
            ngrpc.CourtNodeServiceStub(channel).CreateDelegation(create_request(), timeout=5)
        )
    finally:
        await channel.close()
    assert err.code() == grpc.StatusCode.UNAVAILABLE


async def test_expired_certificate_is_refused_at_the_handshake(
    region: Region, tmp_path: Path
) -> None:
    root = copy_with(tmp_path, "expired")
    now = dt.datetime.now(dt.UTC)
    expired = issue(
        root,
        "expired-officer",
        Identity(Role.OFFICER, QD),
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    err = await call_with(region, expired)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert not table_rows(region.nodes["qingdao"], DelegationRow)


async def test_certificate_from_another_ca_is_refused_at_the_handshake(
    region: Region, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca"
    init_pki(other, load_registry(None))
    # Same identity, same file names, a different CA; the client trusts the real CA, so only
    # the server's check of the client's chain can refuse it.
    forged = TlsFiles(
        shared_pki() / "ca.pem", other / "officer-370202.pem", other / "officer-370202.key"
    )
    err = await call_with(region, forged)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert not table_rows(region.nodes["qingdao"], DelegationRow)


async def test_a_certificate_without_an_identity_is_unauthenticated(region: Region) -> None:
    # The NATS server's certificate chains to the CA but names nobody.
    err = await call_with(region, files(shared_pki(), NATS_SERVER))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "jiaodong" in (err.details() or "")


async def test_metadata_cannot_claim_another_court(region: Region) -> None:
    """The old ``jd-court`` metadata, or anything like it, is ignored: the certificate decides."""
    stub = region.node_stub("qingdao", Identity(Role.OFFICER, "370203"))
    made = await stub.CreateDelegation(
        create_request(case_number="(2024)鲁0203执5号"), metadata=[("jd-court", QD)]
    )
    assert made.delegation.requesting_court == "370203"
    # And the court the metadata named has no part in it.
    claimed = region.node_stub("qingdao", Identity(Role.OFFICER, QD))
    err = await rpc_error(claimed.GetDelegation(api.GetDelegationRequest(id=made.delegation.id)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR])
async def test_people_without_a_court_cannot_read_at_a_node(region: Region, role: Role) -> None:
    who = Identity(role, "region")
    stub = region.node_stub("qingdao", who)
    err = await rpc_error(stub.ListDelegations(api.ListDelegationsRequest()))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_port_in_use_is_refused_not_shared(tmp_path: Path) -> None:
    """gRPC binds with SO_REUSEPORT by default: a second service on a port in use would share
    its calls. The services' servers refuse that port instead."""
    pki = tmp_path / "pki"
    init_pki(pki, load_registry(None))
    settings = Settings(data_dir=tmp_path, tls_dir=pki)
    identity = Identity(Role.NODE, "node-qingdao")
    first, port, _ = create_server("127.0.0.1:0", [], settings, identity, ["370202"])
    await first.start()
    try:
        with pytest.raises(StartRefused, match=rf"^127.0.0.1:{port}: .*\(port in use"):
            create_server(f"127.0.0.1:{port}", [], settings, identity, ["370202"])
    finally:
        await first.stop(None)
