"""Reads the court registry from ``cities.csv`` and ``courts.csv``; the checks are in the domain."""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from jiaodong.domain.registry import Registry, parse_registry
from jiaodong.files.read import SAVE_AS_UTF8, read_operator_file

COURTS_DIR_ENV = "JD_COURTS_DIR"
# Operators edit the registry in a spreadsheet; Excel saves UTF-8 only when asked to.
CSV_AS_UTF8 = f"{SAVE_AS_UTF8} (in Excel: CSV UTF-8)"


def default_courts_dir() -> Path:
    """``$JD_COURTS_DIR`` if set, else the package's ``courts`` data: in the source tree a link
    to the top-level ``courts/`` folder, in an installed wheel a copy of it."""
    configured = os.environ.get(COURTS_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    return Path(str(files("jiaodong").joinpath("courts")))


def load_registry(directory: Path | None = None) -> Registry:
    """The registry in ``directory`` (default: ``default_courts_dir()``)."""
    folder = directory if directory is not None else default_courts_dir()
    cities_path, courts_path = folder / "cities.csv", folder / "courts.csv"
    return parse_registry(
        read_operator_file(cities_path, CSV_AS_UTF8),
        str(cities_path),
        read_operator_file(courts_path, CSV_AS_UTF8),
        str(courts_path),
    )
