"""Fixtures of the handler tier (see __init__.py): a fresh socket-free region per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.region import InProcessRegion


@pytest.fixture
def region(tmp_path: Path) -> Iterator[InProcessRegion]:
    """Coordinator and the Qingdao, Yantai and Weifang nodes; the clock stands still until the
    test advances it (``region.clock.advance``)."""
    r = InProcessRegion(tmp_path)
    try:
        yield r
    finally:
        r.close()
