"""`jiaodong deploy`: the region's deployment files rendered from one layout file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from jiaodong.cli.lang import t
from jiaodong.cli.options import command_group
from jiaodong.deploy.layout import LayoutError, parse_layout
from jiaodong.deploy.render import render as render_files
from jiaodong.deploy.render import write
from jiaodong.domain.errors import RegistryError
from jiaodong.files.registry import load_registry

app = command_group(
    "Deployment files for the region (NATS, env files, image, compose, Kubernetes, systemd)."
)


def layout_error(message: str) -> NoReturn:
    """One line and exit code 2: the layout (or the registry) must be fixed first."""
    print(t("错误：", "error: ") + message, file=sys.stderr)
    raise typer.Exit(2)


@app.command()
def render(
    layout: Annotated[
        Path,
        typer.Option(
            "--layout", metavar="FILE", help="The region's layout (deploy/layouts/jiaodong.toml)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Where to write the files.")],
    courts_dir: Annotated[
        Path | None,
        typer.Option(envvar="JD_COURTS_DIR", help="Court registry folder (NATS users)."),
    ] = None,
) -> None:
    """Render every file of the region from its layout file: a NATS configuration per server,
    an env file per service, the Dockerfile, compose.yaml, Kubernetes manifests (k8s/) and
    systemd units."""
    try:
        text = layout.read_text(encoding="utf-8")
    except OSError as exc:
        layout_error(
            t(f"无法读取布局文件 {layout}：{exc.strerror}", f"cannot read {layout}: {exc}")
        )
    try:
        registry = load_registry(courts_dir)
        region = parse_layout(text, tuple(registry.cities))
        files = render_files(region, registry, str(layout))
    except (LayoutError, RegistryError, ValueError) as exc:
        layout_error(f"{layout}: {exc}")
    written = write(out, files)
    print(
        t(
            f"已写入 {len(written)} 个文件到 {out}；NATS 配置可用 `nats-server -t -c FILE` 检查",
            f"wrote {len(written)} files to {out}; check the NATS configurations with "
            "`nats-server -t -c FILE`",
        )
    )
