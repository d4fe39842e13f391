"""Masked views of delegations and events (jiaodong.api.masking.masked / masked_event)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf import text_format
from google.protobuf.timestamp_pb2 import Timestamp

from jiaodong.api.masking import mask_address, mask_plate, masked, masked_event
from jiaodong.domain.delegation import AssetKind, Debtor, Draft, TaskType, check_draft
from jiaodong.domain.routing import Target
from jiaodong.files.registry import load_registry
from jiaodong.v1 import delegation_pb2 as pb

NAME = "张三"
RESIDENT_ID = "34052419800101001X"
PHONE = "13800138000"
ORG_NAME = "青岛海纳百川贸易有限公司"
CREDIT_CODE = "91350100M000100Y43"
ADDRESS = "烟台市芝罘区南大街100号3单元502室"
PLATE = "鲁F12345"
ACTIONS = "请协助扣押被执行人张三名下车辆鲁F12345，联系电话13800138000。"
EVENT_TEXT = "被执行人张三称车辆停放于南大街100号，身份证34052419800101001X"
DOC_NAMES = ("张三身份证复印件.pdf", "张三名下房产清单.pdf")
EVENT_DOC = "张三财产申报表.pdf"

# Every personal string the delegation carries, and distinctive pieces of them.
PERSONAL = [
    NAME,
    RESIDENT_ID,
    "19800101",  # birth date inside the resident ID
    PHONE,
    "0013",  # middle of the phone number
    ORG_NAME,
    "海纳百川",
    CREDIT_CODE,
    "0100M0001",
    ADDRESS,
    "南大街",
    "502室",
    PLATE,
    "F12345",
    ACTIONS,
    EVENT_TEXT,
    *DOC_NAMES,
    EVENT_DOC,
    "身份证",
    "房产清单",
]

HASH_A = "a" * 64
HASH_B = "b" * 64
SHA = "c" * 64


def document(name: str) -> pb.Document:
    return pb.Document(name=name, media_type="application/pdf", size_bytes=48_213, sha256=SHA)


def event(
    seq: int, prev: str, digest: str, *, text: str = "", docs: tuple[str, ...] = ()
) -> pb.DelegationEvent:
    return pb.DelegationEvent(
        event_id=f"ev-{seq}",
        seq=seq,
        kind=pb.EVENT_KIND_CREATED if seq == 1 else pb.EVENT_KIND_SUPPLEMENTED,
        side=pb.SIDE_REQUESTING,
        actor_court="370202",
        at=Timestamp(seconds=1_760_000_000 + seq),
        text=text,
        court_id="370602",
        documents=[document(d) for d in docs],
        request_id=f"req-{seq}",
        prev_hash=prev,
        hash=digest,
    )


def delegation(debtor: pb.Party) -> pb.Delegation:
    return pb.Delegation(
        id="d-370202-0001",
        request_id="qd-370202-2026-0001",
        case_number="(2024)鲁0202执123号",
        requesting_court="370202",
        target=pb.Target(city="yantai", district="芝罘区"),
        entrusted_court="370602",
        task_type=pb.TASK_TYPE_SEIZURE,
        asset_kind=pb.ASSET_KIND_VEHICLE,
        debtor=debtor,
        place=pb.Place(address=ADDRESS, district="芝罘区"),
        requested_actions=ACTIONS,
        documents=[document(d) for d in DOC_NAMES],
        priority=pb.PRIORITY_URGENT,
        status=pb.STATUS_ACKNOWLEDGED,
        seq=2,
        plate=PLATE,
        created_at=Timestamp(seconds=1_760_000_001),
        history=[
            event(1, "", HASH_A, docs=DOC_NAMES),
            event(2, HASH_A, HASH_B, text=EVENT_TEXT, docs=(EVENT_DOC,)),
        ],
        requests=[pb.PendingRequest(request_id="req-2", kind=pb.EVENT_KIND_SUPPLEMENTED)],
        last_hash=HASH_B,
    )


def person() -> pb.Party:
    return pb.Party(person=pb.Person(name=NAME, resident_id=RESIDENT_ID), phone=PHONE)


def organisation() -> pb.Party:
    return pb.Party(
        organisation=pb.Organisation(name=ORG_NAME, social_credit_code=CREDIT_CODE), phone=PHONE
    )


def all_text(message: pb.Delegation | pb.DelegationEvent) -> tuple[str, bytes]:
    return text_format.MessageToString(message, as_utf8=True), message.SerializeToString()


def assert_no_personal_data(message: pb.Delegation | pb.DelegationEvent) -> None:
    text, wire = all_text(message)
    for secret in PERSONAL:
        assert secret not in text, secret
        assert secret.encode() not in wire, secret


def without_personal_fields(d: pb.Delegation) -> pb.Delegation:
    """A copy with every field that may carry personal data cleared."""
    out = pb.Delegation()
    out.CopyFrom(d)
    out.ClearField("debtor")
    out.ClearField("place")
    out.ClearField("requested_actions")
    out.ClearField("plate")
    for doc in out.documents:
        doc.ClearField("name")
    for ev in out.history:
        ev.ClearField("text")
        for doc in ev.documents:
            doc.ClearField("name")
    return out


@pytest.mark.parametrize("debtor", [person, organisation])
def test_no_personal_string_survives_masking(debtor: Callable[[], pb.Party]) -> None:
    original = delegation(debtor())
    assert_no_personal_data(masked(original))
    # The check can fail: the original does contain them.
    text, _ = all_text(original)
    assert NAME in text or ORG_NAME in text
    assert PLATE in text


def test_person_debtor_is_shown_masked() -> None:
    out = masked(delegation(person()))
    assert out.debtor.person.name == "张*"
    assert out.debtor.person.resident_id == "3405**********001X"
    assert out.debtor.phone == "138****8000"
    assert not out.debtor.HasField("organisation")
    assert out.place.address == "烟台市********"
    assert out.place.district == "芝罘区"
    assert out.plate == "鲁F*****"
    assert out.requested_actions and out.requested_actions != ACTIONS
    assert [d.name for d in out.documents] == ["张" + "*" * (len(n) - 1) for n in DOC_NAMES]
    assert out.history[1].text and out.history[1].text != EVENT_TEXT
    assert [d.name for d in out.history[1].documents] == ["张" + "*" * (len(EVENT_DOC) - 1)]


def test_organisation_debtor_is_shown_masked() -> None:
    out = masked(delegation(organisation()))
    assert out.debtor.organisation.name == "青" + "*" * (len(ORG_NAME) - 1)
    assert out.debtor.organisation.social_credit_code == "9135**********0Y43"
    assert out.debtor.phone == "138****8000"
    assert not out.debtor.HasField("person")


@pytest.mark.parametrize("debtor", [person, organisation])
def test_everything_else_is_untouched(debtor: Callable[[], pb.Party]) -> None:
    original = delegation(debtor())
    out = masked(original)
    assert without_personal_fields(out) == without_personal_fields(original)
    # Spelled out for the fields a board needs to work.
    assert (out.id, out.status, out.seq, out.last_hash) == (
        "d-370202-0001",
        original.status,
        2,
        HASH_B,
    )
    assert [(e.event_id, e.seq, e.prev_hash, e.hash) for e in out.history] == [
        ("ev-1", 1, "", HASH_A),
        ("ev-2", 2, HASH_A, HASH_B),
    ]
    assert [(d.media_type, d.size_bytes, d.sha256) for d in out.documents] == [
        ("application/pdf", 48_213, SHA)
    ] * 2


@pytest.mark.parametrize("debtor", [person, organisation])
def test_the_original_is_not_changed(debtor: Callable[[], pb.Party]) -> None:
    original = delegation(debtor())
    before = original.SerializeToString(deterministic=True)
    out = masked(original)
    assert original.SerializeToString(deterministic=True) == before
    assert original.debtor.phone == PHONE
    assert original.history[1].text == EVENT_TEXT
    # Nor is the copy shared: changing it leaves the original alone.
    out.history[0].documents[0].name = "x"
    assert original.history[0].documents[0].name == DOC_NAMES[0]


@pytest.mark.parametrize(
    ("name", "shown"),
    [("欧阳娜娜", "欧阳**"), ("司马光", "司马*"), ("诸葛亮", "诸葛*"), ("张三", "张*")],
)
def test_compound_surnames_keep_the_whole_surname(name: str, shown: str) -> None:
    d = delegation(pb.Party(person=pb.Person(name=name, resident_id=RESIDENT_ID)))
    out = masked(d)
    assert out.debtor.person.name == shown
    text, wire = all_text(out)
    given = name[len(shown.rstrip("*")) :]
    assert given not in text
    assert given.encode() not in wire


def test_masked_event() -> None:
    original = event(2, HASH_A, HASH_B, text=EVENT_TEXT, docs=(EVENT_DOC, "欧阳娜娜.pdf"))
    before = original.SerializeToString(deterministic=True)
    out = masked_event(original)
    assert_no_personal_data(out)
    assert "娜娜" not in all_text(out)[0]
    assert original.SerializeToString(deterministic=True) == before
    assert out.text and out.text != EVENT_TEXT
    assert [d.name for d in out.documents] == ["张" + "*" * (len(EVENT_DOC) - 1), "欧阳******"]
    cleared = pb.DelegationEvent()
    cleared.CopyFrom(out)
    cleared.ClearField("text")
    for doc in cleared.documents:
        doc.ClearField("name")
    reference = pb.DelegationEvent()
    reference.CopyFrom(original)
    reference.ClearField("text")
    for doc in reference.documents:
        doc.ClearField("name")
    assert cleared == reference


def test_event_without_text_stays_without_text() -> None:
    out = masked_event(event(1, "", HASH_A))
    assert out.text == ""
    assert out == event(1, "", HASH_A)


def test_empty_fields_stay_empty() -> None:
    d = pb.Delegation(
        id="d-1", debtor=pb.Party(person=pb.Person(name=NAME)), place=pb.Place(district="芝罘区")
    )
    out = masked(d)
    assert out.debtor.phone == ""
    assert out.plate == ""
    assert out.requested_actions == ""
    assert out.place.address == ""
    assert out.debtor.person.resident_id == ""


def test_absent_sub_messages_stay_absent() -> None:
    out = masked(pb.Delegation(id="d-1"))
    assert not out.HasField("debtor")
    assert not out.HasField("place")
    assert out == pb.Delegation(id="d-1")


def test_plate_in_a_warning_is_masked() -> None:
    plate = "京A12345"
    draft = Draft(
        request_id="qd-1",
        case_number="(2024)鲁0202执123号",
        target=Target(city="yantai", district="芝罘区"),
        task_type=TaskType.SEIZURE,
        asset_kind=AssetKind.VEHICLE,
        debtor=Debtor(is_person=True, name="张三", identifier="370202198503070021"),
        address="烟台市芝罘区南大街100号",
        district="芝罘区",
        requested_actions="扣押车辆",
        plate=plate,
    )
    checked = check_draft(load_registry(), "370202", draft)
    assert any(plate in w for w in checked.warnings)  # what the node stores with the delegation
    d = delegation(person())
    d.plate = plate
    d.warnings.extend(checked.warnings)
    out = masked(d)
    assert out.plate == "京A*****"
    assert plate not in text_format.MessageToString(out, as_utf8=True)


@pytest.mark.parametrize(
    ("address", "shown"),
    [
        ("烟台市芝罘区南大街100号", "烟台市********"),
        ("  芝罘区南大街1号  ", "芝罘区*****"),
        ("芝罘区", "***"),
        ("南大街", "***"),
        ("", ""),
    ],
)
def test_mask_address(address: str, shown: str) -> None:
    assert mask_address(address) == shown


@pytest.mark.parametrize(
    ("plate", "shown"),
    [
        ("鲁F12345", "鲁F*****"),
        ("鲁BD12345", "鲁B******"),
        (" 鲁B12345 ", "鲁B*****"),
        ("鲁", "鲁"),
    ],
)
def test_mask_plate(plate: str, shown: str) -> None:
    assert mask_plate(plate) == shown
