"""Identity URIs in certificates: ``urn:jiaodong:<role>:<scope>`` (jiaodong.domain.identity)."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiaodong.domain.identity import BadIdentity, Identity, Role

# One valid example per role, as docs/security.md lists them: (uri, role, scope, court, regional).
EXAMPLES = [
    ("urn:jiaodong:officer:370202", Role.OFFICER, "370202", "370202", False),
    ("urn:jiaodong:clerk:370602", Role.CLERK, "370602", "370602", False),
    ("urn:jiaodong:operator:qingdao", Role.OPERATOR, "qingdao", None, False),
    ("urn:jiaodong:operator:region", Role.OPERATOR, "region", None, True),
    ("urn:jiaodong:auditor:region", Role.AUDITOR, "region", None, True),
    ("urn:jiaodong:node:node-qingdao", Role.NODE, "node-qingdao", None, False),
    ("urn:jiaodong:coordinator:region", Role.COORDINATOR, "region", None, True),
]


def test_examples_cover_every_role() -> None:
    assert {role for _, role, *_ in EXAMPLES} == set(Role)


@pytest.mark.parametrize(("uri", "role", "scope", "court", "regional"), EXAMPLES)
def test_parse_and_format_round_trip(
    uri: str, role: Role, scope: str, court: str | None, regional: bool
) -> None:
    identity = Identity.parse(uri)
    assert identity == Identity(role, scope)
    assert identity.role is role
    assert identity.scope == scope
    assert identity.court == court
    assert identity.is_regional is regional
    assert identity.uri == uri
    assert Identity.parse(identity.uri) == identity


@pytest.mark.parametrize(("uri", "role", "scope", "court", "regional"), EXAMPLES)
def test_label_is_role_and_scope_only(
    uri: str, role: Role, scope: str, court: str | None, regional: bool
) -> None:
    label = Identity.parse(uri).label
    assert label == f"{role.value}:{scope}"
    # Short, ASCII, no URN prefix: nothing in it can be a name, ID number or phone.
    assert re.fullmatch(r"[a-z]+:[a-z0-9-]+", label)
    assert "urn" not in label


MALFORMED = [
    # empty / missing parts
    "",
    "urn:jiaodong:",
    "urn:jiaodong:officer",
    "urn:jiaodong:officer:",
    "urn:jiaodong::370202",
    "urn:jiaodong::",
    # wrong prefix
    "urn:jd:officer:370202",
    "URN:JIAODONG:officer:370202",
    "urn:Jiaodong:officer:370202",
    "jiaodong:officer:370202",
    "officer:370202",
    " urn:jiaodong:officer:370202",
    "https://jiaodong.example/officer/370202",
    "urn:jiaodong-officer:370202",
    # extra colons
    "urn:jiaodong:officer:370202:",
    "urn:jiaodong:officer:370202:extra",
    "urn:jiaodong:officer::370202",
    "urn:jiaodong:officer:370:202",
    "urn:jiaodong:operator:region:qingdao",
    # unknown role
    "urn:jiaodong:judge:370202",
    "urn:jiaodong:admin:region",
    "urn:jiaodong:Officer:370202",
    "urn:jiaodong:OPERATOR:qingdao",
    "urn:jiaodong:officers:370202",
    "urn:jiaodong: officer:370202",
    # court roles need exactly 6 ASCII digits
    "urn:jiaodong:officer:37020",
    "urn:jiaodong:officer:3702021",
    "urn:jiaodong:clerk:37020a",
    "urn:jiaodong:clerk:qingdao",
    "urn:jiaodong:officer:region",
    "urn:jiaodong:officer:-370202",
    "urn:jiaodong:officer:370202 ",
    "urn:jiaodong:officer: 370202",
    "urn:jiaodong:officer:370-202",
    # auditor and coordinator exist only regionally
    "urn:jiaodong:auditor:qingdao",
    "urn:jiaodong:auditor:370202",
    "urn:jiaodong:auditor:REGION",
    "urn:jiaodong:coordinator:node-qingdao",
    "urn:jiaodong:coordinator:qingdao",
    "urn:jiaodong:coordinator:regions",
    # scope syntax: lower-case ASCII letters, digits and '-', not starting with '-', <= 40
    "urn:jiaodong:operator:Qingdao",
    "urn:jiaodong:operator:QINGDAO",
    "urn:jiaodong:node:Node-Qingdao",
    "urn:jiaodong:operator:-qingdao",
    "urn:jiaodong:operator:qing_dao",
    "urn:jiaodong:operator:qing.dao",
    "urn:jiaodong:operator:qing dao",
    "urn:jiaodong:operator:qingdao/..",
    "urn:jiaodong:node:" + "n" * 41,
    # Unicode: CJK, confusables, full-width and other-script digits, invisible characters
    "urn:jiaodong:operator:青岛",
    "urn:jiaodong:operator:qingdaо",  # Cyrillic о
    "urn:jiaodong:operator:ｑｉｎｇｄａｏ",  # full-width letters
    "urn:jiaodong:officer:１２３４５６",  # full-width digits
    "urn:jiaodong:officer:３７０２０２",
    "urn:jiaodong:officer:٣٧٠٢٠٢",  # Arabic-Indic digits
    "urn:jiaodong:officer:३७०२०२",  # Devanagari digits
    "urn:jiaodong:officer:37020２",  # one full-width digit
    "urn:jiaodong:officer:370202\u200b",  # zero-width space
    "urn:jiaodong:officer:\u202e202073",  # right-to-left override
    "urn:jiaodong:auditor:regіon",  # Cyrillic і
    "urn:jiaodong:offіcer:370202",  # Cyrillic і in the role
    "urn:jiaodong:officer:370202\x00",
    "urn:jiaodong:officer:370202\r",
    "urn:jiaodong:operator:qingdao\t",
]


@pytest.mark.parametrize("uri", MALFORMED)
def test_malformed_uri_is_refused(uri: str) -> None:
    with pytest.raises(BadIdentity):
        Identity.parse(uri)


@pytest.mark.parametrize("uri", MALFORMED)
def test_malformed_uri_is_refused_among_other_sans(uri: str) -> None:
    """The certificate path: the bad URI is the only jiaodong one among several SANs."""
    with pytest.raises(BadIdentity):
        Identity.from_uris(["https://court.example/370202", uri, "spiffe://x/y"])


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        (Role.OFFICER, "qingdao"),
        (Role.OFFICER, "１２３４５６"),
        (Role.CLERK, "37020"),
        (Role.CLERK, ""),
        (Role.AUDITOR, "qingdao"),
        (Role.COORDINATOR, "node-qingdao"),
        (Role.OPERATOR, "Qingdao"),
        (Role.OPERATOR, ""),
        (Role.NODE, "node_qingdao"),
        (Role.NODE, "node-青岛"),
    ],
)
def test_constructor_refuses_bad_scopes(role: Role, scope: str) -> None:
    with pytest.raises(BadIdentity):
        Identity(role, scope)


@pytest.mark.parametrize(
    "uri",
    [
        "urn:jiaodong:officer:370202\n",
        "urn:jiaodong:operator:qingdao\n",
        "urn:jiaodong:node:node-qingdao\n",
    ],
)
def test_trailing_newline_in_scope_is_refused(uri: str) -> None:
    with pytest.raises(BadIdentity):
        Identity.parse(uri)


# --- from_uris: exactly one jiaodong URI per certificate -----------------------------------------


def test_from_uris_picks_the_one_jiaodong_uri() -> None:
    uris = ["https://court.example/", "urn:jiaodong:clerk:370602", "urn:other:officer:370202"]
    assert Identity.from_uris(uris) == Identity(Role.CLERK, "370602")


@pytest.mark.parametrize(
    "uris",
    [
        [],
        ["https://court.example/officer/370202"],
        ["urn:other:officer:370202", "URN:JIAODONG:officer:370202"],
    ],
)
def test_from_uris_without_a_jiaodong_uri_is_refused(uris: list[str]) -> None:
    with pytest.raises(BadIdentity):
        Identity.from_uris(uris)


@pytest.mark.parametrize(
    "uris",
    [
        ["urn:jiaodong:officer:370202", "urn:jiaodong:clerk:370202"],
        ["urn:jiaodong:officer:370202", "urn:jiaodong:officer:370202"],
        ["urn:jiaodong:operator:qingdao", "https://x.example", "urn:jiaodong:operator:region"],
        ["urn:jiaodong:officer:370202", "urn:jiaodong:bogus"],
    ],
)
def test_from_uris_with_two_jiaodong_uris_is_refused(uris: list[str]) -> None:
    with pytest.raises(BadIdentity):
        Identity.from_uris(uris)


# --- properties ----------------------------------------------------------------------------------

_SCOPE_HEAD = string.ascii_lowercase + string.digits
_SCOPE_TAIL = _SCOPE_HEAD + "-"
_free_scopes = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(_SCOPE_HEAD),
    st.text(alphabet=_SCOPE_TAIL, max_size=39),
)
_court_ids = st.text(alphabet=string.digits, min_size=6, max_size=6)


@st.composite
def valid_identities(draw: st.DrawFn) -> Identity:
    role = draw(st.sampled_from(list(Role)))
    if role in (Role.OFFICER, Role.CLERK):
        scope = draw(_court_ids)
    elif role in (Role.AUDITOR, Role.COORDINATOR):
        scope = "region"
    else:
        scope = draw(_free_scopes | st.just("region"))
    return Identity(role, scope)


@given(valid_identities())
def test_any_valid_identity_round_trips(identity: Identity) -> None:
    assert identity.uri.startswith("urn:jiaodong:")
    assert Identity.parse(identity.uri) == identity
    assert Identity.from_uris(["https://x.example", identity.uri]) == identity
    assert identity.label == identity.uri.removeprefix("urn:jiaodong:")
    assert identity.is_regional is (identity.scope == "region")


@given(
    st.sampled_from([*(r.value for r in Role), "judge", ""]),
    st.text(max_size=45),
)
def test_parse_either_round_trips_or_raises_bad_identity(role: str, scope: str) -> None:
    uri = f"urn:jiaodong:{role}:{scope}"
    try:
        identity = Identity.parse(uri)
    except BadIdentity:
        return
    assert identity.uri == uri
    assert identity.role.value == role
    assert identity.scope == scope
