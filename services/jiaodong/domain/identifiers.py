"""Validation, normalisation and masking of the identifiers the platform stores.

Pure functions, standard library only. Every validator takes the raw value and the ``field`` name
used in the error, and returns the one normal form that is stored; bad input raises
:class:`~jiaodong.domain.errors.InvalidInput` with a sentence a court clerk understands.

All validators first apply Unicode NFKC, so full-width digits, letters, parentheses and spaces
typed with a Chinese input method become their ASCII forms. Rules and sources: RULES.md,
sections "Case numbers" and "Identifiers".
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from typing import Final

from jiaodong.domain.errors import InvalidInput

_ASCII_DIGITS: Final = frozenset("0123456789")


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _is_ascii_digits(text: str) -> bool:
    return bool(text) and all(c in _ASCII_DIGITS for c in text)


# --- Case numbers (案号) -------------------------------------------------------------------------

# Traditional -> simplified for every character that can appear in an enforcement case number
# (恢 and 保 are the same in both scripts). 〔〕 is the older bracket style for the year.
_CASE_TRANSLATION: Final = str.maketrans(
    {
        "執": "执",
        "魯": "鲁",
        "號": "号",
        "異": "异",
        "復": "复",
        "監": "监",
        "協": "协",
        "〔": "(",
        "〕": ")",
    }
)

# Enforcement case-type codes: 执 and 执恢 are confirmed; the others are unconfirmed but accepted.
_CASE_TYPES: Final = ("执", "执恢", "执保", "执异", "执复", "执监", "执协")

_CASE_NUMBER_RE: Final = re.compile(r"\(([0-9]{4})\)(鲁[0-9]{2}(?:[0-9]{2})?)(执[^0-9]?)([0-9]+)号")
_DIGITS_RE: Final = re.compile(r"[0-9]*")
_CASE_TYPE_RE: Final = re.compile(r"[^0-9号]*")
_CASE_EXAMPLE: Final = "(2019)鲁0211执123号"


def normalize_case_number(value: str, field: str = "case_number") -> str:
    """Validate a Shandong enforcement case number and return its normal form.

    Accepted: ``(2016)鲁02执659号``, ``(2019)鲁0211执123号``, ``（2020）魯0202執恢12號``,
    ``〔2016〕鲁02执659号``, with surrounding whitespace. Normal form: ASCII parentheses and
    simplified characters, e.g. ``(2020)鲁0202执恢12号``.

    Parts: year 1990..2100 in parentheses; court code 鲁 + 2 digits (intermediate court) or
    4 digits (basic court); case type 执 or 执恢 (confirmed) or 执保, 执异, 执复, 执监, 执协
    (unconfirmed, accepted until a real case number shows otherwise); sequence number, a positive
    integer of at most 6 digits without a leading zero; and the closing 号.
    """
    text = _nfkc(value).translate(_CASE_TRANSLATION)
    if not text:
        raise InvalidInput.one(field, f"case number is empty; expected e.g. {_CASE_EXAMPLE}")
    if not text.startswith("("):
        raise InvalidInput.one(
            field, f"case number should start with the year in parentheses, e.g. {_CASE_EXAMPLE}"
        )
    close = text.find(")")
    if close < 0:
        raise InvalidInput.one(field, "the closing parenthesis after the year is missing")
    year = text[1:close]
    if not year:
        raise InvalidInput.one(field, "the year is missing between the parentheses")
    if len(year) != 4 or not _is_ascii_digits(year):
        raise InvalidInput.one(field, f"the year should be 4 digits, got {year!r}")
    if not 1990 <= int(year) <= 2100:
        raise InvalidInput.one(field, f"the year should be between 1990 and 2100, got {year}")

    rest = text[close + 1 :]
    if not rest:
        raise InvalidInput.one(field, "the court code (such as 鲁0211) is missing after the year")
    if rest[0] != "鲁":
        raise InvalidInput.one(
            field, f"the court code should start with 鲁 (Shandong), got {rest[0]!r}"
        )
    court_digits = _match(_DIGITS_RE, rest, 1)
    court = "鲁" + court_digits
    if len(court_digits) > 4 and rest[len(court) :] in ("", "号"):
        raise InvalidInput.one(
            field, "the case type (such as 执) is missing between the court code and the number"
        )
    if len(court_digits) not in (2, 4):
        raise InvalidInput.one(
            field,
            "the court code should be 鲁 followed by 2 digits (intermediate court) "
            f"or 4 digits (basic court), got {court}",
        )

    rest = rest[len(court) :]
    case_type = _match(_CASE_TYPE_RE, rest, 0)
    if not case_type:
        raise InvalidInput.one(field, f"the case type (such as 执) is missing after {court}")
    if case_type not in _CASE_TYPES:
        raise InvalidInput.one(
            field,
            f"unknown case type {case_type!r}; enforcement case types are {', '.join(_CASE_TYPES)}",
        )

    rest = rest[len(case_type) :]
    sequence = _match(_DIGITS_RE, rest, 0)
    if not sequence:
        raise InvalidInput.one(field, f"the sequence number is missing after {case_type}")
    if sequence.startswith("0"):
        raise InvalidInput.one(
            field, f"the sequence number should not start with 0, got {sequence}"
        )
    if len(sequence) > 6:
        raise InvalidInput.one(
            field, f"the sequence number should have at most 6 digits, got {sequence}"
        )

    rest = rest[len(sequence) :]
    if not rest.startswith("号"):
        raise InvalidInput.one(
            field, f"the case number should end with 号 after the sequence number, got {rest!r}"
        )
    if rest != "号":
        raise InvalidInput.one(field, f"unexpected text after 号: {rest[1:]!r}")
    return f"({year}){court}{case_type}{sequence}号"


def _match(pattern: re.Pattern[str], text: str, pos: int) -> str:
    found = pattern.match(text, pos)
    return found.group() if found else ""


def case_number_court_code(normalized: str) -> str:
    """Court code of a case number, e.g. ``鲁0211`` for ``(2019)鲁0211执123号``."""
    found = _CASE_NUMBER_RE.fullmatch(normalize_case_number(normalized))
    assert found is not None  # the normal form always matches
    return found.group(2)


# --- Resident ID (GB 11643-1999) -----------------------------------------------------------------

_RESIDENT_ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_ID_CHECK: Final = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _RESIDENT_ID_WEIGHTS, strict=True))
    return _RESIDENT_ID_CHECK[total % 11]


def validate_resident_id(value: str, field: str = "resident_id") -> str:
    """Validate an 18-character resident ID (GB 11643-1999); return it with an upper-case X.

    Checks the length, the 17 digits, that the birth date (characters 7-14) is a real date and
    the check character. Old 15-digit IDs are not accepted.
    """
    text = _nfkc(value).upper()
    if len(text) != 18:
        hint = " (old 15-digit IDs are not accepted)" if len(text) == 15 else ""
        raise InvalidInput.one(
            field, f"resident ID should have 18 characters, got {len(text)}{hint}"
        )
    for position, char in enumerate(text[:17], start=1):
        if char not in _ASCII_DIGITS:
            raise InvalidInput.one(
                field, f"resident ID character {position} should be a digit, got {char!r}"
            )
    if text[17] not in _ASCII_DIGITS and text[17] != "X":
        raise InvalidInput.one(field, f"resident ID should end with a digit or X, got {text[17]!r}")
    birth = text[6:14]
    try:
        datetime.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        raise InvalidInput.one(
            field, f"resident ID birth date {birth} is not a real date (expected YYYYMMDD)"
        ) from None
    expected = resident_id_check_char(text[:17])
    if text[17] != expected:
        raise InvalidInput.one(
            field, f"resident ID check character should be {expected}, got {text[17]}"
        )
    return text


# --- Unified social credit code (GB 32100-2015) --------------------------------------------------

SOCIAL_CREDIT_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def social_credit_check_char(first17: str) -> str:
    values = (SOCIAL_CREDIT_ALPHABET.index(c) for c in first17)
    total = sum(v * w for v, w in zip(values, _USCC_WEIGHTS, strict=True))
    return SOCIAL_CREDIT_ALPHABET[(31 - total % 31) % 31]


def validate_social_credit_code(
    value: str, field: str = "social_credit_code"
) -> tuple[str, str | None]:
    """Validate a unified social credit code (GB 32100-2015).

    Returns ``(code, warning)``: the upper-case code and ``None``, or a warning when the check
    character is wrong. A wrong check character is not an error because some early real codes
    fail the check. A wrong length or character raises InvalidInput.
    """
    text = _nfkc(value).upper()
    if len(text) != 18:
        raise InvalidInput.one(
            field, f"social credit code should have 18 characters, got {len(text)}"
        )
    for position, char in enumerate(text, start=1):
        if char not in SOCIAL_CREDIT_ALPHABET:
            raise InvalidInput.one(
                field,
                f"social credit code character {position} is {char!r}, which is not allowed "
                "(only digits and letters other than I, O, S, V, Z)",
            )
    expected = social_credit_check_char(text[:17])
    if text[17] != expected:
        return text, (
            f"social credit code check character should be {expected}, got {text[17]}; "
            "accepted because some early codes fail this check, please verify it"
        )
    return text, None


# --- Vehicle plates ------------------------------------------------------------------------------

_PROVINCES: Final = frozenset("京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼")
_PROVINCE_TRADITIONAL: Final = {
    "魯": "鲁",
    "滬": "沪",
    "雲": "云",
    "遼": "辽",
    "蘇": "苏",
    "贛": "赣",
    "晉": "晋",
    "陝": "陕",
    "閩": "闽",
    "貴": "贵",
    "粵": "粤",
    "寧": "宁",
    "瓊": "琼",
}
_PLATE_SEPARATORS: Final = re.compile(r"[\s·•・‧\-‐‑–—]")
_PLATE_LETTERS: Final = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ")
_PLATE_ALNUM: Final = _PLATE_LETTERS | _ASCII_DIGITS
_PLATE_CITIES: Final = {
    "鲁B": "qingdao",
    "鲁U": "qingdao",
    "鲁F": "yantai",
    "鲁Y": "yantai",
    "鲁G": "weifang",
    "鲁V": "weifang",
    "鲁K": "weihai",
    "鲁L": "rizhao",
}


def validate_plate(value: str, field: str = "plate") -> str:
    """Validate a Chinese vehicle plate; return it upper case without separators (``鲁B12345``).

    Ordinary plates: province + letter + 5 letters or digits. New-energy plates have 8 characters:
    small vehicles province + letter + D/F + letter or digit + 4 digits, large vehicles
    province + letter + 5 digits + D/F. Letters never include I or O. Spaces, middle dots and
    hyphens are removed; traditional province characters (魯) become simplified (鲁).
    """
    text = _PLATE_SEPARATORS.sub("", _nfkc(value)).upper()
    if not text:
        raise InvalidInput.one(field, "plate is empty")
    province = _PROVINCE_TRADITIONAL.get(text[0], text[0])
    if province not in _PROVINCES:
        raise InvalidInput.one(
            field, f"plate should start with a province abbreviation such as 鲁, got {text[0]!r}"
        )
    text = province + text[1:]
    if len(text) not in (7, 8):
        raise InvalidInput.one(
            field,
            f"plate should have 7 characters (ordinary) or 8 (new-energy), got {len(text)}",
        )
    if text[1] not in _PLATE_LETTERS:
        raise InvalidInput.one(
            field, f"plate character 2 should be a letter other than I or O, got {text[1]!r}"
        )
    body = text[2:]
    if len(text) == 7:
        if not all(c in _PLATE_ALNUM for c in body):
            raise InvalidInput.one(
                field,
                "the last 5 characters of an ordinary plate should be digits or letters "
                f"other than I and O, got {body!r}",
            )
        return text
    small = body[0] in "DF" and body[1] in _PLATE_ALNUM and _is_ascii_digits(body[2:])
    large = _is_ascii_digits(body[:5]) and body[5] in "DF"
    if not (small or large):
        raise InvalidInput.one(
            field,
            "a new-energy plate should continue with D or F, a letter or digit and 4 digits "
            f"(small vehicle) or with 5 digits and D or F (large vehicle), got {body!r}",
        )
    return text


def plate_city(normalized: str) -> str | None:
    """Jiaodong city of a normalised 鲁 plate (``qingdao``, ``yantai``, ...), else None."""
    return _PLATE_CITIES.get(normalized[:2])


def plate_letters(city: str) -> list[str]:
    """The letters after 鲁 on a Jiaodong city's plates (``["B", "U"]`` for Qingdao)."""
    return sorted(prefix[1] for prefix, c in _PLATE_CITIES.items() if c == city)


# --- Court ID ------------------------------------------------------------------------------------


def validate_court_id(value: str, field: str = "court_id") -> str:
    """Validate a court ID: 6 digits (the area code). Does not check the court registry."""
    text = _nfkc(value)
    if len(text) != 6 or not _is_ascii_digits(text):
        raise InvalidInput.one(field, f"court ID should be 6 digits, got {text!r}")
    return text


# --- Masking for display and logs ----------------------------------------------------------------

_COMPOUND_SURNAMES: Final = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "百里",
        "呼延", "万俟", "澹台", "公冶", "太史", "申屠", "钟离", "闻人", "赫连", "拓跋",
        "濮阳", "淳于", "单于", "东郭", "司空", "第五", "歐陽", "司馬", "諸葛", "東方",
        "長孫", "軒轅", "獨孤", "南宮", "鍾離", "聞人", "赫連", "濮陽", "東郭",
    }
)  # fmt: skip


def _is_cjk(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def mask_resident_id(value: str) -> str:
    """Keep the first 4 and last 4 characters: ``3405**********001X``. Short values: all masked."""
    text = value.strip()
    if len(text) <= 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_name(value: str) -> str:
    """Keep the surname (first character, or a compound surname such as 欧阳) and mask the rest.

    ``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧阳**``; non-CJK names keep the first letter.
    """
    text = value.strip()
    keep = 1
    if len(text) >= 3 and _is_cjk(text[0]) and text[:2] in _COMPOUND_SURNAMES:
        keep = 2
    return text[:keep] + "*" * (len(text) - keep)


def mask_phone(value: str) -> str:
    """``138****5678`` for an 11-digit mobile number; otherwise all but the last 2 masked.

    Spaces and hyphens are removed first. Values of 2 characters or fewer are masked entirely.
    """
    text = re.sub(r"[\s\-]", "", value)
    if len(text) == 11 and _is_ascii_digits(text):
        return text[:3] + "****" + text[-4:]
    if len(text) <= 2:
        return "*" * len(text)
    return "*" * (len(text) - 2) + text[-2:]
