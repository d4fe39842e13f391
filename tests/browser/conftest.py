"""Browser tests of the web board: headless Chromium from Debian's ``chromium`` package, driven by
Playwright with ``executable_path`` set to the system browser (Playwright's own browser download
is never used). The browser and the CJK fonts are installed here when missing (apt-get, as root);
the tests skip with the reason only where that cannot be done, and fail instead in CI.

The region is real: coordinator and four city nodes over a real nats-server and mutual-TLS gRPC
(tests/helpers/network.py); the coordinator serves the board on a free loopback port."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jiaodong.bus.embedded import EmbeddedNats
from jiaodong.domain.identity import Identity
from tests.helpers.network import Region, start_region

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ("chromium", "fonts-noto-cjk")
CITIES = ["qingdao", "yantai", "weihai", "rizhao"]


def _install_problem() -> str | None:
    """Install the browser and the fonts if missing; the reason it could not be, or None."""
    fonts = Path("/usr/share/fonts/opentype/noto")
    if CHROMIUM.exists() and fonts.exists():
        return None
    if shutil.which("apt-get") is None:
        return "no apt-get to install chromium and fonts-noto-cjk"
    if os.geteuid() != 0:
        return "chromium and fonts-noto-cjk are missing and installing them needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    return None if CHROMIUM.exists() else "apt-get ran but /usr/bin/chromium is still missing"


@pytest.fixture(scope="session")
def chromium() -> Path:
    problem = _install_problem()
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
