"""Reads an operator's file as text, so that a bad encoding is reported as ``file:line``."""

from __future__ import annotations

from pathlib import Path

from jiaodong.domain.errors import RegistryError

SAVE_AS_UTF8 = "save the file as UTF-8"


def read_operator_file(path: Path, hint: str = SAVE_AS_UTF8) -> str:
    """The text of ``path`` (UTF-8, a leading BOM dropped, as Excel and Notepad write it).

    Raises ``RegistryError`` at the line of the first byte that is not UTF-8; ``hint`` tells the
    operator how to save the file properly."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RegistryError(str(path), line, f"not UTF-8 text; {hint}") from exc
