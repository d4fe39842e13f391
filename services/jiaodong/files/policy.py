"""Reads the SLA policy from ``sla.toml``; the checks are in ``jiaodong.domain.sla_policy``."""

from __future__ import annotations

from pathlib import Path

from jiaodong.domain.sla_policy import SlaPolicy, parse_policy
from jiaodong.files.read import read_operator_file
from jiaodong.files.registry import default_courts_dir

POLICY_FILE = "sla.toml"


def load_policy(courts_dir: Path | None = None) -> SlaPolicy:
    """The policy in ``courts_dir/sla.toml`` (default folder: ``$JD_COURTS_DIR`` or ``courts/``)."""
    folder = courts_dir if courts_dir is not None else default_courts_dir()
    path = folder / POLICY_FILE
    return parse_policy(read_operator_file(path), str(path))
