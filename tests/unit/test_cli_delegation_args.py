"""Unit tests for the pure helpers of the `jiaodong delegation` command (no network, no node)."""

from __future__ import annotations

import hashlib
import io
from enum import StrEnum
from pathlib import Path
from typing import Any

import grpc
import pytest
import typer
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from rich.console import Console

from jiaodong.cli import connect, lang, names, render, requests
from jiaodong.v1 import court_node_service_pb2 as node_pb
from jiaodong.v1 import delegation_pb2 as d_pb

# A sample resident ID (GB 11643-1999 example, valid check character), not a real person's.
RESIDENT_ID = "11010519491231002X"
NAME = "张三丰"
PHONE = "13812345678"
ADDRESS = "幸福路1号"


# --- enum names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choices", "enum", "prefix"),
    [
        (names.TaskChoice, d_pb.TaskType, names.TASK_PREFIX),
        (names.AssetChoice, d_pb.AssetKind, names.ASSET_PREFIX),
        (names.ReasonChoice, d_pb.ReturnReason, names.REASON_PREFIX),
        (names.ResultChoice, d_pb.CompletionResult, names.RESULT_PREFIX),
        (names.StatusChoice, d_pb.Status, names.STATUS_PREFIX),
    ],
)
def test_choices_match_the_proto_enums(choices: type[StrEnum], enum: Any, prefix: str) -> None:
    """What typer offers is exactly the proto enum, minus the unspecified zero."""
    assert sorted(c.value for c in choices) == sorted(names.enum_cli_names(enum, prefix))
    for choice in choices:
        value = names.enum_value(enum, prefix, choice)
        assert names.enum_cli_name(enum, prefix, value) == choice.value


def test_specific_conversions() -> None:
    assert names.return_reason("materials-incomplete") == d_pb.RETURN_REASON_MATERIALS_INCOMPLETE
    assert names.return_reason("not-our-jurisdiction") == d_pb.RETURN_REASON_NOT_OUR_JURISDICTION
    assert names.task_type("on-site-inspection") == d_pb.TASK_TYPE_ON_SITE_INSPECTION
    assert names.task_type("service-of-documents") == d_pb.TASK_TYPE_SERVICE_OF_DOCUMENTS
    assert names.asset_kind("real-estate") == d_pb.ASSET_KIND_REAL_ESTATE
    assert names.completion_result("partly-done") == d_pb.COMPLETION_RESULT_PARTLY_DONE
    assert names.completion_result(names.ResultChoice.NOT_POSSIBLE) == (
        d_pb.COMPLETION_RESULT_NOT_POSSIBLE
    )


def test_status_names_both_ways() -> None:
    assert names.status_value("acknowledged") == d_pb.STATUS_ACKNOWLEDGED
    assert names.status_value("ACKNOWLEDGED") == d_pb.STATUS_ACKNOWLEDGED
    assert names.status_value(" routing-failed ") == d_pb.STATUS_ROUTING_FAILED
    assert names.status_value("routing_failed") == d_pb.STATUS_ROUTING_FAILED
    assert names.status_name(d_pb.STATUS_ROUTING_FAILED) == "routing-failed"
    assert names.status_label(d_pb.STATUS_ROUTING_FAILED) == "ROUTING_FAILED"
    for value in d_pb.Status.values():
        if value != d_pb.STATUS_UNSPECIFIED:
            assert names.status_value(names.status_name(value)) == value


@pytest.mark.parametrize("bad", ["", "unspecified", "UNSPECIFIED", "acknowledge", "done"])
def test_unknown_or_unspecified_status_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a choice"):
        names.status_value(bad)


def test_unknown_reason_is_refused() -> None:
    with pytest.raises(ValueError):
        names.return_reason("because")


def test_number_from_a_newer_server_is_shown_as_a_number() -> None:
    assert names.status_label(99) == "99"  # type: ignore[arg-type]
    assert names.kind_label(d_pb.EVENT_KIND_PROGRESS_REPORTED) == "PROGRESS_REPORTED"
    assert names.priority_name(d_pb.PRIORITY_UNSPECIFIED) == "normal"
    assert names.reason_name(d_pb.RETURN_REASON_REQUEST_UNCLEAR) == "request-unclear"


# --- documents -----------------------------------------------------------------------------------


def test_document_evidence_from_a_file(tmp_path: Path) -> None:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 5000  # over one read chunk
    path = tmp_path / "ruling.pdf"
    path.write_bytes(content)
    doc = requests.document_from_path(path)
    assert doc.name == "ruling.pdf"
    assert doc.media_type == "application/pdf"
    assert doc.size_bytes == len(content)
    assert doc.sha256 == hashlib.sha256(content).hexdigest()
    assert len(doc.sha256) == 64


def test_document_of_unknown_type_is_octet_stream(tmp_path: Path) -> None:
    path = tmp_path / "receipt.zzunknown"
    path.write_bytes(b"")
    doc = requests.document_from_path(path)
    assert doc.media_type == "application/octet-stream"
    assert doc.size_bytes == 0
    assert doc.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_documents_from_no_paths() -> None:
    assert requests.documents_from_paths(None) == []


# --- request building ----------------------------------------------------------------------------


def test_target_is_a_court_or_a_city_with_district() -> None:
    assert requests.build_target("370602", None, None) == d_pb.Target(court_id="370602")
    by_district = d_pb.Target(city="yantai", district="芝罘区")
    assert requests.build_target(None, "yantai", "芝罘区") == by_district
    assert requests.build_target(None, "yantai", None) == d_pb.Target(city="yantai")
    assert requests.build_target(None, None, None) == d_pb.Target()  # the node reports it missing
    with pytest.raises(typer.BadParameter):
        requests.build_target("370602", "yantai", None)
    with pytest.raises(typer.BadParameter):
        requests.build_target(None, None, "芝罘区")


def test_party_is_a_person_or_an_organisation() -> None:
    person = requests.build_party(NAME, RESIDENT_ID, None, None, PHONE)
    assert person is not None
    assert person.WhichOneof("kind") == "person"
    assert person.person.resident_id == RESIDENT_ID
    assert person.phone == PHONE
    org = requests.build_party(None, None, "青岛某某有限公司", "91370200MA3C00000X", None)
    assert org is not None
    assert org.WhichOneof("kind") == "organisation"
    assert requests.build_party(None, None, None, None, None) is None
    with pytest.raises(typer.BadParameter):
        requests.build_party(NAME, RESIDENT_ID, "青岛某某有限公司", None, None)
    with pytest.raises(typer.BadParameter):
        requests.build_party(None, RESIDENT_ID, None, None, None)
    with pytest.raises(typer.BadParameter):
        requests.build_party(None, None, None, "91370200MA3C00000X", None)


def test_calls_present_the_courts_own_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jiaodong.files.registry import load_registry
    from jiaodong.security.certs import identity_of, init_pki

    init_pki(tmp_path / "pki", load_registry(None))
    monkeypatch.setenv("JD_TLS_DIR", str(tmp_path / "pki"))
    call = connect.node_call("127.0.0.1:50061", "370202", "clerk", False, 10.0)
    assert identity_of(call.tls.cert.read_bytes()).label == "clerk:370202"
    # A certificate for someone else is refused before any call is made.
    monkeypatch.setenv("JD_TLS_CA", str(tmp_path / "pki" / "ca.pem"))
    monkeypatch.setenv("JD_TLS_CERT", str(tmp_path / "pki" / "officer-370602.pem"))
    monkeypatch.setenv("JD_TLS_KEY", str(tmp_path / "pki" / "officer-370602.key"))
    with pytest.raises(typer.Exit):
        connect.node_call("127.0.0.1:50061", "370202", "officer", False, 10.0)
    with pytest.raises(typer.Exit):
        connect.node_call("127.0.0.1:50061", "370202", "auditor", False, 10.0)


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 2),
        (grpc.StatusCode.NOT_FOUND, 2),
        (grpc.StatusCode.FAILED_PRECONDITION, 2),
        (grpc.StatusCode.ALREADY_EXISTS, 2),
        (grpc.StatusCode.PERMISSION_DENIED, 2),
        (grpc.StatusCode.UNAVAILABLE, 3),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 3),
        (grpc.StatusCode.INTERNAL, 1),
        (grpc.StatusCode.UNAUTHENTICATED, 1),
    ],
)
def test_exit_codes(code: grpc.StatusCode, exit_code: int) -> None:
    assert connect.exit_code_for(code) == exit_code


def test_field_violations_one_line_each() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="case_number", description="bad"),
            error_details_pb2.BadRequest.FieldViolation(field="plate", description="required"),
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(bad)
    status = status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message="2 errors", details=[packed])
    assert connect.violation_lines(status) == ["  - case_number: bad", "  - plate: required"]
    assert connect.violation_lines(status_pb2.Status(code=code_pb2.NOT_FOUND)) == []


# --- readable output -----------------------------------------------------------------------------


@pytest.fixture
def english() -> Any:
    """Print in English (--lang en) for one test."""
    before = lang.current()
    lang.use("en")
    yield
    lang.use(before)


@pytest.fixture
def chinese() -> Any:
    """Print in simplified Chinese, the default, for one test."""
    before = lang.current()
    lang.use("zh")
    yield
    lang.use(before)


def _delegation() -> d_pb.Delegation:
    d = d_pb.Delegation(
        id="6f1c2a",
        case_number="(2024)鲁0202执123号",
        requesting_court="370202",
        entrusted_court="370602",
        task_type=d_pb.TASK_TYPE_SEIZURE,
        asset_kind=d_pb.ASSET_KIND_VEHICLE,
        priority=d_pb.PRIORITY_URGENT,
        status=d_pb.STATUS_RETURNED,
        seq=3,
        debtor=d_pb.Party(person=d_pb.Person(name=NAME, resident_id=RESIDENT_ID), phone=PHONE),
        place=d_pb.Place(address=ADDRESS, district="芝罘区"),
        requested_actions="seize [bold]the car[/bold]",
    )
    d.documents.add(
        name="ruling.pdf", media_type="application/pdf", size_bytes=2048, sha256="ab" * 32
    )
    d.requests.add(
        request_id="cancel-1", kind=d_pb.EVENT_KIND_CANCELLED, state="refused", reason="too late"
    )
    d.requests.add(request_id="urge-1", kind=d_pb.EVENT_KIND_URGED, state="applied")
    created = d.history.add(
        seq=1, kind=d_pb.EVENT_KIND_CREATED, side=d_pb.SIDE_REQUESTING, actor_court="370202"
    )
    created.at.FromSeconds(1_714_521_600)  # 2024-05-01 00:00:00 UTC
    routed = d.history.add(seq=2, kind=d_pb.EVENT_KIND_ROUTED, side=d_pb.SIDE_COORDINATOR)
    routed.court_id = "370602"
    routed.at.FromSeconds(1_714_521_660)
    returned = d.history.add(
        seq=3,
        kind=d_pb.EVENT_KIND_RETURNED,
        side=d_pb.SIDE_ENTRUSTED,
        actor_court="370602",
        return_reason=d_pb.RETURN_REASON_MATERIALS_INCOMPLETE,
        text="ruling missing",
    )
    returned.at.FromSeconds(1_714_525_200)
    return d


def _render(d: d_pb.Delegation) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    render.render_delegation(console, d)
    return console.export_text()


def test_show_masks_the_debtor_and_hides_the_address() -> None:
    text = _render(_delegation())
    assert NAME not in text
    assert RESIDENT_ID not in text
    assert PHONE not in text
    assert ADDRESS not in text
    assert "张**" in text
    assert "1101**********002X" in text
    assert "138****5678" in text
    assert "芝罘区" in text


def test_show_masks_an_organisation() -> None:
    d = _delegation()
    d.debtor.CopyFrom(
        d_pb.Party(
            organisation=d_pb.Organisation(
                name="青岛某某有限公司", social_credit_code="91370200MA3C00000X"
            )
        )
    )
    text = _render(d)
    assert "青岛某某有限公司" not in text
    assert "91370200MA3C00000X" not in text
    assert "青*******" in text
    assert "9137**********000X" in text


@pytest.mark.usefixtures("english")
def test_show_header_history_and_requests() -> None:
    text = _render(_delegation())
    assert "6f1c2a" in text
    assert "(2024)鲁0202执123号" in text
    assert "returned" in text
    assert "Shinan District People's Court (370202) -> Zhifu District People's Court (370602)" in (
        text
    )
    assert "seizure" in text
    assert "vehicle" in text
    assert "urgent" in text
    assert "ruling.pdf" in text
    assert "ab" * 32 in text
    # Times in Asia/Shanghai (UTC+8), whatever the machine's zone.
    assert "2024-05-01 08:00:00" in text
    assert "2024-05-01 09:00:00" in text
    assert "reason materials incomplete; ruling missing" in text
    assert "-> Zhifu District People's Court (370602)" in text
    # Refused requests are listed; applied ones are not.
    assert "cancel-1" in text
    assert "too late" in text
    assert "urge-1" not in text
    # Text from the server is printed as it is, never read as rich markup.
    assert "seize [bold]the car[/bold]" in text


@pytest.mark.usefixtures("english")
def test_unrouted_delegation_shows_its_target() -> None:
    d = _delegation()
    d.entrusted_court = ""
    d.target.CopyFrom(d_pb.Target(city="yantai", district="芝罘区"))
    assert "Shinan District People's Court (370202) -> yantai/芝罘区 (not routed yet)" in _render(d)


def test_local_time_of_an_unset_timestamp() -> None:
    assert render.local_time(d_pb.Delegation().created_at) == "-"


@pytest.mark.usefixtures("english")
def test_summary_lines() -> None:
    d = _delegation()
    assert render.summary_line("returned", d) == "returned 6f1c2a (status returned, seq 3)"
    assert render.summary_line("cancelled", d, "cancel-1") == (
        "cancelled 6f1c2a (status returned, seq 3) request cancel-1 refused: too late"
    )


@pytest.mark.usefixtures("english")
def test_watch_line_is_one_line() -> None:
    d = _delegation()
    event = d_pb.DelegationEvent()
    event.CopyFrom(d.history[2])
    event.text = "first line\nsecond line"
    line = render.watch_line(node_pb.WatchDelegationsResponse(delegation=d, event=event))
    assert "\n" not in line
    assert line.startswith(
        "2024-05-01 09:00:00  6f1c2a  #3 returned by Zhifu District People's Court (370602) "
        "(entrusted)"
    )
    assert "first line second line" in line
    refused = render.watch_line(node_pb.WatchDelegationsResponse(delegation=d))
    assert "request refused" in refused
    assert "cancel-1 refused: too late" in refused
    pending = d_pb.Delegation()
    pending.CopyFrom(d)
    del pending.requests[:]
    pending.requests.append(
        d_pb.PendingRequest(request_id="conf-1", kind=d_pb.EVENT_KIND_CONFIRMED, state="pending")
    )
    sent = render.watch_line(node_pb.WatchDelegationsResponse(delegation=pending))
    assert "request sent" in sent and "conf-1 pending" in sent and "refused" not in sent


@pytest.mark.usefixtures("chinese")
def test_show_in_chinese_names_courts_statuses_and_tasks() -> None:
    text = _render(_delegation())
    for expected in (
        "委托编号",
        "已退回",
        "青岛市市南区人民法院 (370202) -> 烟台市芝罘区人民法院 (370602)",
        "查封/扣押/冻结",
        "车辆",
        "加急",
        "办理记录",
        "发起委托",
        "理由 材料不全; ruling missing",
        "已拒绝",
    ):
        assert expected in text, expected
    for english_word in ("RETURNED", "returned", "seizure", "urgent"):
        assert english_word not in text
    assert NAME not in text and "张**" in text


@pytest.mark.usefixtures("chinese")
def test_summary_and_watch_lines_in_chinese() -> None:
    d = _delegation()
    assert render.summary_line("returned", d) == "已退回 6f1c2a（状态 已退回，序号 3）"
    assert render.summary_line("escalated", d, "esc-1") == (
        "已督办 6f1c2a（状态 已退回，序号 3） 请求 esc-1"
    )
    line = render.watch_line(node_pb.WatchDelegationsResponse(delegation=d, event=d.history[2]))
    assert "#3 退回" in line and "烟台市芝罘区人民法院 (370602)" in line and "已退回" in line


def test_every_enum_value_has_a_chinese_and_an_english_word() -> None:
    """The shared table covers the proto: a value added there without words fails here."""
    from jiaodong.domain import labels

    for table, enum, prefix in (
        (labels.STATUS, d_pb.Status, names.STATUS_PREFIX),
        (labels.TASK, d_pb.TaskType, names.TASK_PREFIX),
        (labels.ASSET, d_pb.AssetKind, names.ASSET_PREFIX),
        (labels.PRIORITY, d_pb.Priority, names.PRIORITY_PREFIX),
        (labels.EVENT, d_pb.EventKind, names.KIND_PREFIX),
        (labels.SIDE, d_pb.Side, names.SIDE_PREFIX),
        (labels.RETURN_REASON, d_pb.ReturnReason, names.REASON_PREFIX),
        (labels.RESULT, d_pb.CompletionResult, names.RESULT_PREFIX),
        (labels.SLA_STATE, d_pb.SlaState, names.SLA_STATE_PREFIX),
    ):
        for name in enum.keys():  # noqa: SIM118 (a proto enum wrapper, not a dict)
            short = name.removeprefix(prefix + "_")
            if short == "UNSPECIFIED" and table is not labels.ASSET:
                continue
            zh, en = table[short]
            assert zh and en and zh != en, name


def test_chinese_words_are_simplified() -> None:
    """督办, not 督辦: every word of the shared table is in GB 2312, the simplified character
    set (traditional-only characters such as 辦, 託, 達 are not in it)."""
    from jiaodong.domain import labels

    assert "督辦".encode("gb2312", errors="replace") != "督辦".encode("gb2312", errors="ignore")
    for table in labels.TABLES.values():
        for zh, _en in table.values():
            zh.encode("gb2312")  # raises on a character outside the simplified set
