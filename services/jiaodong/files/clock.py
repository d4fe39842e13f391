"""Virtual time shared by several processes through a small file (the demo and the simulator).

The file holds ``<virtual origin ISO> <real origin epoch seconds> <rate>``; every process computes
now = virtual origin + (real now - real origin) x rate. The controller moves time by rewriting the
file (atomically); readers notice by its modification time.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from jiaodong.domain.clock import Clock, SystemClock


class FileClock:
    """A Clock read from a shared file; cheap to call (re-reads only when the file changed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] = (-1, -1)
        self._origin = datetime.fromtimestamp(0).astimezone()
        self._real = 0.0
        self._rate = 1.0
        self._load()

    def _load(self) -> None:
        info = os.stat(self.path)
        stamp = (info.st_mtime_ns, info.st_ino)
        if stamp == self._stamp:
            return
        origin, real, rate = self.path.read_text(encoding="ascii").split()
        self._origin = datetime.fromisoformat(origin)
        self._real = float(real)
        self._rate = float(rate)
        self._stamp = stamp

    def now(self) -> datetime:
        self._load()
        return self._origin + timedelta(seconds=(time.time() - self._real) * self._rate)

    @staticmethod
    def write(path: Path, virtual_now: datetime, rate: float) -> None:
        """Set virtual time to ``virtual_now`` from now on, running ``rate`` times real time."""
        if virtual_now.tzinfo is None:
            raise ValueError("virtual time must be timezone-aware")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{virtual_now.isoformat()} {time.time():.6f} {rate}", encoding="ascii")
        os.replace(tmp, path)


def clock_from_spec(spec: str) -> Clock:
    """``""`` -> wall-clock time; ``file:PATH`` -> a FileClock."""
    if not spec:
        return SystemClock()
    if spec.startswith("file:"):
        return FileClock(Path(spec.removeprefix("file:")))
    raise ValueError(f"JD_CLOCK={spec!r}: use file:PATH or leave it empty")
