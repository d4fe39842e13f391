"""The simulator's scenario: a TOML file (default courts/simulate.toml) that sets the traffic, the
officers' delays, the slow court, returns, urges, cancellations and the outage.

Read with tomllib and checked here; a mistake is a ``ScenarioError`` naming the file, the line
and the key (tomllib keeps no line numbers, so the line is found by scanning the text).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NoReturn

from jiaodong.domain.registry import Registry

TASK_TYPES = (
    "property_inquiry",
    "seizure",
    "on_site_inspection",
    "handover",
    "forced_eviction",
    "service_of_documents",
)
ASSET_KINDS = ("real_estate", "vehicle", "equity", "deposit", "other", "unspecified")
RETURN_REASONS = ("MATERIALS_INCOMPLETE", "REQUEST_UNCLEAR", "NOT_OUR_JURISDICTION", "OTHER")
RESULTS = ("DONE", "PARTLY_DONE", "NOT_POSSIBLE")
DELAYS = ("acknowledge", "accept", "progress", "confirm", "supplement", "cancel", "urge")
SHARES = (
    "urgent",
    "explicit_court",
    "progress_report",
    "return",
    "supplemented",
    "urge",
    "cancel",
)
SECTIONS = (
    "simulation",
    "volume",
    "targets",
    "task",
    "delays",
    "shares",
    "return_reasons",
    "results",
    "slow",
    "outage",
)


class ScenarioError(ValueError):
    """A scenario file that cannot be used: ``file:line: message``."""

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


# A delay in working days, drawn uniformly from low to high (inclusive).
Range = tuple[int, int]


@dataclass(frozen=True)
class TaskMix:
    task: str
    weight: float
    assets: dict[str, float]
    complete: Range  # working days from acceptance to completion


@dataclass(frozen=True)
class Outage:
    city: str
    start: date  # its node stops at 08:00 local on this day ...
    days: int  # ... and starts again at 08:00 this many days later


@dataclass(frozen=True)
class Scenario:
    start: date
    slots: tuple[time, ...]
    volume: dict[str, float]  # delegations per working day sent by each city's courts
    court_weights: dict[str, float]  # entrusted courts chosen more (or less) often; default 1
    city_weights: dict[str, float]  # entrusted cities' weights; default the city's volume + 0.5
    tasks: tuple[TaskMix, ...]
    delays: dict[str, Range]
    shares: dict[str, float]
    return_reasons: dict[str, float]
    results: dict[str, float]
    slow_court: str
    slow_multiplier: float
    outage: Outage | None
    # "exact": time stops at every instant an SLA clock owes something; "ticks": at the next
    # officers' slot or local midnight after it (far fewer steps; schedule.sla_tick).
    sla_steps: str = "ticks"
    # Whether the nodes answer inquiries and registrations through their cities' simulated
    # registries (courts/registries.toml, 网络查控) or leave every delegation to officers.
    registries: bool = True
    source: str = field(default="", compare=False)


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z_]+)\s*\]\]?")


class _Lines:
    """Line numbers of tables and keys, found by scanning the text."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        # (section name, occurrence) -> header line
        self.headers: dict[tuple[str, int], int] = {}
        counts: dict[str, int] = {}
        for number, line in enumerate(self.lines, start=1):
            found = _HEADER.match(line)
            if found:
                name = found.group(1)
                self.headers[(name, counts.get(name, 0))] = number
                counts[name] = counts.get(name, 0) + 1

    def section(self, name: str, index: int = 0) -> int:
        return self.headers.get((name, index), 1)

    def key(self, name: str, key: str, index: int = 0) -> int:
        first = self.section(name, index)
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for number in range(first + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if _HEADER.match(line):
                break
            if pattern.match(line):
                return number
        return first


def load_scenario(path: Path, registry: Registry) -> Scenario:
    """Read and check a scenario file (see courts/simulate.toml for the format)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), 1, f"cannot read the scenario: {exc.strerror}") from exc
    return parse_scenario(text, str(path), registry)


def default_scenario_path(courts_dir: Path) -> Path:
    return courts_dir / "simulate.toml"


def parse_scenario(text: str, file: str, registry: Registry) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        line = int(found.group(1)) if found else 1
        raise ScenarioError(file, line, f"not valid TOML: {exc}") from exc
    lines = _Lines(text)

    def fail(line: int, message: str) -> NoReturn:
        raise ScenarioError(file, line, message)

    for key in data:
        if key not in SECTIONS:
            fail(lines.section(key), f"unknown section `{key}`; expected {', '.join(SECTIONS)}")

    def table(name: str, required: bool = True) -> dict[str, Any]:
        value = data.get(name)
        if value is None:
            if required:
                fail(1, f"missing section [{name}]")
            return {}
        if not isinstance(value, dict):
            fail(lines.section(name), f"`{name}` must be a table [{name}]")
        return value

    def number(section: str, key: str, value: Any, low: float, high: float | None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(lines.key(section, key), f"[{section}] {key} must be a number, not {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            fail(lines.key(section, key), f"[{section}] {key} must be {bound}, not {value}")
        return float(value)

    def weights(section: str, key: str, value: Any, allowed: tuple[str, ...]) -> dict[str, float]:
        line = lines.key(section, key)
        if not isinstance(value, dict) or not value:
            fail(line, f"[{section}] {key} must be a non-empty table of weights")
        out: dict[str, float] = {}
        for name, w in value.items():
            if name not in allowed:
                fail(line, f"[{section}] {key}: unknown `{name}`; expected {', '.join(allowed)}")
            if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
                fail(line, f"[{section}] {key}.{name} must be a weight >= 0, not {w!r}")
            out[name] = float(w)
        if sum(out.values()) <= 0:
            fail(line, f"[{section}] {key}: the weights add up to nothing")
        return out

    def section_weights(section: str, allowed: tuple[str, ...]) -> dict[str, float]:
        """A section that is one weight per name of ``allowed`` (a name left out weighs 0)."""
        found = dict.fromkeys(allowed, 0.0)
        for name, w in table(section).items():
            if name not in allowed:
                fail(
                    lines.key(section, name),
                    f"[{section}] unknown `{name}`; expected {', '.join(allowed)}",
                )
            found[name] = number(section, name, w, 0, None)
        if not any(found.values()):
            fail(lines.section(section), f"[{section}] weights add up to nothing")
        return found

    def day_range(section: str, key: str, value: Any, index: int = 0) -> Range:
        line = lines.key(section, key, index)
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] <= value[1] <= 400
        ):
            fail(
                line,
                f"[{section}] {key} must be [LOW, HIGH] working days, 0 <= LOW <= HIGH <= 400, "
                f"not {value!r}",
            )
        return (value[0], value[1])

    def unknown_keys(section: str, block: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in block:
            if key not in allowed:
                fail(
                    lines.key(section, key),
                    f"unknown key `{key}` in [{section}]; expected {', '.join(allowed)}",
                )

    sim = table("simulation")
    unknown_keys("simulation", sim, ("start", "slots", "sla_steps", "registries"))
    registries = sim.get("registries", True)
    if not isinstance(registries, bool):
        fail(lines.key("simulation", "registries"), "registries must be true or false")
    sla_steps = sim.get("sla_steps", "ticks")
    if sla_steps not in ("ticks", "exact"):
        fail(
            lines.key("simulation", "sla_steps"),
            f'sla_steps must be "ticks" or "exact", not {sla_steps!r}',
        )
    start = sim.get("start", date(2026, 1, 1))
    if not isinstance(start, date) or isinstance(start, datetime):
        fail(lines.key("simulation", "start"), "start must be a date written YYYY-MM-DD")
    raw_slots = sim.get("slots", ["09:00", "11:00", "14:00", "16:00"])
    slots: list[time] = []
    if not isinstance(raw_slots, list) or not raw_slots:
        fail(lines.key("simulation", "slots"), 'slots must be a list such as ["09:00", ...]')
    for raw in raw_slots:
        try:
            slot = time.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            slot = None
        if slot is None or not time(9) <= slot < time(17):
            fail(
                lines.key("simulation", "slots"),
                f'slot {raw!r}: officers work 09:00-17:00 local; write "HH:MM"',
            )
        slots.append(slot)
    if slots != sorted(set(slots)):
        fail(lines.key("simulation", "slots"), "slots must be distinct and in order")

    volume_table = table("volume")
    volume: dict[str, float] = {}
    for city in volume_table:
        if city not in registry.cities:
            fail(
                lines.key("volume", city),
                f"[volume] unknown city `{city}`; expected {', '.join(registry.cities)}",
            )
        volume[city] = number("volume", city, volume_table[city], 0, 500)
    if not any(volume.values()):
        fail(lines.section("volume"), "[volume] sends nothing: give some city a volume > 0")

    targets = table("targets", required=False)
    unknown_keys("targets", targets, ("weights", "cities"))
    city_weights: dict[str, float] = {}
    for city, w in targets.get("cities", {}).items():
        line = lines.key("targets", "cities")
        if city not in registry.cities:
            fail(line, f"[targets] cities: unknown city `{city}`")
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            fail(line, f"[targets] cities.{city} must be a weight >= 0, not {w!r}")
        city_weights[city] = float(w)
    court_weights: dict[str, float] = {}
    for court, w in targets.get("weights", {}).items():
        line = lines.key("targets", "weights")
        if court not in registry.courts or not registry.court(court).districts:
            fail(line, f"[targets] weights: `{court}` is not a basic court of the registry")
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            fail(line, f"[targets] weights.{court} must be a weight >= 0, not {w!r}")
        court_weights[court] = float(w)

    raw_tasks = data.get("task")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        fail(lines.section("task"), "missing [[task]] blocks (the task mix)")
    tasks: list[TaskMix] = []
    for index, block in enumerate(raw_tasks):
        header = lines.section("task", index)
        if not isinstance(block, dict):
            fail(header, "[[task]] must be a table")
        for key in block:
            if key not in ("type", "weight", "assets", "complete"):
                fail(
                    lines.key("task", key, index),
                    f"unknown key `{key}` in [[task]]; expected type, weight, assets, complete",
                )
        task = block.get("type")
        if task not in TASK_TYPES:
            fail(
                lines.key("task", "type", index),
                f"[[task]] type must be one of {', '.join(TASK_TYPES)}, not {task!r}",
            )
        if any(t.task == task for t in tasks):
            fail(lines.key("task", "type", index), f"[[task]] type `{task}` appears twice")
        weight = block.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            fail(lines.key("task", "weight", index), f"[[task]] weight must be >= 0: {weight!r}")
        if "assets" not in block:
            fail(header, f"[[task]] {task}: missing `assets`")
        assets = weights("task", "assets", block["assets"], ASSET_KINDS)
        if "complete" not in block:
            fail(header, f"[[task]] {task}: missing `complete` = [LOW, HIGH] working days")
        tasks.append(
            TaskMix(
                task, float(weight), assets, day_range("task", "complete", block["complete"], index)
            )
        )
    if sum(t.weight for t in tasks) <= 0:
        fail(lines.section("task"), "[[task]] weights add up to nothing")

    delays_table = table("delays")
    unknown_keys("delays", delays_table, DELAYS)
    delays: dict[str, Range] = {}
    for key in DELAYS:
        if key not in delays_table:
            fail(lines.section("delays"), f"[delays] missing `{key}` = [LOW, HIGH]")
        delays[key] = day_range("delays", key, delays_table[key])

    shares_table = table("shares")
    unknown_keys("shares", shares_table, SHARES)
    shares: dict[str, float] = {}
    for key in SHARES:
        if key not in shares_table:
            fail(lines.section("shares"), f"[shares] missing `{key}` (a share from 0 to 1)")
        shares[key] = number("shares", key, shares_table[key], 0, 1)
    if shares["return"] + shares["cancel"] > 1:
        fail(lines.key("shares", "cancel"), "[shares] return + cancel must not exceed 1")

    reasons = section_weights("return_reasons", RETURN_REASONS)
    results = section_weights("results", RESULTS)

    slow = table("slow")
    unknown_keys("slow", slow, ("court", "multiplier"))
    named = slow.get("court")
    if not isinstance(named, str) or named not in registry.courts:
        fail(lines.key("slow", "court"), f"[slow] court {named!r} is not in the registry")
    slow_court = named
    if not registry.court(slow_court).districts:
        fail(lines.key("slow", "court"), f"[slow] court {slow_court} is not a basic court")
    multiplier = number("slow", "multiplier", slow.get("multiplier", 3.0), 1, 20)

    outage: Outage | None = None
    raw_outage = table("outage", required=False)
    if raw_outage:
        unknown_keys("outage", raw_outage, ("city", "start", "days"))
        down = raw_outage.get("city")
        if not isinstance(down, str) or down not in registry.cities:
            fail(lines.key("outage", "city"), f"[outage] unknown city {down!r}")
        first = raw_outage.get("start")
        if not isinstance(first, date) or isinstance(first, datetime):
            fail(lines.key("outage", "start"), "[outage] start must be a date written YYYY-MM-DD")
        if first < start:
            fail(lines.key("outage", "start"), "[outage] start is before the simulation starts")
        days = number("outage", "days", raw_outage.get("days", 2), 1, 30)
        if days != int(days):
            fail(lines.key("outage", "days"), "[outage] days must be a whole number")
        outage = Outage(down, first, int(days))

    return Scenario(
        start=start,
        slots=tuple(slots),
        volume=volume,
        court_weights=court_weights,
        city_weights=city_weights,
        tasks=tuple(tasks),
        delays=delays,
        shares=shares,
        return_reasons=reasons,
        results=results,
        slow_court=slow_court,
        slow_multiplier=multiplier,
        outage=outage,
        sla_steps=sla_steps,
        registries=registries,
        source=file,
    )
