"""`jiaodong certs`: a development certificate authority for mutual TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jiaodong.cli.connect import parse_identity, usage_error
from jiaodong.cli.lang import t
from jiaodong.cli.options import command_group
from jiaodong.cli.render import console, render_rows
from jiaodong.files.registry import load_registry
from jiaodong.security import certs

app = command_group(
    "Development certificates: a CA and one certificate per service, court role, "
    "command centre and auditor."
)
Folder = Annotated[Path, typer.Argument(metavar="DIR", help="The CA folder, e.g. var/pki.")]
# Names the services' server certificates carry besides the loopback ones.
HOSTS_HELP = (
    "Extra DNS name or IP for the services' server certificates (repeatable); "
    "localhost and 127.0.0.1 are always included."
)
Hosts = Annotated[list[str] | None, typer.Option("--host", metavar="NAME", help=HOSTS_HELP)]
Days = Annotated[int, typer.Option(min=1, max=3650, help="Validity of new certificates.")]
CourtsDir = Annotated[
    Path | None,
    typer.Option(envvar="JD_COURTS_DIR", help="Court registry folder (default: packaged)."),
]


@app.command()
def init(
    folder: Folder,
    host: Hosts = None,
    days: Days = certs.DEFAULT_DAYS,
    force: Annotated[
        bool, typer.Option("--force", help="Start over with a new CA (old certificates die).")
    ] = False,
    courts_dir: CourtsDir = None,
) -> None:
    """Create the CA (unless DIR has one) and every missing certificate. Idempotent."""
    written = certs.init_pki(
        folder, load_registry(courts_dir), hosts=host or [], days=days, force=force
    )
    total = len(list(folder.glob("*.pem")))
    print(
        t(
            f"{folder}：写入 {len(written)} 份证书，共 {total} 份"
            f"（私钥权限 0600；{folder / 'ca.key'} 务必妥善保管，不得外传）",
            f"{folder}: {len(written)} certificates written, {total} in all "
            f"(keys are mode 0600; keep {folder / 'ca.key'} private)",
        )
    )


@app.command()
def issue(
    folder: Folder,
    identity: Annotated[
        str, typer.Option("--identity", metavar="ROLE:SCOPE", help="e.g. officer:370202")
    ],
    host: Hosts = None,
    days: Days = certs.DEFAULT_DAYS,
) -> None:
    """Issue (or renew) one certificate from the CA in DIR."""
    if not (folder / "ca.key").exists():
        usage_error(f"no CA in {folder}: run `jiaodong certs init {folder}` first")
    who = parse_identity(identity)
    out = certs.issue(folder, certs.stem_for(who), who, hosts=host or [], days=days)
    print(t(f"已写入 {out.cert} 和 {out.key}", f"wrote {out.cert} and {out.key}"))


@app.command("list")
def list_(folder: Folder) -> None:
    """Every certificate in DIR: file, identity, expiry."""
    if not folder.is_dir():
        usage_error(f"no such folder: {folder}")
    render_rows(console(), ("file", "identity", "expires"), certs.describe(folder))


@app.command("nats-config")
def nats_config(
    folder: Folder,
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="Where to write (mode 0600).")],
    store_dir: Annotated[
        Path, typer.Option("--store-dir", help="JetStream storage folder.")
    ] = Path("/var/lib/nats/jetstream"),
    listen: Annotated[str, typer.Option(help="Client listen host.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Client port.")] = 4222,
    server_name: Annotated[
        str | None, typer.Option(help="server_name (required in a cluster).")
    ] = None,
    courts_dir: CourtsDir = None,
) -> None:
    """Generate the nats-server configuration: TLS with client certificates from DIR's CA, one
    user per service mapped from its certificate, least-privilege subject permissions."""
    from jiaodong.security.nats_config import render_server_config, write_server_config

    try:
        text = render_server_config(
            load_registry(courts_dir),
            folder,
            store_dir=store_dir,
            host=listen,
            port=port,
            server_name=server_name,
        )
    except FileNotFoundError as exc:
        usage_error(str(exc))
    write_server_config(out, text)
    print(
        t(
            f"已写入 {out}；可用 `nats-server -t -c {out}` 检查",
            f"wrote {out}; check it with `nats-server -t -c {out}`",
        )
    )
