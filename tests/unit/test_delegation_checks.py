"""The checks a new delegation passes before anything is written, on the real court registry."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiaodong.domain.delegation import (
    AssetKind,
    Checked,
    Debtor,
    Draft,
    Priority,
    TaskType,
    check_case_court,
    check_draft,
    fingerprint,
)
from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.lifecycle import Document
from jiaodong.domain.registry import Registry
from jiaodong.domain.routing import Target
from jiaodong.files.registry import load_registry

SHINAN = "370202"  # Qingdao Shinan District court, the requesting court
ZHIFU = "370602"  # Yantai Zhifu District court, which serves 芝罘区
RESIDENT_ID = "370202198503070021"  # valid GB 11643-1999 check character
CREDIT_CODE = "91370200MA3C41234L"  # valid GB 32100-2015 check character (L)
LETTER_SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


def letter(name: str = "协助执行通知书.pdf") -> Document:
    return Document(name, "application/pdf", 48_213, LETTER_SHA)


def person(identifier: str = RESIDENT_ID) -> Debtor:
    return Debtor(is_person=True, name="张三", identifier=identifier, phone="13805321234")


def organisation(identifier: str = CREDIT_CODE) -> Debtor:
    return Debtor(is_person=False, name="青岛某某贸易有限公司", identifier=identifier)


def vehicle_seizure(**changes: object) -> Draft:
    """A sound request: seize a Yantai-registered car of a Qingdao debtor, living in 芝罘区."""
    draft = Draft(
        request_id="qd-370202-2026-0001",
        case_number="(2024)鲁0202执123号",
        target=Target(city="yantai", district="芝罘区"),
        task_type=TaskType.SEIZURE,
        asset_kind=AssetKind.VEHICLE,
        debtor=person(),
        address="烟台市芝罘区南大街100号",
        district="芝罘区",
        requested_actions="请协助扣押被执行人名下车辆鲁F12345，并送达扣押裁定。",
        documents=(letter(), letter("执行裁定书.pdf")),
        priority=Priority.URGENT,
        plate="鲁F12345",
    )
    return replace(draft, **changes)  # type: ignore[arg-type]


def violations(registry: Registry, draft: Draft) -> dict[str, str]:
    """Field path -> description of every violation check_draft reports."""
    with pytest.raises(InvalidInput) as refused:
        check_draft(registry, SHINAN, draft)
    found = {v.field: v.description for v in refused.value.violations}
    assert len(found) == len(refused.value.violations), "a field is reported twice"
    return found


# --- accepted -------------------------------------------------------------------------------------


def test_a_vehicle_seizure_to_zhifu_is_accepted(registry: Registry) -> None:
    draft = vehicle_seizure()
    checked = check_draft(registry, SHINAN, draft)
    assert checked == Checked(draft, ZHIFU, ())


def test_traditional_and_full_width_input_is_normalised(registry: Registry) -> None:
    draft = vehicle_seizure(
        case_number="（2024）魯0202執123號",
        debtor=person("34052419800101001x"),
        plate="魯F·12345",
    )
    checked = check_draft(registry, SHINAN, draft)
    assert checked.entrusted_court == ZHIFU
    assert checked.draft.case_number == "(2024)鲁0202执123号"
    assert checked.draft.debtor is not None
    assert checked.draft.debtor.identifier == "34052419800101001X"
    assert checked.draft.plate == "鲁F12345"
    # Everything else is kept as submitted.
    assert (
        replace(
            checked.draft, case_number=draft.case_number, debtor=draft.debtor, plate=draft.plate
        )
        == draft
    )
    assert checked.warnings == ()


@pytest.mark.parametrize(
    ("target", "court"),
    [
        (Target(court_id=ZHIFU), ZHIFU),
        (Target(city="Yantai", district="芝罘"), ZHIFU),
        (Target(city="烟台"), "370600"),
        (Target(court_id="370600", city="yantai", district="芝罘区"), "370600"),
    ],
)
def test_the_target_is_resolved_to_a_court(registry: Registry, target: Target, court: str) -> None:
    assert check_draft(registry, SHINAN, vehicle_seizure(target=target)).entrusted_court == court


def test_service_of_documents_needs_no_asset_or_plate(registry: Registry) -> None:
    draft = vehicle_seizure(
        task_type=TaskType.SERVICE_OF_DOCUMENTS,
        asset_kind=AssetKind.UNSPECIFIED,
        plate="",
        requested_actions="请向被执行人送达执行通知书。",
    )
    assert check_draft(registry, SHINAN, draft).entrusted_court == ZHIFU


def test_limits_are_inclusive(registry: Registry) -> None:
    draft = vehicle_seizure(
        request_id="r" * 64,
        requested_actions="扣" * 4000,
        documents=tuple(letter(f"附件{i}.pdf") for i in range(50)),
    )
    assert check_draft(registry, SHINAN, draft).entrusted_court == ZHIFU


def test_line_breaks_and_tabs_are_not_control_characters(registry: Registry) -> None:
    draft = vehicle_seizure(requested_actions="一、扣押车辆；\r\n二、\t送达裁定。")
    assert check_draft(registry, SHINAN, draft).entrusted_court == ZHIFU


@pytest.mark.parametrize(
    "task", [TaskType.ON_SITE_INSPECTION, TaskType.HANDOVER, TaskType.FORCED_EVICTION], ids=str
)
def test_every_task_but_service_needs_an_asset_kind(registry: Registry, task: TaskType) -> None:
    draft = vehicle_seizure(task_type=task, asset_kind=AssetKind.UNSPECIFIED, plate="")
    assert violations(registry, draft) == {
        "asset_kind": "is required except for service of documents"
    }


# --- warnings, not errors -------------------------------------------------------------------------


def test_a_credit_code_failing_its_check_is_a_warning(registry: Registry) -> None:
    draft = vehicle_seizure(debtor=organisation("91370200ma3c412345"))
    checked = check_draft(registry, SHINAN, draft)
    assert checked.entrusted_court == ZHIFU
    assert checked.draft.debtor is not None
    assert checked.draft.debtor.identifier == "91370200MA3C412345"
    assert len(checked.warnings) == 1
    assert "check character should be L, got 5" in checked.warnings[0]


def test_a_sound_credit_code_gives_no_warning(registry: Registry) -> None:
    checked = check_draft(registry, SHINAN, vehicle_seizure(debtor=organisation()))
    assert checked.warnings == ()


def test_a_plate_from_outside_jiaodong_is_a_warning(registry: Registry) -> None:
    checked = check_draft(registry, SHINAN, vehicle_seizure(plate="京A12345"))
    assert checked.draft.plate == "京A12345"
    assert checked.warnings == ("plate 京A12345 is not registered in a Jiaodong city",)


# --- refused --------------------------------------------------------------------------------------


def test_every_bad_field_is_reported_at_once(registry: Registry) -> None:
    draft = vehicle_seizure(
        request_id="qd 0001/重复",
        case_number="(2024)鲁0202执0123号",
        asset_kind=AssetKind.UNSPECIFIED,
        debtor=person("370202198503070022"),
        address="南大街\x00100号",
        requested_actions="扣" * 4001,
        documents=(
            letter(),
            Document("照片.jpg", "image jpeg", 1024, LETTER_SHA),
            Document("笔录.pdf", "application/pdf", 0, LETTER_SHA.upper()),
        ),
        target=Target(court_id="370203"),
    )
    found = violations(registry, draft)
    assert set(found) == {
        "request_id",
        "case_number",
        "asset_kind",
        "debtor.person.resident_id",
        "place.address",
        "requested_actions",
        "documents[1].media_type",
        "documents[2].size_bytes",
        "documents[2].sha256",
        "target.court_id",
    }
    assert "sequence number should not start with 0" in found["case_number"]
    assert "check character should be 1, got 2" in found["debtor.person.resident_id"]
    assert found["requested_actions"] == "is 4001 characters; at most 4000"
    assert "same city as the requesting court 370202" in found["target.court_id"]


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        pytest.param(
            {"case_number": "(2024)鲁0202民123号"},
            "case_number",
            "unknown case type '民'",
            id="civil-case-number",
        ),
        pytest.param(
            {"case_number": "2024鲁0202执123号"}, "case_number", "year in parentheses", id="no-year"
        ),
        pytest.param(
            {"debtor": person("370202198503070022")},
            "debtor.person.resident_id",
            "check character should be 1, got 2",
            id="resident-id-checksum",
        ),
        pytest.param(
            {"debtor": person("370202850307002")},
            "debtor.person.resident_id",
            "old 15-digit IDs are not accepted",
            id="resident-id-15-digits",
        ),
        pytest.param(
            {"debtor": organisation("91370200MA3C4123IL")},
            "debtor.organisation.social_credit_code",
            "character 17 is 'I'",
            id="credit-code-letter",
        ),
        pytest.param({"debtor": None}, "debtor", "is required", id="no-debtor"),
        pytest.param(
            {"debtor": replace(person(), name=" ")}, "debtor.person.name", "is required", id="name"
        ),
        pytest.param(
            {"debtor": replace(person(), phone="call me")},
            "debtor.phone",
            "not a telephone number",
            id="phone",
        ),
        pytest.param(
            {"task_type": None, "plate": ""}, "task_type", "is required", id="no-task-type"
        ),
        pytest.param(
            {"task_type": TaskType.PROPERTY_INQUIRY, "asset_kind": AssetKind.UNSPECIFIED},
            "asset_kind",
            "required except for service of documents",
            id="inquiry-without-asset",
        ),
        pytest.param(
            {"asset_kind": AssetKind.UNSPECIFIED},
            "asset_kind",
            "required except for service of documents",
            id="seizure-without-asset",
        ),
        pytest.param(
            {"plate": ""}, "plate", "required for a vehicle seizure", id="vehicle-without-plate"
        ),
        pytest.param({"plate": "鲁F1234"}, "plate", "7 characters", id="short-plate"),
        pytest.param(
            {"requested_actions": "扣" * 4001},
            "requested_actions",
            "is 4001 characters; at most 4000",
            id="oversize-actions",
        ),
        pytest.param(
            {"requested_actions": "  \n "}, "requested_actions", "is required", id="blank-actions"
        ),
        pytest.param(
            {"requested_actions": "扣押\x1b[2J车辆"},
            "requested_actions",
            "contains control characters",
            id="escape-in-actions",
        ),
        pytest.param(
            {"requested_actions": "扣押车辆\x7f"},
            "requested_actions",
            "contains control characters",
            id="delete-in-actions",
        ),
        pytest.param(
            {"district": "芝罘区\x00"},
            "place.district",
            "contains control characters",
            id="nul-in-district",
        ),
        pytest.param(
            {"address": "南" * 201}, "place.address", "at most 200", id="oversize-address"
        ),
        pytest.param(
            {"documents": tuple(letter(f"附件{i}.pdf") for i in range(51))},
            "documents",
            "51 documents; at most 50",
            id="too-many-documents",
        ),
        pytest.param(
            {"documents": (replace(letter(), sha256="abc123"),)},
            "documents[0].sha256",
            "64 lowercase hex characters",
            id="short-sha256",
        ),
        pytest.param(
            {"documents": (replace(letter(), sha256=LETTER_SHA.upper()),)},
            "documents[0].sha256",
            "64 lowercase hex characters",
            id="uppercase-sha256",
        ),
        pytest.param(
            {"documents": (letter(), replace(letter(), media_type="pdf"))},
            "documents[1].media_type",
            "not a media type",
            id="bad-media-type",
        ),
        pytest.param(
            {"documents": (replace(letter(), size_bytes=200 * 1024 * 1024 + 1),)},
            "documents[0].size_bytes",
            "must be 1 to 209715200 bytes",
            id="oversize-document",
        ),
        pytest.param(
            {"documents": (replace(letter(), name="a\x00.pdf"),)},
            "documents[0].name",
            "contains control characters",
            id="control-in-document-name",
        ),
        pytest.param(
            {"request_id": "qd 0001"}, "request_id", "letters, digits", id="space-in-request-id"
        ),
        pytest.param({"request_id": ""}, "request_id", "1-64 characters", id="empty-request-id"),
        pytest.param(
            {"request_id": "r" * 65}, "request_id", "1-64 characters", id="long-request-id"
        ),
        pytest.param(
            {"target": Target(court_id="370203")},
            "target.court_id",
            "the same city as the requesting court 370202",
            id="same-city-court",
        ),
        pytest.param(
            {"target": Target(city="qingdao", district="市北区")},
            "target.city",
            "is the city of the requesting court",
            id="same-city",
        ),
        pytest.param(
            {"target": Target(court_id="999999")},
            "target.court_id",
            "there is no court 999999",
            id="unknown-court",
        ),
        pytest.param(
            {"target": Target(city="yantai", district="黄岛区")},
            "target.district",
            "has no district '黄岛区'",
            id="district-of-another-city",
        ),
        pytest.param({"target": Target()}, "target", "name the target court", id="no-target"),
    ],
)
def test_one_bad_field_is_reported_with_its_path(
    registry: Registry, changes: dict[str, object], field: str, says: str
) -> None:
    found = violations(registry, vehicle_seizure(**changes))
    assert list(found) == [field]
    assert says in found[field]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"request_id": "qd-0001\n"}, "request_id", id="request_id"),
        pytest.param(
            {"documents": (replace(letter(), sha256=LETTER_SHA + "\n"),)},
            "documents[0].sha256",
            id="sha256",
        ),
        pytest.param(
            {"documents": (replace(letter(), media_type="application/pdf\n"),)},
            "documents[0].media_type",
            id="media_type",
        ),
        pytest.param(
            {"debtor": replace(person(), phone="13805321234\n")}, "debtor.phone", id="phone"
        ),
    ],
)
def test_a_trailing_newline_is_refused(
    registry: Registry, changes: dict[str, object], field: str
) -> None:
    # These patterns end in ``$``, which also matches just before a final newline.
    assert list(violations(registry, vehicle_seizure(**changes))) == [field]


@pytest.mark.parametrize("char", ["\x85", "\x9b"], ids=["NEL", "CSI"])
def test_c1_control_characters_are_refused(registry: Registry, char: str) -> None:
    found = violations(registry, vehicle_seizure(requested_actions=f"扣押{char}车辆"))
    assert found == {"requested_actions": "contains control characters"}


def test_nothing_is_normalised_when_refused(registry: Registry) -> None:
    draft = vehicle_seizure(case_number="（2024）魯0202執123號", target=Target(court_id="370203"))
    assert list(violations(registry, draft)) == ["target.court_id"]
    assert draft.case_number == "（2024）魯0202執123號"


# --- the case number's court code is the requesting court's own --------------------------------


def test_the_registry_gives_the_codes_these_tests_use(registry: Registry) -> None:
    assert registry.court(SHINAN).case_code == "鲁0202"  # also README's example
    assert registry.court("370200").case_code == "鲁02"
    assert registry.court(ZHIFU).case_code == "鲁0602"
    assert registry.court_by_case_code("鲁01") is None  # Jinan: outside the region
    assert registry.court_by_case_code("鲁0299") is None


@pytest.mark.parametrize(
    ("court", "case_number", "normal"),
    [
        (SHINAN, "(2024)鲁0202执123号", "(2024)鲁0202执123号"),
        (SHINAN, "（2024）魯0202執恢12號", "(2024)鲁0202执恢12号"),
        ("370200", "〔2016〕魯02執659號", "(2016)鲁02执659号"),
        ("370211", "(2019)鲁0211执123号", "(2019)鲁0211执123号"),
    ],
)
def test_a_case_number_of_the_requesting_courts_own_code_is_accepted(
    registry: Registry, court: str, case_number: str, normal: str
) -> None:
    checked = check_draft(registry, court, vehicle_seizure(case_number=case_number))
    assert checked.draft.case_number == normal


@pytest.mark.parametrize(
    ("court", "case_number", "says"),
    [
        pytest.param(
            SHINAN,
            "(2024)鲁0203执123号",
            (
                "court code 鲁0203 is the code of 370203 青岛市市北区人民法院, not of the "
                "requesting court; a delegation is about the requesting court's own enforcement "
                "case, so its number carries 鲁0202, the code of 370202 青岛市市南区人民法院"
            ),
            id="another-basic-court",
        ),
        pytest.param(
            SHINAN,
            "（2024）魯02執123號",
            "court code 鲁02 is the code of 370200 青岛市中级人民法院",
            id="its-intermediate-court-traditional",
        ),
        pytest.param(
            "370200",
            "(2024)鲁0202执123号",
            "its number carries 鲁02, the code of 370200 青岛市中级人民法院",
            id="intermediate-court-with-a-basic-code",
        ),
        pytest.param(
            SHINAN,
            "(2024)鲁0602执123号",
            "court code 鲁0602 is the code of 370602 烟台市芝罘区人民法院",
            id="a-court-of-another-city",
        ),
        pytest.param(
            SHINAN,
            "(2024)鲁0299执123号",
            (
                "court code 鲁0299 names no court in the court registry; a delegation is about "
                "the requesting court's own enforcement case, so its number carries 鲁0202, the "
                "code of 370202 青岛市市南区人民法院"
            ),
            id="no-such-court",
        ),
        pytest.param(
            SHINAN,
            "(2024)鲁0102执123号",
            "court code 鲁0102 names no court in the court registry",
            id="outside-the-region",
        ),
    ],
)
def test_a_case_number_of_another_court_is_refused_naming_both_codes(
    registry: Registry, court: str, case_number: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_draft(registry, court, vehicle_seizure(case_number=case_number))
    found = {v.field: v.description for v in refused.value.violations}
    assert list(found) == ["case_number"]
    assert says in found["case_number"]


def test_the_case_court_is_reported_with_every_other_bad_field(registry: Registry) -> None:
    found = violations(
        registry, vehicle_seizure(case_number="(2024)鲁0211执1号", target=Target(court_id="370203"))
    )
    assert list(found) == ["case_number", "target.court_id"]
    assert "鲁0211" in found["case_number"] and "鲁0202" in found["case_number"]


def test_check_case_court_leaves_an_unknown_requesting_court_to_routing(
    registry: Registry,
) -> None:
    assert check_case_court(registry, "999999", "(2024)鲁0202执1号") is None
    assert check_case_court(registry, SHINAN, "(2024)鲁0202执1号") is None
    with pytest.raises(InvalidInput) as refused:
        check_draft(registry, "999999", vehicle_seizure())
    assert [v.field for v in refused.value.violations] == ["target"]


# --- properties -----------------------------------------------------------------------------------

request_ids = st.text(alphabet="ABCXYZabcxyz0123456789._:-", min_size=1, max_size=64)


@given(request_id=request_ids)
def test_any_request_id_of_the_allowed_characters_is_accepted(
    registry: Registry, request_id: str
) -> None:
    checked = check_draft(registry, SHINAN, vehicle_seizure(request_id=request_id))
    assert checked.draft.request_id == request_id


@given(length=st.integers(4001, 6000))
def test_any_oversize_request_is_refused_with_its_length(registry: Registry, length: int) -> None:
    found = violations(registry, vehicle_seizure(requested_actions="扣" * length))
    assert found == {"requested_actions": f"is {length} characters; at most 4000"}


# --- fingerprint ----------------------------------------------------------------------------------


@given(request_ids, request_ids)
def test_fingerprint_ignores_the_request_id(first: str, second: str) -> None:
    assert fingerprint(vehicle_seizure(request_id=first)) == fingerprint(
        vehicle_seizure(request_id=second)
    )


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"case_number": "(2024)鲁0202执124号"}, id="case_number"),
        pytest.param({"target": Target(court_id=ZHIFU)}, id="target"),
        pytest.param({"task_type": TaskType.PROPERTY_INQUIRY}, id="task_type"),
        pytest.param({"asset_kind": AssetKind.REAL_ESTATE}, id="asset_kind"),
        pytest.param({"debtor": person("34052419800101001X")}, id="debtor"),
        pytest.param({"address": "烟台市芝罘区南大街101号"}, id="address"),
        pytest.param({"requested_actions": "请协助查封车辆。"}, id="requested_actions"),
        pytest.param({"documents": (letter(),)}, id="documents"),
        pytest.param({"documents": (replace(letter(), sha256="0" * 64),)}, id="document_hash"),
        pytest.param({"priority": Priority.NORMAL}, id="priority"),
        pytest.param({"plate": "鲁F12346"}, id="plate"),
    ],
)
def test_fingerprint_differs_when_the_content_differs(changes: dict[str, object]) -> None:
    base = vehicle_seizure()
    other = vehicle_seizure(**changes)
    assert other != base
    assert fingerprint(other) != fingerprint(base)
    # ... also when the request_id is the same, which is what tells a reuse from a retry.
    assert fingerprint(replace(other, request_id="x")) != fingerprint(replace(base, request_id="x"))


def test_fingerprint_is_stable_text() -> None:
    assert fingerprint(vehicle_seizure()) == fingerprint(vehicle_seizure())
    assert "qd-370202-2026-0001" not in fingerprint(vehicle_seizure())


@pytest.mark.parametrize(
    "media_type", ["application/x-msdownload", "application/zip", "application/octet-stream"]
)
def test_documents_of_other_formats_are_refused(registry: Registry, media_type: str) -> None:
    draft = vehicle_seizure(documents=(replace(letter(), media_type=media_type),))
    assert violations(registry, draft) == {
        "documents[0].media_type": f"{media_type} is not accepted; send PDF, OFD, JPEG, PNG, "
        "TIFF, Word, plain text, XML or JSON"
    }


def test_an_ofd_document_is_accepted(registry: Registry) -> None:
    draft = vehicle_seizure(documents=(replace(letter(), media_type="application/ofd"),))
    assert check_draft(registry, SHINAN, draft).entrusted_court == ZHIFU
