"""The `jiaodong` command."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.markup import escape

from jiaodong.cli import assist as cli_assist
from jiaodong.cli import audit as cli_audit
from jiaodong.cli import board as cli_board
from jiaodong.cli import certs as cli_certs
from jiaodong.cli import delegation as cli_delegation
from jiaodong.cli import deploy as cli_deploy
from jiaodong.cli import lang as cli_lang
from jiaodong.cli import ops as cli_ops
from jiaodong.cli import report as cli_report
from jiaodong.cli import sla as cli_sla
from jiaodong.cli.render import courts_json, piped_width, render_courts, render_layout
from jiaodong.config import Settings, SettingsError, log_level_from_env
from jiaodong.devtools.layout import Layout, start_layout
from jiaodong.domain.errors import NotFound, RegistryError
from jiaodong.domain.identity import REGION, BadIdentity, Identity, Role
from jiaodong.domain.labels import Lang
from jiaodong.files.registry import load_registry
from jiaodong.logs import configure

app = typer.Typer(
    help="Jiaodong cross-court delegation platform: nodes, coordinator, demo and client.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_delegation.app, name="delegation")
app.add_typer(cli_assist.app, name="assist")
app.add_typer(cli_sla.app, name="sla")
app.add_typer(cli_ops.app, name="ops")
app.add_typer(cli_report.app, name="report")
app.command("board")(cli_board.board)
app.add_typer(cli_audit.app, name="audit")
app.add_typer(cli_certs.app, name="certs")
app.add_typer(cli_deploy.app, name="deploy")
log = structlog.get_logger("jiaodong.cli")
console = Console(width=piped_width())
err = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(help="Folder for SQLite files and the embedded broker \\[env JD_DATA_DIR]"),
]
NatsUrl = Annotated[
    str, typer.Option(help="NATS URL; empty starts an embedded nats-server \\[env JD_NATS_URL]")
]
DbUrl = Annotated[
    str,
    typer.Option(
        help="Database URL; empty uses a SQLite file per service; "
        "{service} in it is replaced by the service name \\[env JD_DATABASE_URL]"
    ),
]


def _logging() -> None:
    json_env = os.environ.get("JD_LOG_JSON")
    configure(log_level_from_env(), json=None if json_env is None else json_env == "1")


async def _serve(kind: str, settings: Settings, city: str, port: int) -> None:
    from jiaodong.bootstrap import (
        check_port_free,
        own_certificate,
        start_coordinator,
        start_node,
    )
    from jiaodong.bus.embedded import EmbeddedNats

    # A port in use is refused before anything is opened (the database, the bus's consumer).
    check_port_free(settings.host, port)

    # SIGTERM and Ctrl-C stop the service at every stage, the start included (connecting to
    # NATS, provisioning streams, opening the database): the start runs as a task they cancel.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Certificates first: a service without its own certificate must not open anything.
    identity = (
        Identity(Role.COORDINATOR, REGION)
        if kind == "coordinator"
        else Identity(Role.NODE, load_registry(settings.courts_dir).city(city).node)
    )
    own_certificate(settings, identity)
    embedded: EmbeddedNats | None = None
    if not settings.nats_url:
        # A broker of its own for a service started alone; other services must be pointed at it.
        embedded = EmbeddedNats(settings.data_dir / f"nats-{kind}-{city or 'region'}").start()
        settings = dataclasses.replace(settings, nats_url=embedded.url)
    try:
        starting = asyncio.create_task(
            start_node(settings, city, port=port)
            if kind == "node"
            else start_coordinator(settings, port=port),
            name="start",
        )
        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.warning("start_interrupted", service=kind, city=city)
            starting.cancel()
            await asyncio.wait({starting}, timeout=10)
            return
        stopping.cancel()
        running = starting.result()
        await stop.wait()
        await running.stop()
    finally:
        if embedded is not None:
            embedded.stop()


def _settings(data_dir: Path | None, nats_url: str, database_url: str) -> Settings:
    return Settings.from_env(data_dir=data_dir, nats_url=nats_url, database_url=database_url)


def _run_service(kind: str, settings: Settings, city: str, port: int) -> None:
    from jiaodong.bootstrap import DatabaseUnavailable, StartRefused
    from jiaodong.bus.transport import NatsUnreachable

    _logging()
    try:
        asyncio.run(_serve(kind, settings, city, port))
    except RegistryError as exc:
        err.print(f"[red]registry error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except NotFound as exc:
        err.print(f"[red]{exc}[/red]", soft_wrap=True)
        raise typer.Exit(2) from exc
    except (FileNotFoundError, BadIdentity) as exc:  # certificates missing or not this service's
        err.print(f"[red]certificates:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from exc
    except NatsUnreachable as exc:  # the first connect's deadline (JD_NATS_START_SECONDS)
        err.print(f"[red]NATS unreachable:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(3) from exc
    except DatabaseUnavailable as exc:  # refused, unknown host, wrong password, ...
        print(exc, file=sys.stderr)
        raise typer.Exit(3) from exc
    except StartRefused as exc:  # the port is in use, ...
        print(exc, file=sys.stderr)
        raise typer.Exit(2) from exc


@app.command()
def node(
    city: Annotated[str, typer.Option(help="The city whose courts this node hosts")],
    port: Annotated[int, typer.Option(help="gRPC port (0 picks a free one)")] = 50061,
    data_dir: DataDir = None,
    nats_url: NatsUrl = "",
    database_url: DbUrl = "",
) -> None:
    """Run one city's court node (gRPC CourtNodeService) until Ctrl-C."""
    _run_service("node", _settings(data_dir, nats_url, database_url), city, port)


@app.command()
def coordinator(
    port: Annotated[int, typer.Option(help="gRPC port (0 picks a free one)")] = 50060,
    data_dir: DataDir = None,
    nats_url: NatsUrl = "",
    database_url: DbUrl = "",
    http: Annotated[
        str,
        typer.Option(
            help="Serve the operators' web board on HOST:PORT (HTTPS; operators sign in with "
            "their client certificates) \\[env JD_HTTP]"
        ),
    ] = "",
    dev_login: Annotated[
        bool,
        typer.Option(
            help="Also let a browser without a certificate in with a development login token "
            "(JD_BOARD_TOKEN, or a new one printed here); never in production"
        ),
    ] = False,
) -> None:
    """Run the regional coordinator (gRPC CoordinatorService, and the web board with --http)
    until Ctrl-C."""
    settings = _settings(data_dir, nats_url, database_url)
    if http:
        settings = dataclasses.replace(settings, http=http)
    if not dev_login:
        settings = dataclasses.replace(settings, board_token="")
    elif not settings.board_token:
        import secrets

        # A new token, shown once here (one given in JD_BOARD_TOKEN is not repeated: the
        # caller knows it, and this output may go to a log file).
        settings = dataclasses.replace(settings, board_token=secrets.token_urlsafe(18))
        if settings.http:
            err.print(
                f"board development login: "
                f"https://{settings.http}/login?token={settings.board_token}",
                soft_wrap=True,
            )
    _run_service("coordinator", settings, "", port)


@app.command()
def up(
    base_port: Annotated[
        int, typer.Option(help="Coordinator port; nodes take the next five (0: free ports)")
    ] = 50060,
    data_dir: DataDir = None,
    nats_url: NatsUrl = "",
    database_url: DbUrl = "",
    coordinators: Annotated[
        int,
        typer.Option(
            min=1,
            help="Coordinator replicas on one database: the first is active, the others "
            "standbys that take over when it dies (ports after the nodes')",
        ),
    ] = 1,
    board_port: Annotated[
        int | None,
        typer.Option(
            help="The coordinator's web board (HTTPS) port; default: base port + 20, or a free "
            "one with --base-port 0"
        ),
    ] = None,
    nats_cluster: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run this many clustered nats-servers (free ports, routes with mutual TLS) "
            "and create the streams with as many replicas; 1: one server",
        ),
    ] = 1,
) -> None:
    """Start NATS, the coordinator and five city nodes as processes on loopback, until Ctrl-C."""
    from jiaodong.devtools.folder_lock import FolderInUse, lock_folder

    settings = _settings(data_dir, nats_url, database_url)
    if nats_cluster > 1 and settings.nats_url:
        err.print(
            "[red]--nats-cluster 启动自己的 nats-server，不能与 --nats-url / JD_NATS_URL 同用"
            " (--nats-cluster starts its own servers: leave --nats-url and JD_NATS_URL empty)[/red]"
        )
        raise typer.Exit(2)
    try:
        # Before anything is started or written: the folder's nats-server, store and CA.
        held = lock_folder(settings.data_dir)
    except FolderInUse as exc:
        print(exc, file=sys.stderr)
        raise typer.Exit(2) from exc
    console.print(f"starting the five-city layout in {settings.data_dir} ...")
    _stop_layouts_on_sigterm()
    layout = start_layout(
        settings.data_dir,
        base_port=base_port,
        nats_url=settings.nats_url,
        database_url=settings.database_url,
        coordinators=coordinators,
        board_port=board_port if board_port is not None else (base_port + 20 if base_port else 0),
        nats_cluster=nats_cluster,
    )
    try:
        render_layout(
            console,
            layout.nats_url,
            ((svc.name, svc.address, svc.metrics_url) for svc in layout.services),
        )
        print_board(layout)
        console.print(
            f"logs in {settings.data_dir / 'logs'}; try: "
            f"jiaodong delegation list --node {layout.nodes['qingdao'].address} --as-court 370202"
        )
        _run_until_signalled(layout, "press Ctrl-C to stop")
    finally:
        console.print("stopping ... (Ctrl-C again: stop at once)")
        layout.stop()
        held.release()
        console.print("stopped")


def print_board(layout: Layout) -> None:
    """Where the web board is and how to sign in (the token is a development login only)."""
    if not layout.board_url:
        return
    console.print(
        f"web board: {layout.board_url}/ (operators: their client certificates)\n"
        f"development login (regional operator; add &as=<city> for a city's centre):\n"
        f"  {layout.board_login}",
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def courts(
    city: Annotated[str, typer.Option(help="Only this city")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the court registry (courts/ folder)."""

    try:
        registry = load_registry(Settings.from_env().courts_dir)
    except RegistryError as exc:
        err.print(f"[red]registry error:[/red] {exc}")
        raise typer.Exit(2) from exc
    rows = sorted(
        (c for c in registry.courts.values() if not city or c.city == city),
        key=lambda c: c.court_id,
    )
    if as_json:
        print(courts_json(rows))
        return
    render_courts(console, rows)


def _demo_words() -> tuple[Lang, dict[str, str]]:
    """The language of the demo's tables (JD_LANG; simplified Chinese by default) and the
    cities' Chinese names from the court registry."""
    reg = cli_lang.registry()
    names = {c.city: c.name_zh for c in reg.cities.values()} if reg else {}
    return cli_lang.current(), names


@app.command()
def demo(
    delegations: Annotated[int, typer.Option(help="How many delegations to send")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed of the simulated officers")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    data_dir: DataDir = None,
    keep: Annotated[bool, typer.Option(help="Keep the data folder afterwards")] = False,
    concurrency: Annotated[int, typer.Option(help="Officers working at once")] = 40,
    database_url: DbUrl = "",
    serve: Annotated[
        bool,
        typer.Option(
            help="Keep the region running after the report and serve the web board on it "
            "(its address is printed) until Ctrl-C"
        ),
    ] = False,
) -> None:
    """Run the five-city demo: simulated officers, a per-city-pair table, an agreement check."""
    from jiaodong.devtools.demo import VIRTUAL_START, print_report, run_demo
    from jiaodong.devtools.simulate import SIM_ENV, scratch_folder
    from jiaodong.files.clock import FileClock

    if delegations < 1:
        err.print("[red]--delegations must be at least 1[/red]")
        raise typer.Exit(2)
    folder = data_dir or scratch_folder("jiaodong-demo-")
    configure("warning", json=True)
    # Progress on stderr, with --json too (stdout then holds the one JSON object).
    progress = err
    started = time.monotonic()
    progress.print(f"starting NATS, the coordinator and five city nodes in {folder} ...")
    folder.mkdir(parents=True, exist_ok=True)
    scratch = None if keep or data_dir is not None else folder  # removed at the end
    _stop_layouts_on_sigterm(scratch)
    clock_file = folder / "virtual-clock"
    # Frozen virtual time: the simulator's driver moves it once the region is quiescent.
    FileClock.write(clock_file, VIRTUAL_START, 0.0)
    layout = start_layout(
        folder,
        base_port=0,
        log_level="warning",
        database_url=database_url,
        extra_env={
            "JD_CLOCK": f"file:{clock_file}",
            **SIM_ENV,
            # The region left running for the board: nodes report every 30 s, so the board
            # sees each online within an interval of the switch to real time.
            **({"JD_RECONCILE_SECONDS": "30"} if serve else {}),
        },
        board_port=0 if serve else None,
    )
    try:
        report = asyncio.run(
            run_demo(
                layout,
                delegations,
                seed,
                clock_file=clock_file,
                concurrency=concurrency,
                progress=progress,
            )
        )
        if serve:
            # The demo ran on frozen virtual time; the region left for the board runs in real
            # time from where the demo ended.
            FileClock.write(clock_file, FileClock(clock_file).now(), 1.0)
            report["seconds"] = round(time.monotonic() - started, 1)
            if as_json:
                print(json.dumps({**report, "board": layout.board_login}, ensure_ascii=False))
            else:
                print_report(console, report, *_demo_words())
                print_board(layout)
            _run_until_signalled(
                layout, "the region keeps running for the board; press Ctrl-C to stop"
            )
    finally:
        layout.stop()
        if scratch is not None:
            import shutil

            with contextlib.suppress(OSError):
                shutil.rmtree(scratch)
    report["seconds"] = round(time.monotonic() - started, 1)
    if serve:
        pass  # printed before serving
    elif as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_report(console, report, *_demo_words())
    ok = report["agree"] and report["lost"] == 0 and report["duplicated"] == 0
    raise typer.Exit(0 if ok else 1)


@app.command()
def simulate(
    days: Annotated[int, typer.Option(min=1, max=3660, help="Days to simulate")] = 365,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same report")] = 1,
    scenario: Annotated[
        Path | None,
        typer.Option(help="Scenario file (TOML); default courts/simulate.toml"),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for report.json/html/xlsx and trace.json")
    ] = Path("sim-out"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    data_dir: DataDir = None,
    keep: Annotated[bool, typer.Option(help="Keep the data folder afterwards")] = False,
) -> None:
    """Simulate five-city traffic on virtual time against the real coordinator and nodes;
    write the SLA report and a trace of what the simulated officers did."""
    from jiaodong.devtools.scenario import ScenarioError, default_scenario_path, load_scenario
    from jiaodong.devtools.simulate import SIM_ENV, run_simulation, scratch_folder
    from jiaodong.files.calendar import load_calendar

    settings = Settings.from_env()
    try:
        registry = load_registry(settings.courts_dir)
        calendar = load_calendar(settings.courts_dir)
        from jiaodong.files.registry import default_courts_dir

        path = scenario or default_scenario_path(settings.courts_dir or default_courts_dir())
        plan = load_scenario(path, registry)
    except (RegistryError, ScenarioError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from exc
    folder = data_dir or scratch_folder("jiaodong-sim-")
    configure("warning", json=True)
    scratch = None if keep or data_dir is not None else folder  # removed at the end
    _stop_layouts_on_sigterm(scratch)
    err.print(
        f"simulating {days} days from {plan.start} (seed {seed}, scenario {path}) in {folder} ..."
    )
    try:
        outcome = run_simulation(
            folder,
            registry,
            calendar,
            plan,
            seed=seed,
            days=days,
            out=out,
            progress=err,
            extra_env=SIM_ENV,
        )
    finally:
        if scratch is not None:
            import shutil

            with contextlib.suppress(OSError):
                shutil.rmtree(scratch)
    summary = {**outcome.figures, "seed": seed, "days": days, "out": str(out)}
    summary["final"] = outcome.trace["totals"]["final"]
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    console.print(
        f"{summary['delegations']} delegations over {days} days in {summary['steps']} steps, "
        f"{summary['wall_seconds']}s ({summary['steps_per_second']} steps/s); "
        f"written to {out}: {', '.join(summary['files'])}"
    )


def _stop_layouts_on_sigterm(scratch: Path | None = None) -> None:
    """For a command that starts a layout (``demo``, ``simulate``, ``up``): from here on, SIGTERM
    (``kill``, a supervisor, a CI time-out) stops NATS and the six services it started, removes
    its scratch folder and exits 143. They run in sessions of their own, so nothing else would:
    before this, a ``kill`` of ``jiaodong simulate`` left all seven running. The handler exits
    at once (``os._exit``) rather than raise through the event loop: raised there, an
    exception ended the process in a segmentation fault with the services still running.
    (``up`` and ``demo --serve`` replace it while they serve: ``_run_until_signalled``.)"""

    def _on_sigterm(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once
        from jiaodong.devtools.layout import stop_started

        print("SIGTERM: stopping the services ...", file=sys.stderr, flush=True)
        stop_started()
        if scratch is not None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
        print("stopped", file=sys.stderr, flush=True)
        os._exit(128 + signal.SIGTERM)

    signal.signal(signal.SIGTERM, _on_sigterm)


def _run_until_signalled(layout: Layout, prompt: str) -> None:
    """Keep the layout running until Ctrl-C or SIGTERM (``jiaodong up``, ``demo --serve``).
    The first signal returns here, for the caller to stop the layout gracefully; another one
    meanwhile ends every process at once (SIGKILL), so none is ever left running."""
    presses = 0

    def _on_signal(*_: object) -> None:
        nonlocal presses
        presses += 1
        if presses == 2:
            console.print("stopping at once ...")
            layout.kill()

    # The handlers before the prompt: a Ctrl-C right after "press Ctrl-C" must stop the layout,
    # not raise KeyboardInterrupt past the clean-up (and leave the services running).
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    console.print(prompt)
    while not presses:
        layout.check_alive()
        time.sleep(0.5)


def main() -> None:
    try:
        app()
    except SettingsError as exc:  # a bad JD_* value: one line per variable, no traceback
        print(exc, file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
