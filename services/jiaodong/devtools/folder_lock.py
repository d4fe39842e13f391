"""One `jiaodong up` per data folder: an exclusive lock taken before anything is started.

A second `up` on a live folder would start a second nats-server on the live JetStream store and
rewrite its configuration before noticing the ports are taken. The lock (``flock`` on
``<data dir>/up.lock``, which holds the PID of its holder: jiaodong.store.lease.lock_file, as
the coordinator's SQLite lease) refuses it first. The kernel drops the
lock when the holder exits, however it exits, so a stale file never blocks a new start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jiaodong.store.lease import lock_file

LOCK_NAME = "up.lock"


class FolderInUse(Exception):
    """Another process holds the folder's lock; ``str()`` is one line for the terminal."""

    def __init__(self, folder: Path, holder: str) -> None:
        who = f"进程 {holder}" if holder else "另一进程"
        who_en = f"process {holder}" if holder else "another process"
        super().__init__(
            f"{folder}: 数据目录正被{who}的 `jiaodong up` 使用，未作任何更改 "
            f"(the data folder is in use by `jiaodong up`, {who_en}; nothing was changed): "
            "先停止它或换一个 --data-dir (stop it first, or use another --data-dir)"
        )
        self.holder = holder


@dataclass
class FolderLock:
    """The held lock; released by ``release()`` or when the process ends."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def lock_folder(folder: Path) -> FolderLock:
    """Take ``folder``'s lock (creating the folder), or raise FolderInUse naming the holder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = lock_file(path, f"{os.getpid()}\n")
    if fd is None:
        try:
            holder = path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            holder = ""
        raise FolderInUse(folder, holder)
    return FolderLock(path, fd)
