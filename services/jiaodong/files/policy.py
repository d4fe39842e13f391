"""Reads the SLA policy from ``sla.toml``; the checks are in ``jiaodong.domain.sla_policy``."""

from __future__ import annotations

from pathlib import Path

from jiaodong.domain.errors import RegistryError
from jiaodong.domain.sla_policy import SlaPolicy, parse_policy
from jiaodong.files.registry import default_courts_dir

POLICY_FILE = "sla.toml"


def load_policy(courts_dir: Path | None = None) -> SlaPolicy:
    """The policy in ``courts_dir/sla.toml`` (default folder: ``$JD_COURTS_DIR`` or ``courts/``)."""
    folder = courts_dir if courts_dir is not None else default_courts_dir()
    path = folder / POLICY_FILE
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RegistryError(str(path), line, "not UTF-8 text; save the file as UTF-8") from exc
    return parse_policy(text, str(path))
