"""Valid requests and drafts for tests (fictitious people; IDs with correct check characters)."""

from __future__ import annotations

import uuid

from jiaodong.domain.delegation import Draft
from jiaodong.v1 import court_node_service_pb2 as api
from jiaodong.v1 import delegation_pb2 as pb
from jiaodong.wire import draft_from_pb

RESIDENT_ID = "34052419800101001X"
CREDIT_CODE = "91350100M000100Y43"


def create_request(**overrides: object) -> api.CreateDelegationRequest:
    """A CreateDelegationRequest from Qingdao to Yantai's Zhifu district that a node accepts;
    ``overrides`` replace fields (messages are copied, repeated fields replaced)."""
    request = api.CreateDelegationRequest(
        request_id=uuid.uuid4().hex,
        case_number="(2024)鲁0202执123号",
        target=pb.Target(city="yantai", district="芝罘区"),
        task_type=pb.TASK_TYPE_SEIZURE,
        asset_kind=pb.ASSET_KIND_VEHICLE,
        debtor=pb.Party(
            person=pb.Person(name="张三", resident_id=RESIDENT_ID), phone="13800138000"
        ),
        place=pb.Place(address="芝罘区南大街1号", district="芝罘区"),
        requested_actions="扣押被执行人名下车辆",
        priority=pb.PRIORITY_URGENT,
        plate="鲁F12345",
    )
    for key, value in overrides.items():
        field = getattr(request, key)
        if hasattr(field, "CopyFrom"):
            field.CopyFrom(value)
        elif hasattr(field, "extend"):
            del field[:]
            field.extend(value)
        else:
            setattr(request, key, value)
    return request


def draft(**overrides: object) -> Draft:
    """The domain draft of ``create_request(**overrides)``, as the node's API would pass it."""
    return draft_from_pb(create_request(**overrides))
