"""Unit tests for jiaodong.domain.identifiers (RULES.md: "Case numbers", "Identifiers")."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiaodong.domain.errors import InvalidInput
from jiaodong.domain.identifiers import (
    case_number_court_code,
    mask_name,
    mask_phone,
    mask_resident_id,
    normalize_case_number,
    plate_city,
    validate_court_id,
    validate_plate,
    validate_resident_id,
    validate_social_credit_code,
)

# Independent oracles, written from the standards rather than imported from the module.
RID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def rid_check(first17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, RID_WEIGHTS, strict=True)) % 11]


def uscc_check(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def rejects(func: Callable[[str], object], value: str, *words: str) -> None:
    """``func(value)`` raises one InvalidInput violation whose sentence contains ``words``."""
    with pytest.raises(InvalidInput) as caught:
        func(value)
    [violation] = caught.value.violations
    assert violation.description
    for word in words:
        assert word in violation.description, violation.description


# --- Case numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("(2016)鲁02执659号", "(2016)鲁02执659号"),
        ("(2019)鲁0211执123号", "(2019)鲁0211执123号"),
        ("（2020）魯0202執恢12號", "(2020)鲁0202执恢12号"),
        ("  (2021)鲁72执1号\n", "(2021)鲁72执1号"),
        ("〔2016〕鲁02执659号", "(2016)鲁02执659号"),
        ("（２０２２）鲁0211執異999999號", "(2022)鲁0211执异999999号"),
    ],
)
def test_case_number_normal_form(raw: str, normal: str) -> None:
    assert normalize_case_number(raw) == normal


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", ("empty",)),
        ("鲁02执659号", ("year",)),
        ("()鲁02执659号", ("year is missing",)),
        ("(2016鲁02执659号", ("closing parenthesis",)),
        ("(16)鲁02执659号", ("4 digits", "16")),
        ("(1989)鲁02执659号", ("1990", "1989")),
        ("(2101)鲁02执659号", ("2100",)),
        ("(2016)", ("court code",)),
        ("(2016)京02执659号", ("鲁", "京")),
        ("(2016)鲁021执659号", ("court code", "鲁021")),
        ("(2016)鲁执659号", ("court code",)),
        ("(2016)鲁02659号", ("case type",)),
        ("(2016)鲁02民初659号", ("unknown case type", "民初")),
        ("(2016)鲁02执罚659号", ("unknown case type", "执罚")),
        ("(2016)鲁02执号", ("sequence number is missing",)),
        ("(2016)鲁02执0659号", ("start with 0",)),
        ("(2016)鲁02执1234567号", ("6 digits",)),
        ("(2016)鲁02执659", ("号",)),
        ("(2016)鲁02执659号之一", ("after 号", "之一")),
    ],
)
def test_case_number_rejects(raw: str, words: tuple[str, ...]) -> None:
    rejects(normalize_case_number, raw, *words)


def test_case_number_error_names_the_given_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_case_number("nonsense", field="delegation.case_number")
    assert caught.value.violations[0].field == "delegation.case_number"


def test_case_number_court_code() -> None:
    assert case_number_court_code("(2019)鲁0211执123号") == "鲁0211"
    assert case_number_court_code("(2016)鲁02执恢659号") == "鲁02"


TRADITIONAL = str.maketrans("执鲁号异复监协", "執魯號異復監協")


@given(
    year=st.integers(1990, 2100),
    court=st.from_regex(r"[0-9]{2}([0-9]{2})?", fullmatch=True),
    kind=st.sampled_from(["执", "执恢", "执保", "执异", "执复", "执监", "执协"]),
    seq=st.integers(1, 999_999),
    traditional=st.booleans(),
    fullwidth=st.booleans(),
    pad=st.sampled_from(["", " ", "\t", "\u3000"]),
)
def test_case_number_spellings_share_one_idempotent_normal_form(
    year: int, court: str, kind: str, seq: int, traditional: bool, fullwidth: bool, pad: str
) -> None:
    normal = f"({year})鲁{court}{kind}{seq}号"
    raw = normal.translate(TRADITIONAL) if traditional else normal
    if fullwidth:
        raw = raw.replace("(", "（").replace(")", "）")
    assert normalize_case_number(pad + raw + pad) == normal
    assert normalize_case_number(normal) == normal
    assert case_number_court_code(normal) == "鲁" + court


# --- Resident IDs -------------------------------------------------------------------------------


def test_resident_id_valid_vector_and_lowercase_x() -> None:
    assert validate_resident_id("34052419800101001X") == "34052419800101001X"
    assert validate_resident_id(" 34052419800101001x ") == "34052419800101001X"


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("3405241980010100", ("18 characters", "16")),
        ("340524800101001", ("18 characters", "15-digit")),
        ("34052419800101001XX", ("18 characters",)),
        ("3405241980A101001X", ("character 11", "digit")),
        ("34052419800101001Y", ("digit or X",)),
        ("340524198002300013", ("19800230", "not a real date")),
        ("340524198013010013", ("19801301",)),
        ("340524198001010013", ("should be X, got 3",)),
    ],
)
def test_resident_id_rejects(raw: str, words: tuple[str, ...]) -> None:
    rejects(validate_resident_id, raw, *words)


first17s = st.builds(
    lambda area, birth, seq: area + birth.strftime("%Y%m%d") + seq,
    st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
)


@given(first17s)
def test_generated_resident_id_validates(first17: str) -> None:
    rid = first17 + rid_check(first17)
    assert validate_resident_id(rid) == rid
    assert validate_resident_id(rid.lower()) == rid


@given(first17s, st.sampled_from("0123456789X"))
def test_changed_check_char_always_fails(first17: str, wrong: str) -> None:
    if wrong == rid_check(first17):
        wrong = "0" if wrong != "0" else "1"
    rejects(validate_resident_id, first17 + wrong, "check character")


# --- Social credit codes ------------------------------------------------------------------------


def test_social_credit_code_valid_vector() -> None:
    assert validate_social_credit_code("91350100M000100Y43") == ("91350100M000100Y43", None)
    assert validate_social_credit_code(" 91350100m000100y43 ")[0] == "91350100M000100Y43"


def test_social_credit_code_wrong_check_warns_but_is_accepted() -> None:
    code, warning = validate_social_credit_code("91350100M000100Y44")
    assert code == "91350100M000100Y44"
    assert warning is not None and "should be 3, got 4" in warning


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("91350100M000100Y4", ("18 characters", "17")),
        ("91350100I000100Y43", ("character 9", "'I'")),
        ("91350100O000100Y43", ("'O'",)),
        ("91350100M000100Y4-", ("'-'",)),
    ],
)
def test_social_credit_code_rejects(raw: str, words: tuple[str, ...]) -> None:
    rejects(validate_social_credit_code, raw, *words)


@given(st.text(USCC_ALPHABET, min_size=17, max_size=17), st.sampled_from(USCC_ALPHABET))
def test_social_credit_code_warns_exactly_when_check_is_wrong(first17: str, last: str) -> None:
    code, warning = validate_social_credit_code(first17.lower() + last)
    assert code == first17 + last
    assert (warning is None) == (last == uscc_check(first17))


# --- Plates, court ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal", "city"),
    [
        ("鲁B12345", "鲁B12345", "qingdao"),
        ("魯u·a1b2c", "鲁UA1B2C", "qingdao"),
        ("鲁 F - 8888Z", "鲁F8888Z", "yantai"),
        ("鲁Y•12345", "鲁Y12345", "yantai"),
        ("鲁GD12345", "鲁GD12345", "weifang"),
        ("鲁VFA1234", "鲁VFA1234", "weifang"),
        ("鲁K12345D", "鲁K12345D", "weihai"),
        ("鲁L12345F", "鲁L12345F", "rizhao"),
        ("鲁A12345", "鲁A12345", None),
        ("京A12345", "京A12345", None),
        ("粵B１２３４５", "粤B12345", None),
    ],
)
def test_plate_normal_form_and_city(raw: str, normal: str, city: str | None) -> None:
    assert validate_plate(raw) == normal
    assert validate_plate(normal) == normal
    assert plate_city(normal) == city


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("", ("empty",)),
        ("B12345", ("province",)),
        ("港B12345", ("province", "港")),
        ("鲁B1234", ("7 characters", "6")),
        ("鲁B1234567", ("got 9",)),
        ("鲁112345", ("letter", "'1'")),
        ("鲁I12345", ("letter",)),
        ("鲁B1234O", ("ordinary", "I and O")),
        ("鲁BA12345", ("new-energy",)),
        ("鲁BDA123A", ("new-energy",)),
        ("鲁B12345X", ("new-energy",)),
    ],
)
def test_plate_rejects(raw: str, words: tuple[str, ...]) -> None:
    rejects(validate_plate, raw, *words)


plates = st.builds(
    lambda province, letter, body: province + letter + body,
    st.sampled_from("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"),
    st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
    st.from_regex(r"[A-HJ-NP-Z0-9]{5}|[DF][A-HJ-NP-Z0-9][0-9]{4}|[0-9]{5}[DF]", fullmatch=True),
)


@given(plates, st.sampled_from(["", " ", "·", "•", "-"]), st.booleans())
def test_plate_normalisation_is_idempotent(plate: str, sep: str, lower: bool) -> None:
    raw = plate[:2] + sep + (plate[2:].lower() if lower else plate[2:])
    assert validate_plate(raw) == plate
    assert validate_plate(plate) == plate


def test_court_id() -> None:
    assert validate_court_id(" 370211 ") == "370211"
    for bad in ("37021", "3702110", "37021a", "", "３７０２１１x"):
        rejects(validate_court_id, bad, "6 digits")


# --- Masking ------------------------------------------------------------------------------------


def test_masks() -> None:
    assert mask_resident_id("34052419800101001X") == "3405**********001X"
    assert mask_resident_id("12345678") == "********"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("欧阳") == "欧*"
    assert mask_name("John Smith") == "J*********"
    assert mask_name("") == ""
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138-1234-5678") == "138****5678"
    assert mask_phone("0532-888812") == "********12"
    assert mask_phone("12") == "**"
