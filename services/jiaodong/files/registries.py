"""Reads which registries each city is linked to from ``registries.toml``; the checks are in
``jiaodong.domain.registry_config``. A folder without the file links no registry (every
delegation is handled by officers)."""

from __future__ import annotations

from pathlib import Path

from jiaodong.domain.registry import Registry
from jiaodong.domain.registry_config import NO_REGISTRIES, RegistryPlan, parse_registries
from jiaodong.files.read import read_operator_file
from jiaodong.files.registry import default_courts_dir

REGISTRIES_FILE = "registries.toml"
OFF = "off"


def load_registries(
    registry: Registry, spec: str = "", courts_dir: Path | None = None
) -> RegistryPlan:
    """``spec``: "" for ``<courts dir>/registries.toml``, ``off`` for none, or a file's path."""
    if spec.strip().lower() == OFF:
        return NO_REGISTRIES
    if spec.strip():
        path = Path(spec)
    else:
        folder = courts_dir if courts_dir is not None else default_courts_dir()
        path = folder / REGISTRIES_FILE
        if not path.exists():
            return NO_REGISTRIES
    cities = frozenset(c.city for c in registry.cities.values())
    return parse_registries(read_operator_file(path), str(path), cities)
