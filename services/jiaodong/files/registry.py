"""Reads the court registry from ``cities.csv`` and ``courts.csv``; the checks are in the domain."""

from __future__ import annotations

import os
from pathlib import Path

from jiaodong.domain.errors import RegistryError
from jiaodong.domain.registry import Registry, parse_registry

COURTS_DIR_ENV = "JD_COURTS_DIR"


def default_courts_dir() -> Path:
    """``$JD_COURTS_DIR`` if set, else the repository's ``courts/`` folder."""
    configured = os.environ.get(COURTS_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "courts"


def load_registry(directory: Path | None = None) -> Registry:
    """The registry in ``directory`` (default: ``default_courts_dir()``)."""
    folder = directory if directory is not None else default_courts_dir()
    cities_path, courts_path = folder / "cities.csv", folder / "courts.csv"
    return parse_registry(
        _read(cities_path), str(cities_path), _read(courts_path), str(courts_path)
    )


def _read(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RegistryError(
            str(path), line, "not UTF-8 text; save the file as UTF-8 (in Excel: CSV UTF-8)"
        ) from exc
