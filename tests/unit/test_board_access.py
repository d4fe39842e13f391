"""The web board's sign-in and scope checks (jiaodong.api.web.access) and the names it shows
(jiaodong.domain.words): pure, no sockets."""

from __future__ import annotations

import pytest

from jiaodong.api.web.access import DevLogin, Viewer, login_identity
from jiaodong.domain import words
from jiaodong.domain.delegation import AssetKind, TaskType
from jiaodong.domain.errors import NotAllowed
from jiaodong.domain.identity import REGION, Identity, Role
from jiaodong.domain.lifecycle import EventKind, Status
from jiaodong.domain.sla import ClockState
from jiaodong.domain.sla_policy import Goal

CITY = {"370202": "qingdao", "371102": "rizhao", "371002": "weihai"}.__getitem__


def test_a_session_cookie_is_the_identity_signed_with_the_token() -> None:
    login = DevLogin("s3cret")
    cookie = login.cookie_for(login_identity("weihai"))
    assert login.identity_in(cookie) == Identity(Role.OPERATOR, "weihai")
    assert login.identity_in(cookie.replace("weihai", REGION)) is None  # altered: refused
    assert DevLogin("other").identity_in(cookie) is None  # another token's cookie
    assert login.identity_in("") is None
    assert login.check_token("s3cret") and not login.check_token("s3cre")
    assert not DevLogin("").check_token("")  # no token: no development login at all


def test_a_city_operator_sees_and_steers_its_city_only() -> None:
    weihai = Viewer(Identity(Role.OPERATOR, "weihai"), by_certificate=True)
    assert weihai.city == "weihai"
    weihai.guard("Escalate", CITY)("370202", "371002")  # Qingdao -> Weihai: its city
    with pytest.raises(NotAllowed, match="weihai"):
        weihai.guard("Escalate", CITY)("370202", "371102")  # Qingdao -> Rizhao
    with pytest.raises(NotAllowed):
        weihai.guard("GetDelegation", CITY)("370202", "371102")
    region = Viewer(Identity(Role.OPERATOR, REGION), by_certificate=False)
    assert region.city == ""
    region.guard("Reroute", CITY)("370202", "371102")


def test_the_auditor_reads_and_court_staff_stay_out() -> None:
    auditor = Viewer(Identity(Role.AUDITOR, REGION), by_certificate=True)
    assert auditor.may("WatchBoard") and auditor.may("GetDelegation")
    assert not auditor.may("Escalate") and not auditor.may("Reroute")
    officer = Viewer(Identity(Role.OFFICER, "370202"), by_certificate=True)
    assert not officer.may("WatchBoard")
    node = Viewer(Identity(Role.NODE, "node-qingdao"), by_certificate=True)
    assert not node.may("GetDelegation")


@pytest.mark.parametrize(
    ("table", "values"),
    [
        (words.STATUS, Status),
        (words.EVENT, EventKind),
        (words.TASK, TaskType),
        (words.ASSET, AssetKind),
        (words.GOAL, Goal),
        (words.CLOCK_STATE, ClockState),
    ],
)
def test_every_value_has_a_chinese_and_an_english_name(table: object, values: object) -> None:
    for value in values:  # type: ignore[attr-defined]
        zh, en = table[value]  # type: ignore[index]
        assert zh and en


def test_the_issue_s_status_names_in_simplified_chinese() -> None:
    names = {s: words.word(words.STATUS, s) for s in Status}
    assert names[Status.DELIVERED] == "已送达"
    assert names[Status.ACCEPTED] == "办理中"
    assert names[Status.RETURNED] == "已退回"
    assert names[Status.COMPLETED] == "已办结"
    assert names[Status.CONFIRMED] == "已确认"
    assert names[Status.CANCELLED] == "已撤回"
    assert words.word(words.EVENT, EventKind.ESCALATED) == "督办"
    assert words.word(words.STATUS, Status.DELIVERED, "en") == "delivered"
    assert words.word(words.STATUS, "SOMETHING_NEW") == "SOMETHING_NEW"
