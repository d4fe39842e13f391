"""Page sizes and page tokens of the List RPCs."""

from __future__ import annotations

import base64

from jiaodong.domain.errors import InvalidInput

MAX_PAGE = 500
DEFAULT_PAGE = 50
MAX_OFFSET = 2**31


def page_offset(token: str) -> int:
    if not token:
        return 0
    try:
        value = int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput.one("page_token", "is not a token from a previous page") from exc
    if not 0 <= value <= MAX_OFFSET:
        raise InvalidInput.one("page_token", "is not a token from a previous page")
    return value


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def page_size(value: int) -> int:
    if value < 0 or value > MAX_PAGE:
        raise InvalidInput.one("page_size", f"must be between 1 and {MAX_PAGE}")
    return value or DEFAULT_PAGE


def page_of(size: int, token: str) -> tuple[int, int]:
    """(offset, size) of the page a List request asks for; bad values are INVALID_ARGUMENT."""
    return page_offset(token), page_size(size)


def next_page(offset: int, size: int, more: bool) -> str:
    """The token of the page after this one, "" when this is the last."""
    return page_token(offset + size) if more else ""
