"""Browser tests of the web board: headless Chromium from Debian's ``chromium`` package, driven by
Playwright with ``executable_path`` set to the system browser (Playwright's own browser download
is never used). ``make browser-deps`` installs the browser and the CJK fonts; where they are
missing the tests skip with the reason, and fail instead in CI.

The region is real: coordinator and four city nodes over a real nats-server and mutual-TLS gRPC
(tests/helpers/network.py); the coordinator serves the board on a free loopback port."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.identity import Identity
from tests.helpers.network import Region, start_region

CHROMIUM = Path("/usr/bin/chromium")
_NEEDS = {"chromium": CHROMIUM, "fonts-noto-cjk": Path("/usr/share/fonts/opentype/noto")}
CITIES = ["qingdao", "yantai", "weihai", "rizhao"]


def _missing() -> str | None:
    """What the browser tests lack, or None. Installing is ``make browser-deps``'s job alone
    (``make test``, ``make pytest`` and ``make browser`` run it first): one place does it."""
    lacking = [p for p, path in _NEEDS.items() if not path.exists()]
    if not lacking:
        return None
    return f"{' and '.join(lacking)} missing: run `make browser-deps` (as root)"


@pytest.fixture(scope="session")
def chromium() -> Path:
    problem = _missing()
    try:
        import playwright  # noqa: F401
    except ImportError:
        problem = problem or "playwright is not installed (pip install -e '.[dev]')"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(f"browser tests skipped: {problem}")
    return CHROMIUM


@dataclass
class Board:
    """A live region whose coordinator serves the board at ``url``."""

    region: Region
    url: str
    token: str

    def login_url(self, city: str = "") -> str:
        return f"{self.url}/login?token={self.token}" + (f"&as={city}" if city else "")

    def certificate(self, identity: Identity) -> dict[str, str]:
        """Playwright's client certificate option: the identity's files from the dev CA."""
        files = self.region.tls(identity)
        return {"origin": self.url, "certPath": str(files.cert), "keyPath": str(files.key)}


@pytest.fixture
async def board(tmp_path: Path, nats_server: EmbeddedNats) -> AsyncIterator[Board]:
    token = secrets.token_urlsafe(16)
    region = await start_region(
        tmp_path, nats_server, CITIES, http="127.0.0.1:0", board_token=token
    )
    try:
        assert region.coordinator.board is not None
        yield Board(region, region.coordinator.board.url, token)
    finally:
        await region.close()


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()
