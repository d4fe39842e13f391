"""The SLA policy: which time limits apply to a delegation, and what happens when one is missed.

Pure: ``parse_policy`` takes the text of ``courts/sla.toml`` and its name; reading the file is
``jiaodong.files.policy``. Every problem in the file is a ``RegistryError`` naming the file and the
1-based line of the offending ``[[rule]]`` block or of the key inside it.

A rule is keyed by task type, asset kind (each a value name or ``*``) and priority. For each
goal the most specific rule of the same priority that defines that goal wins: exact task and
asset, then exact task with ``*`` asset, then ``*`` task with exact asset, then the ``*``/``*``
catch-all, which must exist for every priority and define all six goals.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NoReturn

from jiaodong.domain.assistance import AssistancePolicy
from jiaodong.domain.controls import RenewalPolicy
from jiaodong.domain.delegation import AssetKind, Priority, TaskType
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.lifecycle import ASSISTANCE_TASK
from jiaodong.domain.periods import Period, Unit

WILDCARD = "*"


class Goal(StrEnum):
    """One time limit on a delegation, named by what must happen before it runs out."""

    ACKNOWLEDGE = "acknowledge"  # the entrusted court confirms receipt; starts at delivery
    START = "start"  # it accepts or returns it; from delivery, not restarted by acknowledgements
    PROGRESS = "progress"  # a progress report or completion; starts at delivery (receipt)
    COMPLETE = "complete"  # the result; starts at delivery (receipt)
    INACTION = "inaction"  # platform reminder: no step by the entrusted court; restarts at each
    SUPPLEMENT = "supplement"  # the requesting court supplies materials after a return for them
    # On-site assistance only: the local court proposes its plan (or refuses); from delivery,
    # again after the requesting court asks to move. Its limit is [assistance] confirm_working_days.
    PLAN = "plan"


# The goals a [[rule]] sets (PLAN comes from [assistance]).
RULE_GOALS: tuple[Goal, ...] = tuple(g for g in Goal if g is not Goal.PLAN)


class BreachAction(StrEnum):
    """What the platform does when a goal's time limit runs out."""

    NONE = "none"
    URGE = "urge"  # an automatic 催办 to the entrusted court
    ESCALATE = "escalate"  # 督办 to the command centre of the entrusted court's city
    WITHDRAW = "withdraw"  # treat the delegation as withdrawn: only for SUPPLEMENT


@dataclass(frozen=True)
class GoalPolicy:
    """The limit for one goal, when to warn (fractions of it), the breach action and its source."""

    goal: Goal
    period: Period
    warn_at: tuple[float, ...]
    on_breach: BreachAction
    source: str


@dataclass(frozen=True)
class Rule:
    """One ``[[rule]]`` block: the goals it sets for a task type, asset kind and priority.

    ``task`` and ``asset`` are ``*`` or lower-case value names (``seizure``, ``vehicle``);
    ``priority`` is ``normal`` or ``urgent``; ``line`` is the line of the ``[[rule]]`` header.
    """

    task: str
    asset: str
    priority: str
    goals: Mapping[Goal, GoalPolicy]
    line: int


# Task types a [[rule]] may name: on-site assistance has its limits in [assistance].
TASKS = tuple(t.value.lower() for t in TaskType if t.value != ASSISTANCE_TASK)
ASSETS = tuple(a.value.lower() for a in AssetKind)
PRIORITIES = tuple(p.value.lower() for p in Priority)


@dataclass(frozen=True)
class SlaPolicy:
    """Every rule of one policy file, in file order."""

    rules: tuple[Rule, ...]
    file: str
    renewal: RenewalPolicy = field(default_factory=RenewalPolicy)
    assistance: AssistancePolicy = field(default_factory=AssistancePolicy)

    def matched(self, task: str, asset: str, priority: str) -> list[Rule]:
        """The rules that apply, most specific first (for explaining a clock's limits).

        Takes the domain enum values (``SEIZURE``, ``VEHICLE``, ``URGENT``), in any case.
        """
        t = _lookup_key(task, TASKS, "task type")
        a = _lookup_key(asset, ASSETS, "asset kind")
        p = _lookup_key(priority, PRIORITIES, "priority")
        if p == WILDCARD:
            raise ValueError("priority must be normal or urgent, not *")
        by_key = {(r.task, r.asset, r.priority): r for r in self.rules}
        found: list[Rule] = []
        for key in ((t, a, p), (t, WILDCARD, p), (WILDCARD, a, p), (WILDCARD, WILDCARD, p)):
            rule = by_key.get(key)
            if rule is not None and rule not in found:
                found.append(rule)
        return found

    def goals_for(self, task: str, asset: str, priority: str) -> dict[Goal, GoalPolicy]:
        """For each goal, the policy of the most specific matching rule that defines it."""
        chosen: dict[Goal, GoalPolicy] = {}
        assistance = task.strip().upper() == ASSISTANCE_TASK
        for rule in self.matched("*" if assistance else task, asset, priority):
            for goal, policy in rule.goals.items():
                chosen.setdefault(goal, policy)
        if assistance:
            # On-site assistance: the local court acknowledges and proposes a plan; the other
            # goals (handling, progress, result) are not its to meet: the visitors act.
            ack = chosen[Goal.ACKNOWLEDGE]
            plan = GoalPolicy(
                Goal.PLAN,
                Period(self.assistance.confirm_working_days, Unit.WORKING_DAYS),
                ack.warn_at,
                BreachAction.URGE,
                self.assistance.confirm_source,
            )
            return {Goal.ACKNOWLEDGE: ack, Goal.PLAN: plan}
        return {goal: chosen[goal] for goal in Goal if goal in chosen}


def _lookup_key(value: str, known: tuple[str, ...], what: str) -> str:
    key = value.strip().lower()
    if key != WILDCARD and key not in known:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(known)}")
    return key


# --- parsing ----------------------------------------------------------------------------------

RULE_KEYS = ("task", "asset", "priority")
GOAL_KEYS = ("length", "unit", "on_breach", "source", "warn_at")
DEFAULTS_KEYS = ("warn_at",)
RENEWAL_KEYS = ("renew_before_months", "warn_working_days", "source", "warn_source")
ASSISTANCE_KEYS = (
    "advance_working_days",
    "confirm_working_days",
    "advance_source",
    "confirm_source",
)
ALL_GOALS = ", ".join(RULE_GOALS)
GOAL_EXAMPLE = '{ length = 15, unit = "days", on_breach = "urge", source = "..." }'

Fail = Callable[[str], NoReturn]

_HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z_\"'][\w\-.\"' ]*?)\s*(\]\]?)\s*(#.*)?")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column \d+\)|\s*\(at end of document\)")


class _Lines:
    """Where tables and keys are in the text: tomllib reports no line numbers for values."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        # (1-based line, is an array-of-tables header, table name)
        self.headers: list[tuple[int, bool, str]] = []
        for number, line in enumerate(self.lines, start=1):
            match = _HEADER.fullmatch(line)
            if match and len(match.group(1)) == len(match.group(3)):
                parts = match.group(2).split(".")
                name = ".".join(part.strip().strip("\"'") for part in parts)
                self.headers.append((number, len(match.group(1)) == 2, name))

    def rule(self, index: int) -> int:
        """The line of the ``index``-th (0-based) ``[[rule]]`` header, else of ``rule =``."""
        rules = [number for number, array, name in self.headers if array and name == "rule"]
        if index < len(rules):
            return rules[index]
        return self.key(0, "rule")

    def table(self, name: str) -> int:
        """The line of the ``[name]`` (or ``[name.x]``) header, else of ``name =``, else 1."""
        for number, _, header in self.headers:
            if header == name or header.startswith(f"{name}."):
                return number
        return self.key(0, name)

    def key(self, start: int, key: str) -> int:
        """The first line of ``key =`` (or ``key.x =``) after line ``start`` inside its table.

        ``start`` is a header line, or 0 for the top of the file; falls back to ``start`` (or 1).
        """
        following = [number for number, _, _ in self.headers if number > start]
        end = following[0] if following else len(self.lines) + 1
        escaped = re.escape(key)
        pattern = re.compile(rf"\s*(?:{escaped}|\"{escaped}\"|'{escaped}')\s*[=.]")
        for number in range(start + 1, end):
            if pattern.match(self.lines[number - 1]):
                return number
        for number, array, name in self.headers:  # a sub-table such as [rule.acknowledge]
            if number <= start:
                continue
            if array:
                break
            if name.endswith(f".{key}"):
                return number
        return max(start, 1)


def _toml_error(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, str]:
    message = str(exc)
    match = _TOML_POSITION.search(message)
    if match is None:
        return 1, message
    line = int(match.group(1)) if match.group(1) else max(text.count("\n") + 1, 1)
    return line, message[: match.start()] + message[match.end() :]


def _names(values: tuple[str, ...] | type[StrEnum]) -> str:
    items = [str(v.value) if isinstance(v, StrEnum) else v for v in values]
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else "".join(items)


def _warn_at(value: object, fail: Fail, where: str = "") -> tuple[float, ...]:
    """Fractions of a limit, strictly increasing, each in (0, 1); ``where`` prefixes messages."""
    if not isinstance(value, list):
        fail(f"{where}warn_at must be a list of fractions of the limit, like [0.5, 0.75]")
    fractions: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            fail(f"{where}warn_at: {item!r} is not a number; use fractions like [0.5, 0.75]")
        if not 0 < item < 1:
            fail(f"{where}warn_at: {item!r} is not between 0 and 1 (both excluded)")
        if fractions and item <= fractions[-1]:
            fail(
                f"{where}warn_at: values must be strictly increasing; "
                f"{item!r} follows {fractions[-1]!r}"
            )
        fractions.append(float(item))
    return tuple(fractions)


def _goal(goal: Goal, value: object, default_warn: tuple[float, ...], fail: Fail) -> GoalPolicy:
    if not isinstance(value, dict):
        fail(f"{goal} must be a table like {GOAL_EXAMPLE}")
    for key in value:
        if key not in GOAL_KEYS:
            fail(f"{goal}: unknown key {key!r}; expected {_names(GOAL_KEYS)}")
    for key in ("length", "unit", "on_breach"):
        if key not in value:
            fail(f"{goal}: {key} is missing; write it like {GOAL_EXAMPLE}")
    length = value["length"]
    if isinstance(length, bool) or not isinstance(length, int):
        fail(f"{goal}: length {length!r} is not a whole number")
    if length < 1:
        fail(f"{goal}: length {length} must be at least 1")
    unit = value["unit"]
    if not isinstance(unit, str) or unit not in set(Unit):
        fail(f"{goal}: unknown unit {unit!r}; expected {_names(Unit)}")
    action = value["on_breach"]
    if not isinstance(action, str) or action not in set(BreachAction):
        fail(f"{goal}: unknown on_breach {action!r}; expected {_names(BreachAction)}")
    if action == BreachAction.WITHDRAW and goal is not Goal.SUPPLEMENT:
        fail(f"{goal}: on_breach withdraw is only allowed for supplement")
    source = value.get("source")
    if not isinstance(source, str) or not source.strip():
        fail(
            f"{goal}: source is missing; say where the number comes from "
            "(a law and article, or that it is a platform default)"
        )
    warn = _warn_at(value["warn_at"], fail, f"{goal}: ") if "warn_at" in value else default_warn
    return GoalPolicy(goal, Period(length, Unit(unit)), warn, BreachAction(action), source.strip())


def _rule_key(
    block: dict[str, object], key: str, known: tuple[str, ...], what: str, fail: Fail
) -> str:
    if key not in block:
        fail(f"{key} is missing; write {key} = one of " + ", ".join(f'"{k}"' for k in known))
    value = block[key]
    normal = value.strip().lower() if isinstance(value, str) else None
    if normal is None or normal not in known:
        fail(f"unknown {what} {value!r}; expected {_names(known)}")
    return normal


def _failer(file: str, line: int) -> Fail:
    def fail(message: str) -> NoReturn:
        raise RegistryError(file, line, message)

    return fail


def _rule(
    block: object, line: int, where: _Lines, file: str, default_warn: tuple[float, ...]
) -> Rule:
    fail = _failer(file, line)
    if not isinstance(block, dict):
        fail("a rule must be a [[rule]] table")

    def key_fail(key: str) -> Fail:
        return _failer(file, where.key(line, key))

    for key in block:
        if key not in RULE_KEYS and key not in set(RULE_GOALS):
            key_fail(key)(
                f"unknown key {key!r}; expected {', '.join(RULE_KEYS)} or a goal: {ALL_GOALS}"
            )
    task = _rule_key(block, "task", (WILDCARD, *TASKS), "task type", key_fail("task"))
    asset = _rule_key(block, "asset", (WILDCARD, *ASSETS), "asset kind", key_fail("asset"))
    priority = _rule_key(block, "priority", PRIORITIES, "priority", key_fail("priority"))
    goals = {
        goal: _goal(goal, block[goal.value], default_warn, key_fail(goal.value))
        for goal in RULE_GOALS
        if goal.value in block
    }
    if not goals:
        fail(f"the rule sets no goal; give at least one of {ALL_GOALS}")
    return Rule(task, asset, priority, MappingProxyType(goals), line)


def parse_policy(text: str, file: str) -> SlaPolicy:
    """Parse and check an SLA policy file; raise ``RegistryError`` at the first problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, message = _toml_error(exc, text)
        raise RegistryError(file, line, f"not valid TOML: {message}") from exc
    where = _Lines(text)
    for key in data:
        if key not in ("defaults", "rule", "renewal", "assistance"):
            _failer(file, where.table(key))(
                f"unknown table or key {key!r}; expected [defaults], [[rule]], [renewal] and "
                "[assistance]"
            )

    defaults = data.get("defaults", {})
    defaults_line = where.table("defaults")
    if not isinstance(defaults, dict):
        _failer(file, defaults_line)("defaults must be a [defaults] table")
    for key in defaults:
        if key not in DEFAULTS_KEYS:
            _failer(file, where.key(defaults_line, key))(
                f"[defaults]: unknown key {key!r}; expected {_names(DEFAULTS_KEYS)}"
            )
    default_warn: tuple[float, ...] = ()
    if "warn_at" in defaults:
        default_warn = _warn_at(
            defaults["warn_at"], _failer(file, where.key(defaults_line, "warn_at"))
        )

    blocks = data.get("rule", [])
    if not isinstance(blocks, list):
        _failer(file, where.table("rule"))("write each rule as a [[rule]] block (two brackets)")
    rules: list[Rule] = []
    seen: dict[tuple[str, str, str], Rule] = {}
    for index, block in enumerate(blocks):
        rule = _rule(block, where.rule(index), where, file, default_warn)
        triple = (rule.task, rule.asset, rule.priority)
        if triple in seen:
            raise RegistryError(
                file,
                rule.line,
                "overlapping rules: same task, asset and priority as the rule on line "
                f"{seen[triple].line}",
            )
        seen[triple] = rule
        rules.append(rule)

    for priority in PRIORITIES:
        catch_all = seen.get((WILDCARD, WILDCARD, priority))
        if catch_all is None:
            raise RegistryError(
                file,
                1,
                f'no catch-all rule for priority {priority}: add a [[rule]] with task = "*", '
                f'asset = "*", priority = "{priority}" defining every goal: {ALL_GOALS}',
            )
        missing = [goal.value for goal in RULE_GOALS if goal not in catch_all.goals]
        if missing:
            raise RegistryError(
                file,
                catch_all.line,
                f"the catch-all rule for priority {priority} must define every goal; "
                f"missing: {', '.join(missing)}",
            )
    renewal = _renewal(data.get("renewal", {}), where, file)
    return SlaPolicy(
        tuple(rules), file, renewal, _assistance(data.get("assistance", {}), where, file)
    )


def _table(
    name: str,
    block: object,
    where: _Lines,
    file: str,
    keys: tuple[str, ...],
    numbers: dict[str, tuple[int, int]],
) -> dict[str, Any]:
    """A table of whole numbers within bounds and texts saying where they come from, by key."""
    line = where.table(name)
    if not isinstance(block, dict):
        _failer(file, line)(f"{name} must be a [{name}] table")
    values: dict[str, Any] = {}
    for key, value in block.items():
        fail = _failer(file, where.key(line, key))
        if key not in keys:
            fail(f"[{name}]: unknown key {key!r}; expected {_names(keys)}")
        if key in numbers:
            low, high = numbers[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                fail(f"[{name}]: {key} must be a whole number from {low} to {high}")
        elif not isinstance(value, str) or not value.strip():
            fail(f"[{name}]: {key} must say where the number comes from")
        values[key] = value
    return values


def _renewal(block: object, where: _Lines, file: str) -> RenewalPolicy:
    """``[renewal]``: when a seizure or freeze must be renewed and how early to warn."""
    numbers = {"renew_before_months": (1, 11), "warn_working_days": (0, 60)}
    return replace(RenewalPolicy(), **_table("renewal", block, where, file, RENEWAL_KEYS, numbers))


def _assistance(block: object, where: _Lines, file: str) -> AssistancePolicy:
    """``[assistance]``: the notice an on-site assistance request gives, and the local court's
    limit for its plan (domain/assistance.py)."""
    numbers = {"advance_working_days": (0, 30), "confirm_working_days": (1, 30)}
    values = _table("assistance", block, where, file, ASSISTANCE_KEYS, numbers)
    return replace(AssistancePolicy(), **values)
