"""Settings, read once at start from the environment (and command-line flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jiaodong.domain.identity import Identity
from jiaodong.security.certs import TlsFiles, files_for


@dataclass(frozen=True)
class Settings:
    """Where things are. Empty URLs mean: embedded nats-server, SQLite files under data_dir.

    ``nats_url`` may list several servers separated by commas (a cluster); ``nats_replicas`` is
    used only when a service has to create a missing stream; ``host`` is the gRPC bind address.

    The NATS link (jiaodong.bus.transport): a ping every ``nats_ping_seconds``, stale after
    ``nats_max_pings`` unanswered; a forced flush waits at most ``nats_flush_seconds``; the
    connection is replaced after ``nats_stall_seconds`` without progress; the first connect
    gives up after ``nats_start_seconds``.
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
    # Mutual TLS: a folder from `jiaodong certs init` (default <data_dir>/pki), or explicit files
    # for certificates issued by the courts' own CA (production).
    tls_dir: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Per-court gRPC rate limit: calls per second on average, and the burst allowed.
    rate_limit: float = 50.0
    rate_burst: float = 200.0
    nats_ping_seconds: float = 5.0
    nats_max_pings: int = 2
    nats_flush_seconds: float = 5.0
    nats_stall_seconds: float = 15.0
    nats_start_seconds: float = 30.0
    # The coordinator's web board: ``host:port`` to serve it on (empty: no board), and the
    # development login token (empty: client certificates only, as in production).
    http: str = ""
    board_token: str = ""
    # The city registries' connectors: "" for <courts dir>/registries.toml, "off" for none (every
    # delegation handled by officers), or another file's path.
    registries: str = ""
    # Prometheus metrics and the HTTP probes (/metrics, /healthz, /readyz): ``host:port`` to
    # serve them on (port 0: a free one), empty: none.
    metrics: str = ""

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
            "tls_dir": Path(p) if (p := os.environ.get("JD_TLS_DIR")) else None,
            "tls_ca": Path(p) if (p := os.environ.get("JD_TLS_CA")) else None,
            "tls_cert": Path(p) if (p := os.environ.get("JD_TLS_CERT")) else None,
            "tls_key": Path(p) if (p := os.environ.get("JD_TLS_KEY")) else None,
            "rate_limit": float(os.environ.get("JD_RATE_LIMIT", "50")),
            "rate_burst": float(os.environ.get("JD_RATE_BURST", "200")),
            "nats_ping_seconds": float(os.environ.get("JD_NATS_PING_SECONDS", "5")),
            "nats_max_pings": int(os.environ.get("JD_NATS_MAX_PINGS", "2")),
            "nats_flush_seconds": float(os.environ.get("JD_NATS_FLUSH_SECONDS", "5")),
            "nats_stall_seconds": float(os.environ.get("JD_NATS_STALL_SECONDS", "15")),
            "nats_start_seconds": float(os.environ.get("JD_NATS_START_SECONDS", "30")),
            "http": os.environ.get("JD_HTTP", ""),
            "board_token": os.environ.get("JD_BOARD_TOKEN", ""),
            "registries": os.environ.get("JD_REGISTRIES", ""),
            "metrics": os.environ.get("JD_METRICS", ""),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def pki_dir(self) -> Path:
        return self.tls_dir or self.data_dir / "pki"

    def tls_for(self, identity: Identity) -> TlsFiles:
        """The CA, certificate and key a service or client presents as ``identity``: explicit
        files when all three are set (JD_TLS_CA/CERT/KEY), else the dev CA folder."""
        explicit = (self.tls_ca, self.tls_cert, self.tls_key)
        if any(explicit):
            if not all(explicit):
                raise ValueError("set all three of JD_TLS_CA, JD_TLS_CERT and JD_TLS_KEY, or none")
            assert self.tls_ca and self.tls_cert and self.tls_key
            return TlsFiles(self.tls_ca, self.tls_cert, self.tls_key)
        if not (self.pki_dir / "ca.pem").exists():
            raise FileNotFoundError(
                f"no certificates in {self.pki_dir}: run `jiaodong certs init {self.pki_dir}` "
                "(or set JD_TLS_DIR, or JD_TLS_CA/JD_TLS_CERT/JD_TLS_KEY)"
            )
        return files_for(self.pki_dir, identity)

    def database_for(self, service: str) -> str:
        """The database URL of one service: the configured one (``{service}`` in it replaced by
        the service name, so services can share a server), or a SQLite file of its own."""
        if self.database_url:
            return self.database_url.replace("{service}", service.replace("-", "_"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{service}.db').as_posix()}"
