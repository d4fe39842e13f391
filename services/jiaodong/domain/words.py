"""The web board's view of the one table of words people read (``jiaodong.domain.labels``):
the same tables under the names the board's templates use, and ``word`` taking the language as
the board's two-letter code. A status is called the same on the board, the terminal board and
the CLI's tables; court and city names are data (courts/), not here.
"""

from __future__ import annotations

from jiaodong.domain import labels
from jiaodong.domain.labels import DEFAULT_LANG, Lang, Table

LANGUAGES = tuple(lang.value for lang in Lang)
DEFAULT_LANGUAGE = DEFAULT_LANG.value

STATUS = labels.STATUS
EVENT = labels.EVENT
TASK = labels.TASK
ASSET = labels.ASSET
PRIORITY = labels.PRIORITY
SIDE = labels.SIDE
REASON = labels.RETURN_REASON
RESULT = labels.RESULT
GOAL = labels.SLA_GOAL
CLOCK_STATE = labels.SLA_STATE


def word(table: Table, value: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """``value``'s name in ``lang`` ("zh" or "en"); an unknown value (a newer peer's) is shown
    as it is."""
    return labels.label(table, value, Lang.EN if lang == Lang.EN.value else Lang.ZH)
