"""`jiaodong audit`: check the evidence in a service's database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlmodel import Session, col, select

from jiaodong.convert import event_from_row
from jiaodong.domain.lifecycle import verify_chain
from jiaodong.store.database import make_engine, sqlite_url
from jiaodong.store.tables import DelegationRow, EventRow

app = typer.Typer(help="Check the tamper-evident histories in a database.", no_args_is_help=True)


def broken_chains(url: str) -> tuple[int, list[tuple[str, int, str]]]:
    """(delegations checked, [(delegation id, first bad seq, why)]) for every history in a
    database: each event's hash must match its content and link to the previous one, and the
    delegation row must agree with its last event."""
    engine = make_engine(url)
    broken: list[tuple[str, int, str]] = []
    checked = 0
    try:
        with Session(engine) as session:
            for row in session.exec(select(DelegationRow).order_by(col(DelegationRow.id))):
                checked += 1
                events = [
                    event_from_row(e)
                    for e in session.exec(
                        select(EventRow)
                        .where(EventRow.delegation_id == row.id)
                        .order_by(col(EventRow.seq))
                    )
                ]
                bad = verify_chain(events)
                if bad is not None:
                    broken.append((row.id, bad, "hash or link does not match the content"))
                elif not events or events[-1].seq != row.seq or events[-1].hash != row.last_hash:
                    broken.append(
                        (row.id, row.seq, "the delegation row disagrees with its history")
                    )
    finally:
        engine.dispose()
    return checked, broken


@app.command()
def verify(
    database: Annotated[
        str,
        typer.Argument(help="A database URL, or the path of a service's SQLite file."),
    ],
) -> None:
    """Check every delegation's hash chain; name the first broken event of each bad one."""
    url = database if "://" in database else sqlite_url(Path(database))
    if "://" not in database and not Path(database).exists():
        Console(stderr=True).print(f"[red]no such database file: {database}[/red]")
        raise typer.Exit(2)
    checked, broken = broken_chains(url)
    console = Console(highlight=False)
    for delegation_id, seq, why in broken:
        console.print(f"BROKEN {delegation_id} at event {seq}: {why}", markup=False)
    console.print(f"{checked} histories checked, {len(broken)} broken", markup=False)
    raise typer.Exit(1 if broken else 0)
