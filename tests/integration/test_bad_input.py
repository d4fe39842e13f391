"""Bad input, wrong court, wrong state: a clear gRPC error, and nothing written anywhere."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest

from jiaodong.domain.identity import Identity, Role
from jiaodong.store.tables import DelegationRow, OutboxRow
from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.v1.court_node_service_pb2_grpc import CourtNodeServiceStub
from tests.helpers.factory import create_request
from tests.helpers.network import (
    Region,
    as_court,
    coordinator_probe,
    delegation_probe,
    eventually,
    field_violations,
    has_status,
    rpc_error,
)
from tests.integration.conftest import bus_idle, table_rows

QD, QD_SHIBEI, YT = "370202", "370203", "370602"
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def without_debtor() -> api.CreateDelegationRequest:
    request = create_request()
    request.ClearField("debtor")
    return request


def with_resident_id(resident_id: str) -> api.CreateDelegationRequest:
    debtor = pb.Party(person=pb.Person(name="张三", resident_id=resident_id))
    return create_request(debtor=debtor)


def token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def assert_nothing_written(region: Region) -> None:
    """No delegation and no outbox message at the Qingdao node; none at the coordinator."""
    await bus_idle(region)
    sent = await region.node_stub("qingdao").ListDelegations(
        api.ListDelegationsRequest(direction=api.DIRECTION_SENT), metadata=as_court(QD)
    )
    assert list(sent.delegations) == []
    board = await region.coordinator_stub().ListDelegations(
        capi.CoordinatorListDelegationsRequest()
    )
    assert board.total == 0 and list(board.delegations) == []
    qingdao = region.nodes["qingdao"]
    assert table_rows(qingdao, DelegationRow) == []
    assert table_rows(qingdao, OutboxRow) == []


# -- CreateDelegation with bad content -------------------------------------------------------------

BAD_CREATES = {
    "malformed case number": (create_request(case_number="(24)鲁0202执123号"), "case_number"),
    "resident ID checksum": (with_resident_id("340524198001010011"), "debtor.person.resident_id"),
    "missing debtor": (without_debtor(), "debtor"),
    "oversize requested_actions": (
        create_request(requested_actions="扣" * 4001),
        "requested_actions",
    ),
    "unknown target court": (
        create_request(target=pb.Target(court_id="999999")),
        "target.court_id",
    ),
    "same-city target court": (
        create_request(target=pb.Target(court_id=QD_SHIBEI)),
        "target.court_id",
    ),
    "unknown district": (
        create_request(target=pb.Target(city="yantai", district="不存在区")),
        "target.district",
    ),
    "unknown task_type enum": (create_request(task_type=99), "task_type"),
    "unknown asset_kind enum": (create_request(asset_kind=99), "asset_kind"),
    "unknown priority enum": (create_request(priority=99), "priority"),
}


@pytest.mark.parametrize(("request_", "field"), BAD_CREATES.values(), ids=BAD_CREATES.keys())
async def test_bad_create_is_invalid_argument_naming_the_field_and_writes_nothing(
    region: Region, request_: api.CreateDelegationRequest, field: str
) -> None:
    err = await rpc_error(
        region.node_stub("qingdao").CreateDelegation(request_, metadata=as_court(QD))
    )
    assert err.code() == INVALID, err.details()
    assert field_violations(err) == [field], err.details()
    await assert_nothing_written(region)


async def test_the_factory_request_itself_is_valid(region: Region) -> None:
    """The control for the cases above: each differs from a request that is accepted."""
    reply = await region.node_stub("qingdao").CreateDelegation(
        create_request(), metadata=as_court(QD)
    )
    assert reply.created


# -- unknown enum numbers in list filters ----------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (api.ListDelegationsRequest(statuses=[99]), "statuses"),
        (api.ListDelegationsRequest(direction=99), "direction"),
    ],
    ids=["status", "direction"],
)
async def test_node_list_with_unknown_enum_is_invalid_argument(
    region: Region, request_: api.ListDelegationsRequest, field: str
) -> None:
    err = await rpc_error(
        region.node_stub("qingdao").ListDelegations(request_, metadata=as_court(QD))
    )
    assert err.code() == INVALID, (err.code(), err.details())
    assert [f for f in field_violations(err) if f.startswith(field)], err.details()


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (capi.CoordinatorListDelegationsRequest(statuses=[99]), "statuses"),
        (capi.CoordinatorListDelegationsRequest(task_types=[99]), "task_types"),
    ],
    ids=["status", "task_type"],
)
async def test_coordinator_list_with_unknown_enum_is_invalid_argument(
    region: Region, request_: capi.CoordinatorListDelegationsRequest, field: str
) -> None:
    err = await rpc_error(region.coordinator_stub().ListDelegations(request_))
    assert err.code() == INVALID, (err.code(), err.details())
    assert [f for f in field_violations(err) if f.startswith(field)], err.details()


# -- who is calling --------------------------------------------------------------------------------


async def test_operator_certificate_cannot_create_at_a_node(region: Region) -> None:
    stub = region.node_stub("qingdao", Identity(Role.OPERATOR, "qingdao"))
    err = await rpc_error(stub.CreateDelegation(create_request()))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "operator:qingdao" in (err.details() or "")
    await assert_nothing_written(region)


async def test_court_of_another_city_at_this_node_is_permission_denied(region: Region) -> None:
    err = await rpc_error(
        region.node_stub("qingdao").CreateDelegation(create_request(), metadata=as_court(YT))
    )
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    await assert_nothing_written(region)


async def test_get_of_unknown_id_is_not_found(region: Region) -> None:
    err = await rpc_error(
        region.node_stub("qingdao").GetDelegation(
            api.GetDelegationRequest(id="0" * 32), metadata=as_court(QD)
        )
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND


# -- paging ----------------------------------------------------------------------------------------


async def test_page_size_over_the_limit_is_invalid_argument(region: Region) -> None:
    node_err = await rpc_error(
        region.node_stub("qingdao").ListDelegations(
            api.ListDelegationsRequest(page_size=10000), metadata=as_court(QD)
        )
    )
    coord_err = await rpc_error(
        region.coordinator_stub().ListDelegations(
            capi.CoordinatorListDelegationsRequest(page_size=10000)
        )
    )
    for err in (node_err, coord_err):
        assert err.code() == INVALID
        assert field_violations(err) == ["page_size"]


GARBAGE_TOKENS = {
    "not base64": "%%% not a token %%%",
    "base64 of text": token("hello"),
    "negative offset": token("-5"),
    "beyond any integer column": token("9" * 30),
}


@pytest.mark.parametrize("page_token", GARBAGE_TOKENS.values(), ids=GARBAGE_TOKENS.keys())
async def test_garbage_page_token_is_invalid_argument(region: Region, page_token: str) -> None:
    node_err = await rpc_error(
        region.node_stub("qingdao").ListDelegations(
            api.ListDelegationsRequest(page_token=page_token), metadata=as_court(QD)
        )
    )
    coord_err = await rpc_error(
        region.coordinator_stub().ListDelegations(
            capi.CoordinatorListDelegationsRequest(page_token=page_token)
        )
    )
    for err in (node_err, coord_err):
        assert err.code() == INVALID, (err.code(), err.details())
        assert field_violations(err) == ["page_token"]


# -- wrong state on a delivered delegation ---------------------------------------------------------
# The refusals of steps and requests in a wrong state or by the wrong court are handler logic, in
# tests/handlers/test_refusals.py; this one checks what such a refusal is on the wire.


@dataclass
class Delivered:
    """A Qingdao -> Yantai delegation that Yantai has stored and the coordinator has seen."""

    region: Region
    id: str

    def stub(self, city: str) -> CourtNodeServiceStub:
        return self.region.node_stub(city)

    async def at(self, city: str, court: str) -> pb.Delegation:
        reply = await self.stub(city).GetDelegation(
            api.GetDelegationRequest(id=self.id), metadata=as_court(court)
        )
        return reply.delegation


@pytest.fixture
async def delivered(region: Region) -> AsyncIterator[Delivered]:
    qingdao, yantai = region.node_stub("qingdao"), region.node_stub("yantai")
    created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = created.delegation.id
    delivered_state = has_status(pb.STATUS_DELIVERED)
    await eventually(delegation_probe(yantai, YT, d), delivered_state)
    await eventually(delegation_probe(qingdao, QD, d), delivered_state)
    await eventually(coordinator_probe(region.coordinator_stub(), d), delivered_state)
    yield Delivered(region, d)


async def test_confirm_before_completion_is_failed_precondition(delivered: Delivered) -> None:
    before = await delivered.at("qingdao", QD)
    err = await rpc_error(
        delivered.stub("qingdao").Confirm(
            api.ConfirmRequest(id=delivered.id, request_id="confirm-early"), metadata=as_court(QD)
        )
    )
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "DELIVERED" in (err.details() or "")
    after = await delivered.at("qingdao", QD)
    assert after == before and list(after.requests) == []
