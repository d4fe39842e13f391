"""Settings, read once at start from the environment (and command-line flags).

The variables are parsed and checked in one place, :class:`EnvSettings` (pydantic-settings);
:meth:`Settings.from_env` turns a bad value into :class:`SettingsError`, whose text is one line a
line per variable: ``JD_SLA_SWEEP_SECONDS=abc: 应为正数 (must be a positive number)``. The CLI
prints it and exits with code 2. :class:`Settings` itself stays a frozen dataclass: services and
tests build it directly and ``dataclasses.replace`` it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from jiaodong.domain.identity import Identity
from jiaodong.security.certs import TlsFiles, files_for

LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(Exception):
    """One or more bad settings; ``str()`` is one line per bad variable, for the terminal."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def masked_url(value: str) -> str:
    """A URL with any password replaced by ``***`` (safe to print)."""
    return re.sub(r"//([^:/@,]+):[^@/,]*@", r"//\1:***@", value)


def _host_port(value: str) -> str:
    if not value:
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("应为 主机:端口 (must be HOST:PORT, e.g. 127.0.0.1:9100)")
    return value


def _clock(value: str) -> str:
    if not value:
        return value
    if not value.startswith("file:"):
        raise ValueError("应为空或 file:路径 (use file:PATH or leave it empty)")
    if not Path(value.removeprefix("file:")).is_file():
        raise ValueError("时钟文件不存在 (no such clock file)")
    return value


def _database_url(value: str) -> str:
    if not value:
        return value
    # Imported here: only a service with a database URL pays for SQLAlchemy at start.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    allowed = (
        "应为 postgresql://用户@主机/库名 或 sqlite:///路径 "
        "(must be postgresql://USER@HOST/DB or sqlite:///PATH)"
    )
    try:
        url = make_url(value)
    except (ArgumentError, ValueError) as exc:
        raise ValueError(f"无法解析，{allowed}") from exc
    known = {"postgresql", "postgresql+psycopg", "sqlite", "sqlite+pysqlite"}
    if url.drivername not in known or (
        url.drivername.startswith("postgresql") and not url.database
    ):
        raise ValueError(allowed)
    return value


def _log_level(value: str) -> str:
    if value.lower() not in LOG_LEVELS:
        raise ValueError(
            f"应为 {'、'.join(LOG_LEVELS)} 之一 (must be one of {', '.join(LOG_LEVELS)})"
        )
    return value.lower()


PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(ge=1)]
HostPort = Annotated[str, AfterValidator(_host_port)]

# What a value of each kind must be, for the message when it is not (custom checks say it
# themselves).
_POSITIVE = "应为正数 (must be a positive number)"
_COUNT = "应为正整数 (must be a whole number, at least 1)"
_ALLOWED: dict[str, str] = {
    "nats_replicas": _COUNT,
    "nats_max_pings": _COUNT,
}


class EnvSettings(BaseSettings):
    """The ``JD_*`` variables, parsed and checked. An empty variable counts as unset."""

    model_config = SettingsConfigDict(env_prefix="JD_", env_ignore_empty=True, extra="ignore")

    data_dir: Path = Path("var")
    nats_url: str = ""
    database_url: Annotated[str, AfterValidator(_database_url)] = ""
    courts_dir: Path | None = None
    host: str = "127.0.0.1"
    nats_replicas: PositiveInt = 1
    sla_sweep_seconds: PositiveFloat = 1.0
    reconcile_seconds: PositiveFloat = 30.0
    clock: Annotated[str, AfterValidator(_clock)] = ""
    tls_dir: Path | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    rate_limit: PositiveFloat = 50.0
    rate_burst: PositiveFloat = 200.0
    nats_ping_seconds: PositiveFloat = 5.0
    nats_max_pings: PositiveInt = 2
    nats_flush_seconds: PositiveFloat = 5.0
    nats_stall_seconds: PositiveFloat = 15.0
    nats_start_seconds: PositiveFloat = 30.0
    http: HostPort = ""
    metrics: HostPort = ""
    board_token: str = ""
    registries: str = ""
    log_level: Annotated[str, AfterValidator(_log_level)] = "info"


# Settings' field name where it differs from the variable's (JD_SLA_SWEEP_SECONDS).
_RENAMED = {"sla_sweep_seconds": "sweep_seconds"}
# Variables checked with the others but read elsewhere (JD_LOG_LEVEL: by the logging set-up).
_ENV_ONLY = {"log_level"}


def _error_lines(error: ValidationError, given: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        variable = f"JD_{name.upper()}"
        value = given.get(name, problem.get("input", ""))
        if problem["type"] == "value_error":
            allowed = str(problem["ctx"]["error"])
        else:
            allowed = _ALLOWED.get(name, _POSITIVE)
        lines.append(f"{variable}={masked_url(str(value))}: {allowed}")
    return lines


def _env_values() -> dict[str, str]:
    """The raw ``JD_*`` values of the model's fields, as given (for the messages)."""
    return {
        name: os.environ[f"JD_{name.upper()}"]
        for name in EnvSettings.model_fields
        if os.environ.get(f"JD_{name.upper()}")
    }


def load_env(**overrides: object) -> EnvSettings:
    """The variables, checked (``overrides`` win over them); :class:`SettingsError` if bad."""
    given: dict[str, Any] = {**_env_values(), **overrides}
    try:
        return EnvSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_error_lines(exc, given)) from None


def log_level_from_env() -> str:
    """``JD_LOG_LEVEL``, checked (``info`` when unset)."""
    value = os.environ.get("JD_LOG_LEVEL", "").strip()
    if not value:
        return "info"
    try:
        return _log_level(value)
    except ValueError as exc:
        raise SettingsError([f"JD_LOG_LEVEL={value}: {exc}"]) from None


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
    # Prometheus metrics and the probes: ``host:port`` of their plain-HTTP port (empty: none).
    metrics: str = ""

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """The settings from the ``JD_*`` variables, checked (:class:`SettingsError` naming each
        bad one); ``overrides`` (command-line values) win, an empty or None one does not count."""
        given = {
            _NAMES.get(key, key): value
            for key, value in overrides.items()
            if value not in (None, "")
        }
        unknown = set(given) - set(EnvSettings.model_fields)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        checked = load_env(**given).model_dump(exclude=_ENV_ONLY)
        return cls(**{_RENAMED.get(key, key): value for key, value in checked.items()})

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


# The variable's field name for each Settings field named otherwise.
_NAMES = {settings: env for env, settings in _RENAMED.items()}
assert {_RENAMED.get(name, name) for name in EnvSettings.model_fields} - _ENV_ONLY == {
    f.name for f in fields(Settings)
}, "Settings and EnvSettings must have the same fields"
