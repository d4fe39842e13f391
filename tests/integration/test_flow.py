"""One delegation from Qingdao to Yantai, step by step, over real NATS and gRPC."""

from __future__ import annotations

from jiaodong.v1 import coordinator_service_pb2 as capi
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from tests.helpers.factory import create_request
from tests.helpers.network import Region, as_court, eventually

QD, YT = "370202", "370602"


async def test_full_lifecycle_agrees_on_all_three_sides(region: Region) -> None:
    qingdao, yantai, coord = (
        region.node_stub("qingdao"),
        region.node_stub("yantai"),
        region.coordinator_stub(),
    )
    created = await qingdao.CreateDelegation(create_request(), metadata=as_court(QD))
    d = created.delegation
    assert created.created and d.status == pb.STATUS_CREATED and d.seq == 1

    async def at_yantai() -> pb.Delegation:
        return (
            await yantai.GetDelegation(api.GetDelegationRequest(id=d.id), metadata=as_court(YT))
        ).delegation

    got = await eventually(
        at_yantai_safe(yantai, d.id), lambda x: x is not None and x.status == pb.STATUS_DELIVERED
    )
    assert got.entrusted_court == YT
    await yantai.Acknowledge(api.AcknowledgeRequest(id=d.id), metadata=as_court(YT))
    await yantai.Accept(api.AcceptRequest(id=d.id), metadata=as_court(YT))
    await yantai.ReportProgress(
        api.ReportProgressRequest(id=d.id, text="车辆已找到"), metadata=as_court(YT)
    )
    await yantai.Complete(
        api.CompleteRequest(id=d.id, result=pb.COMPLETION_RESULT_DONE, text="已扣押"),
        metadata=as_court(YT),
    )

    async def at_qingdao() -> pb.Delegation:
        return (
            await qingdao.GetDelegation(api.GetDelegationRequest(id=d.id), metadata=as_court(QD))
        ).delegation

    await eventually(at_qingdao, lambda x: x.status == pb.STATUS_COMPLETED)
    await qingdao.Confirm(
        api.ConfirmRequest(id=d.id, request_id="confirm-1"), metadata=as_court(QD)
    )
    final_q = await eventually(at_qingdao, lambda x: x.status == pb.STATUS_CONFIRMED)
    final_y = await at_yantai()

    async def at_coord() -> pb.Delegation:
        return (await coord.GetDelegation(capi.CoordinatorGetDelegationRequest(id=d.id))).delegation

    final_c = await eventually(at_coord, lambda x: x.status == pb.STATUS_CONFIRMED)
    kinds = [e.kind for e in final_q.history]
    assert kinds == [
        pb.EVENT_KIND_CREATED,
        pb.EVENT_KIND_ROUTED,
        pb.EVENT_KIND_DELIVERED,
        pb.EVENT_KIND_ACKNOWLEDGED,
        pb.EVENT_KIND_ACCEPTED,
        pb.EVENT_KIND_PROGRESS_REPORTED,
        pb.EVENT_KIND_COMPLETED,
        pb.EVENT_KIND_CONFIRMED,
    ]
    assert (
        [e.hash for e in final_q.history]
        == [e.hash for e in final_y.history]
        == [e.hash for e in final_c.history]
    )
    assert final_q.requests[0].state == "applied"


def at_yantai_safe(stub, delegation_id):  # type: ignore[no-untyped-def]
    import grpc

    async def probe():  # type: ignore[no-untyped-def]
        try:
            return (
                await stub.GetDelegation(
                    api.GetDelegationRequest(id=delegation_id), metadata=as_court(YT)
                )
            ).delegation
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    return probe
