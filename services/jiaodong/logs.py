"""structlog set-up: readable on a terminal, JSON lines otherwise; personal data never logged."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys that may carry personal data; their values are replaced wherever they appear.
PERSONAL_KEYS = frozenset(
    {"name", "resident_id", "social_credit_code", "phone", "address", "debtor", "plate"}
)


def _drop_personal(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS & event.keys():
        event[key] = "***"
    return event


def configure(level: str = "info", *, json: bool | None = None, stream: Any = None) -> None:
    out = stream or sys.stderr
    use_json = not out.isatty() if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_personal,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
