"""Settings, read once at start from the environment (and command-line flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where things are. Empty URLs mean: embedded nats-server, SQLite files under data_dir.

    ``nats_url`` may list several servers separated by commas (a cluster); ``nats_replicas`` is
    used only when a service has to create a missing stream; ``host`` is the gRPC bind address.
    """

    data_dir: Path
    nats_url: str = ""
    database_url: str = ""
    courts_dir: Path | None = None
    host: str = "127.0.0.1"
    nats_replicas: int = 1
    sweep_seconds: float = 1.0
    reconcile_seconds: float = 30.0
    clock: str = ""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "data_dir": Path(os.environ.get("JD_DATA_DIR", "var")),
            "nats_url": os.environ.get("JD_NATS_URL", ""),
            "database_url": os.environ.get("JD_DATABASE_URL", ""),
            "courts_dir": Path(p) if (p := os.environ.get("JD_COURTS_DIR")) else None,
            "host": os.environ.get("JD_HOST", "127.0.0.1"),
            "nats_replicas": int(os.environ.get("JD_NATS_REPLICAS", "1")),
            "sweep_seconds": float(os.environ.get("JD_SLA_SWEEP_SECONDS", "1.0")),
            "clock": os.environ.get("JD_CLOCK", ""),
            "reconcile_seconds": float(os.environ.get("JD_RECONCILE_SECONDS", "30")),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)  # type: ignore[arg-type]

    def database_for(self, service: str) -> str:
        """The database URL of one service: the configured one (``{service}`` in it replaced by
        the service name, so services can share a server), or a SQLite file of its own."""
        if self.database_url:
            return self.database_url.replace("{service}", service.replace("-", "_"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{service}.db').as_posix()}"
