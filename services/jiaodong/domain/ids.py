"""Identifiers the platform makes itself: of delegations, events and messages."""

from __future__ import annotations

import hashlib
import re
import uuid

DELEGATION_ID = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    """A fresh identifier (32 lowercase hex characters)."""
    return uuid.uuid4().hex


def stable_id(*parts: str) -> str:
    """An identifier derived from what it names, so the same thing always gets the same id (a
    message that can be found and re-sent; a request made twice that is applied once)."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
