"""The invariants, read from every database file directly (never through the services' APIs).

For every delegation the traffic driver sent (known by its requesting court and request id):
* it is stored at the requesting node, at the coordinator and at the node of its entrusted court;
* the three sides hold the same status, the same seq and the same list of event hashes, and each
  history is a well-formed hash chain numbered 1..seq;
* it exists once: one delegation id per (requesting court, request id) across all databases, no
  event id twice, no request id twice in a history;
and, per service, the dead letters parked there.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jiaodong.domain.registry import Registry

CONFIRMED = "CONFIRMED"


@dataclass(frozen=True)
class Row:
    id: str
    request_id: str
    requesting_court: str
    entrusted_court: str
    status: str
    seq: int
    last_hash: str


@dataclass(frozen=True)
class EventView:
    seq: int
    event_id: str
    kind: str
    request_id: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class DeadLetter:
    subject: str
    message_id: str
    reason: str


@dataclass
class ServiceView:
    """One service's database, read in one transaction."""

    name: str
    rows: dict[str, Row] = field(default_factory=dict)
    by_request: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    histories: dict[str, list[EventView]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    missing: bool = False


def read_service(name: str, path: Path, request_prefix: str) -> ServiceView:
    view = ServiceView(name)
    if not path.exists():
        view.missing = True
        return view
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA query_only = 1")
        conn.execute("BEGIN")  # one snapshot for all three tables
        like = request_prefix.replace("_", r"\_").replace("%", r"\%") + "%"
        for r in conn.execute(
            "SELECT id, request_id, requesting_court, entrusted_court, status, seq, last_hash "
            "FROM delegation WHERE request_id LIKE ? ESCAPE '\\'",
            (like,),
        ):
            row = Row(*r)
            view.rows[row.id] = row
            view.by_request.setdefault((row.requesting_court, row.request_id), []).append(row.id)
        ids = list(view.rows)
        histories: dict[str, list[EventView]] = defaultdict(list)
        for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
            marks = ",".join("?" * len(chunk))
            for e in conn.execute(
                "SELECT delegation_id, seq, event_id, kind, request_id, prev_hash, hash "
                f"FROM delegation_event WHERE delegation_id IN ({marks}) "
                "ORDER BY delegation_id, seq",
                chunk,
            ):
                histories[e[0]].append(EventView(*e[1:]))
        view.histories = dict(histories)
        view.dead_letters = [
            DeadLetter(*d)
            for d in conn.execute("SELECT subject, message_id, reason FROM dead_letter ORDER BY id")
        ]
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        view.missing = True
    finally:
        conn.close()
    return view


@dataclass
class Report:
    """What the databases say about the driver's delegations."""

    expected: int = 0
    stored: int = 0
    confirmed: int = 0
    lost: int = 0
    duplicated: int = 0
    disagree: int = 0
    not_final: int = 0
    unsent: int = 0
    dead_letters: dict[str, list[DeadLetter]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # history event kinds at the coordinator, over the driver's delegations
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def holds(self) -> bool:
        """Every sent delegation everywhere, alike, once, and confirmed."""
        return (
            self.lost == 0
            and self.duplicated == 0
            and self.disagree == 0
            and self.not_final == 0
            and self.unsent == 0
            and self.confirmed == self.expected
        )

    def dead_count(self) -> int:
        return sum(len(v) for v in self.dead_letters.values())

    def problem(self, text: str) -> None:
        if len(self.problems) < 40:
            self.problems.append(text)


def _chain_ok(history: list[EventView]) -> bool:
    prev = ""
    for i, e in enumerate(history, start=1):
        if e.seq != i or e.prev_hash != prev:
            return False
        prev = e.hash
    return True


def check(
    data_dir: Path,
    registry: Registry,
    sent: Iterable[tuple[str, str]],
    created: Iterable[tuple[str, str]],
    request_prefix: str,
    final: str = CONFIRMED,
) -> Report:
    """``sent``: (requesting court, request id) of every delegation the driver tried to create;
    ``created``: those whose creation a node acknowledged; ``request_prefix`` selects the
    driver's rows in the databases; ``final``: the status every side must reach (counted in
    ``Report.confirmed``)."""
    node_of_city = {c: registry.city(c).node for c in registry.cities}
    services = ["coordinator", *node_of_city.values()]
    views = {s: read_service(s, data_dir / f"{s}.db", request_prefix) for s in services}
    report = Report()
    report.dead_letters = {s: v.dead_letters for s, v in views.items() if v.dead_letters}
    coordinator = views["coordinator"]
    sent_keys = list(dict.fromkeys(sent))
    created_keys = set(created)
    report.expected = len(sent_keys)

    # One delegation per (court, request id), across every database.
    ids_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for view in views.values():
        for key, here in view.by_request.items():
            if len(here) > 1:
                report.duplicated += len(here) - 1
                report.problem(f"{view.name}: {key} stored {len(here)} times: {here}")
            ids_of[key].update(here)
    sent_set = set(sent_keys)
    for key, everywhere in ids_of.items():
        if len(everywhere) > 1:
            report.duplicated += len(everywhere) - 1
            report.problem(
                f"{key} has {len(everywhere)} delegation ids across services: {sorted(everywhere)}"
            )
        if key not in sent_set:
            report.duplicated += len(everywhere)
            report.problem(f"{key} stored but never sent by the driver")

    for key in sent_keys:
        ids = ids_of.get(key)
        if not ids:
            if key in created_keys:  # a node said "created", and then forgot it
                report.lost += 1
                report.problem(f"{key}: acknowledged as created, stored nowhere")
            else:  # the driver never got a node to take it (its node was down throughout)
                report.unsent += 1
                report.problem(f"{key}: never accepted by its node")
            continue
        delegation_id = sorted(ids)[0]
        court, _ = key
        requester = views[node_of_city[registry.court(court).city]]
        known = coordinator.rows.get(delegation_id) or requester.rows.get(delegation_id)
        assert known is not None or any(delegation_id in v.rows for v in views.values())
        entrusted_court = (known.entrusted_court if known else "") or next(
            (
                v.rows[delegation_id].entrusted_court
                for v in views.values()
                if delegation_id in v.rows
            ),
            "",
        )
        sides = {"coordinator": coordinator, "requesting": requester}
        if entrusted_court:
            sides["entrusted"] = views[node_of_city[registry.court(entrusted_court).city]]
        report.stored += 1
        absent = [f"{role} ({v.name})" for role, v in sides.items() if delegation_id not in v.rows]
        if not entrusted_court:
            absent.append("entrusted (never routed)")
        if absent:
            report.lost += 1
            report.problem(f"{delegation_id} {key}: missing at {', '.join(absent)}")
            continue
        rows = {role: v.rows[delegation_id] for role, v in sides.items()}
        hist = {role: v.histories.get(delegation_id, []) for role, v in sides.items()}
        report.kinds.update(e.kind for e in hist["coordinator"])
        hashes = {role: tuple(e.hash for e in h) for role, h in hist.items()}
        states = {role: (r.status, r.seq) for role, r in rows.items()}
        broken = [role for role, h in hist.items() if not _chain_ok(h) or len(h) != rows[role].seq]
        if len(set(hashes.values())) > 1 or len(set(states.values())) > 1 or broken:
            report.disagree += 1
            report.problem(
                f"{delegation_id} {key}: sides differ: "
                + "; ".join(f"{role} {s[0]}#{s[1]}" for role, s in states.items())
                + (f"; broken chain at {broken}" if broken else "")
            )
        for role, h in hist.items():
            ids_here = Counter(e.event_id for e in h)
            reqs = Counter(e.request_id for e in h if e.request_id)
            twice = [i for i, n in ids_here.items() if n > 1] + [
                r for r, n in reqs.items() if n > 1
            ]
            if twice:
                report.duplicated += 1
                report.problem(f"{delegation_id} at {role}: applied twice: {twice}")
                break
        if all(r.status == final for r in rows.values()):
            report.confirmed += 1
        elif len(set(states.values())) == 1:
            report.not_final += 1
            report.problem(f"{delegation_id} {key}: agreed but still {rows['coordinator'].status}")
    return report
