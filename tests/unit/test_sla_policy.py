"""The SLA policy: the real courts/sla.toml, rule matching, every refusal with its file and line."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jiaodong.domain.delegation import AssetKind, Priority, TaskType
from jiaodong.domain.errors import RegistryError
from jiaodong.domain.periods import Period, Unit
from jiaodong.domain.sla_policy import RULE_GOALS, BreachAction, Goal, SlaPolicy, parse_policy
from jiaodong.files.policy import load_policy

FILE = "sla.toml"


def goal_line(goal: str, length: int = 10, unit: str = "days", on_breach: str = "urge") -> str:
    if goal == "supplement" and on_breach == "urge":
        on_breach = "withdraw"
    if goal == "inaction" and on_breach == "urge":
        on_breach = "escalate"
    return (
        f'{goal} = {{ length = {length}, unit = "{unit}", on_breach = "{on_breach}", '
        f'source = "test {goal}" }}'
    )


def rule_block(task: str, asset: str, priority: str, *goal_lines: str) -> str:
    header = f'[[rule]]\ntask = "{task}"\nasset = "{asset}"\npriority = "{priority}"\n'
    return header + "".join(f"{line}\n" for line in goal_lines)


def catch_all(priority: str, skip: str = "") -> str:
    return rule_block(
        "*", "*", priority, *(goal_line(g.value) for g in RULE_GOALS if g.value != skip)
    )


DEFAULTS = "[defaults]\nwarn_at = [0.5, 0.75]\n"
# Line 1 [defaults], line 2 warn_at, line 3 blank, line 4 the normal catch-all (goals on lines
# 8-13), line 14 blank, line 15 the urgent catch-all (goals on lines 19-24), line 25 blank,
# line 26 the header of a rule added by ``with_rule`` (task 27, asset 28, priority 29, goals 30-).
BASE = f"{DEFAULTS}\n{catch_all('normal')}\n{catch_all('urgent')}\n"
EXTRA = 26


def with_rule(
    *lines: str, task: str = "seizure", asset: str = "*", priority: str = "normal"
) -> str:
    return BASE + rule_block(task, asset, priority, *lines)


def refusal(text: str) -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        parse_policy(text, FILE)
    return caught.value


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the ``nth`` line containing ``needle`` (to check the constants)."""
    found = [i for i, line in enumerate(text.split("\n"), start=1) if needle in line]
    return found[nth - 1]


def test_line_constants_match_the_text() -> None:
    text = with_rule(goal_line("complete"))
    assert line_of(text, "[[rule]]", 1) == 4
    assert line_of(text, "acknowledge", 1) == 8
    assert line_of(text, "[[rule]]", 2) == 15
    assert line_of(text, "[[rule]]", 3) == EXTRA
    assert line_of(text, "complete", 3) == EXTRA + 4


# --- the real file ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real() -> SlaPolicy:
    return load_policy()


def test_real_file_loads_three_rules(real: SlaPolicy) -> None:
    assert real.file.endswith("sla.toml")
    keys = [(r.task, r.asset, r.priority) for r in real.rules]
    assert keys == [("*", "*", "normal"), ("*", "*", "urgent"), ("seizure", "vehicle", "urgent")]
    for rule in real.rules:
        for policy in rule.goals.values():
            assert policy.source.strip()
            assert policy.warn_at == (0.5, 0.75)


def test_real_file_normal_priority_has_the_legal_numbers(real: SlaPolicy) -> None:
    goals = real.goals_for("PROPERTY_INQUIRY", "REAL_ESTATE", "NORMAL")
    summary = {g: (p.period, p.on_breach) for g, p in goals.items()}
    assert summary == {
        Goal.ACKNOWLEDGE: (Period(3, Unit.WORKING_DAYS), BreachAction.URGE),
        Goal.START: (Period(15, Unit.DAYS), BreachAction.ESCALATE),
        Goal.PROGRESS: (Period(30, Unit.DAYS), BreachAction.URGE),
        Goal.COMPLETE: (Period(30, Unit.DAYS), BreachAction.URGE),
        Goal.INACTION: (Period(15, Unit.DAYS), BreachAction.URGE),
        Goal.SUPPLEMENT: (Period(30, Unit.DAYS), BreachAction.WITHDRAW),
    }
    assert "PLATFORM DEFAULT" in goals[Goal.ACKNOWLEDGE].source
    for goal in (Goal.START, Goal.PROGRESS):
        assert "art. 229" in goals[goal].source
        assert "receipt" in goals[goal].source
    # The legal not-started limit is start (督辦 from receipt); inaction is only a reminder.
    assert "督辦" in goals[Goal.START].source
    assert "not restarted by acknowledgements or urges" in goals[Goal.START].source
    assert goals[Goal.INACTION].source.startswith("PLATFORM DEFAULT")
    assert "art. 229" not in goals[Goal.INACTION].source
    assert "from delivery" in goals[Goal.COMPLETE].source.lower()
    assert "art. 5" in goals[Goal.COMPLETE].source
    assert "京高法發[2011]337號" in goals[Goal.SUPPLEMENT].source


def test_real_file_vehicle_seizure_urgent_uses_the_specific_rule(real: SlaPolicy) -> None:
    goals = real.goals_for("SEIZURE", "VEHICLE", "URGENT")
    assert goals[Goal.ACKNOWLEDGE].period == Period(2, Unit.HOURS)
    assert goals[Goal.START].period == Period(12, Unit.HOURS)
    assert goals[Goal.START].on_breach is BreachAction.ESCALATE
    assert goals[Goal.COMPLETE].period == Period(3, Unit.DAYS)
    # not set by the specific rule: the urgent catch-all
    assert goals[Goal.PROGRESS].period == Period(30, Unit.DAYS)
    assert goals[Goal.INACTION].on_breach is BreachAction.URGE
    assert list(goals) == list(RULE_GOALS)
    specific, fallback = real.matched("SEIZURE", "VEHICLE", "URGENT")
    assert goals[Goal.ACKNOWLEDGE] is specific.goals[Goal.ACKNOWLEDGE]
    assert goals[Goal.PROGRESS] is fallback.goals[Goal.PROGRESS]
    assert (fallback.task, fallback.asset, fallback.priority) == ("*", "*", "urgent")


def test_real_file_other_urgent_work_gets_the_urgent_catch_all(real: SlaPolicy) -> None:
    goals = real.goals_for(TaskType.SEIZURE, AssetKind.REAL_ESTATE, Priority.URGENT)
    assert goals[Goal.ACKNOWLEDGE].period == Period(4, Unit.HOURS)
    assert goals[Goal.START].period == Period(24, Unit.HOURS)
    assert goals[Goal.START].on_breach is BreachAction.ESCALATE  # urgent work keeps an escalation
    assert goals[Goal.INACTION].source.startswith("PLATFORM DEFAULT")
    assert goals[Goal.COMPLETE].period == Period(7, Unit.DAYS)
    assert "PLATFORM DEFAULT" in goals[Goal.COMPLETE].source
    # an urgent vehicle inquiry is not a seizure: no specific rule
    assert len(real.matched("PROPERTY_INQUIRY", "VEHICLE", "URGENT")) == 1


def test_lookups_ignore_case_and_refuse_unknown_values(real: SlaPolicy) -> None:
    assert real.goals_for("seizure", "Vehicle", "urgent") == real.goals_for(
        "SEIZURE", "VEHICLE", "URGENT"
    )
    with pytest.raises(ValueError, match="unknown task type"):
        real.goals_for("ARREST", "VEHICLE", "URGENT")
    with pytest.raises(ValueError, match="unknown asset kind"):
        real.goals_for("SEIZURE", "BOAT", "URGENT")
    with pytest.raises(ValueError, match="unknown priority"):
        real.goals_for("SEIZURE", "VEHICLE", "HIGH")


def test_load_policy_reads_jd_courts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sla.toml").write_text(BASE, encoding="utf-8")
    monkeypatch.setenv("JD_COURTS_DIR", str(tmp_path))
    policy = load_policy()
    assert policy.file == str(tmp_path / "sla.toml")
    assert len(policy.rules) == 2


def test_load_policy_refuses_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "sla.toml").write_bytes(b"[defaults]\n# caf\xe9\n")
    with pytest.raises(RegistryError) as caught:
        load_policy(tmp_path)
    assert (caught.value.file, caught.value.line) == (str(tmp_path / "sla.toml"), 2)


# --- matching order ---------------------------------------------------------------------------


def test_most_specific_rule_wins_for_each_goal() -> None:
    text = (
        BASE
        + rule_block("*", "vehicle", "normal", goal_line("complete", 20), goal_line("start", 5))
        + rule_block("seizure", "*", "normal", goal_line("complete", 10))
        + rule_block("seizure", "vehicle", "normal", goal_line("progress", 1))
        + rule_block("seizure", "vehicle", "urgent", goal_line("progress", 2))
    )
    policy = parse_policy(text, FILE)
    goals = policy.goals_for("SEIZURE", "VEHICLE", "NORMAL")
    assert goals[Goal.PROGRESS].period.length == 1  # exact task and asset
    assert goals[Goal.COMPLETE].period.length == 10  # task + "*" beats "*" + asset
    assert goals[Goal.START].period.length == 5  # "*" + asset beats the catch-all
    assert goals[Goal.ACKNOWLEDGE].period.length == 10  # catch-all
    assert [(r.task, r.asset) for r in policy.matched("SEIZURE", "VEHICLE", "NORMAL")] == [
        ("seizure", "vehicle"),
        ("seizure", "*"),
        ("*", "vehicle"),
        ("*", "*"),
    ]
    # other priority, other asset: only what applies
    assert policy.goals_for("SEIZURE", "EQUITY", "NORMAL")[Goal.COMPLETE].period.length == 10
    assert policy.goals_for("HANDOVER", "VEHICLE", "URGENT")[Goal.PROGRESS].period.length == 10


def test_goal_warn_at_overrides_defaults_and_no_defaults_means_no_warnings() -> None:
    override = goal_line("complete").replace(" }", ", warn_at = [0.9] }")
    policy = parse_policy(with_rule(override), FILE)
    goals = policy.goals_for("SEIZURE", "OTHER", "NORMAL")
    assert goals[Goal.COMPLETE].warn_at == (0.9,)
    assert goals[Goal.START].warn_at == (0.5, 0.75)
    bare = parse_policy(BASE.replace(DEFAULTS, ""), FILE)
    assert bare.rules[0].goals[Goal.START].warn_at == ()


def test_values_are_accepted_in_any_case_and_stored_lower_case() -> None:
    policy = parse_policy(with_rule(goal_line("start"), task="SEIZURE", asset="Vehicle"), FILE)
    assert (policy.rules[-1].task, policy.rules[-1].asset) == ("seizure", "vehicle")


# --- refusals: each names the file and the line -----------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        pytest.param(
            with_rule(goal_line("start"), task="arrest"), EXTRA + 1, "unknown task type", id="task"
        ),
        pytest.param(
            with_rule(goal_line("start"), asset="boat"), EXTRA + 2, "unknown asset kind", id="asset"
        ),
        pytest.param(
            with_rule(goal_line("start"), priority="high"), EXTRA + 3, "unknown priority", id="prio"
        ),
        pytest.param(
            with_rule(goal_line("start"), priority="*"), EXTRA + 3, "unknown priority", id="prio*"
        ),
        pytest.param(
            with_rule(goal_line("start"), goal_line("finish")), EXTRA + 5, "unknown key", id="goal"
        ),
        pytest.param(
            with_rule(goal_line("start"), goal_line("complete", -1)),
            EXTRA + 5,
            "at least 1",
            id="negative",
        ),
        pytest.param(
            with_rule(goal_line("complete", 0)), EXTRA + 4, "at least 1", id="zero-length"
        ),
        pytest.param(
            with_rule(goal_line("complete").replace("length = 10", "length = 1.5")),
            EXTRA + 4,
            "not a whole number",
            id="fraction",
        ),
        pytest.param(
            with_rule(goal_line("complete").replace("length = 10", 'length = "10"')),
            EXTRA + 4,
            "not a whole number",
            id="text-length",
        ),
        pytest.param(
            with_rule(goal_line("complete").replace("length = 10, ", "")),
            EXTRA + 4,
            "length is missing",
            id="no-length",
        ),
        pytest.param(
            with_rule(goal_line("start", unit="weeks")), EXTRA + 4, "unknown unit", id="unit"
        ),
        pytest.param(
            with_rule(goal_line("start", on_breach="shout")),
            EXTRA + 4,
            "unknown on_breach",
            id="on_breach",
        ),
        pytest.param(
            with_rule(goal_line("start"), goal_line("complete", on_breach="withdraw")),
            EXTRA + 5,
            "only allowed for supplement",
            id="withdraw",
        ),
        pytest.param(
            with_rule(goal_line("start").replace(', source = "test start"', "")),
            EXTRA + 4,
            "source is missing",
            id="no-source",
        ),
        pytest.param(
            with_rule(goal_line("start").replace('"test start"', '"  "')),
            EXTRA + 4,
            "source is missing",
            id="blank-source",
        ),
        pytest.param(
            with_rule(goal_line("start").replace(" }", ", grace = 2 }")),
            EXTRA + 4,
            "unknown key 'grace'",
            id="goal-table-key",
        ),
        pytest.param(with_rule('start = "15 days"'), EXTRA + 4, "must be a table", id="not-table"),
        pytest.param(with_rule(), EXTRA, "sets no goal", id="no-goal"),
        pytest.param(
            BASE + '[[rule]]\nasset = "*"\npriority = "normal"\n' + goal_line("start") + "\n",
            EXTRA,
            "task is missing",
            id="no-task",
        ),
        pytest.param(
            BASE.replace("[0.5, 0.75]", "[0.75, 0.5]"), 2, "strictly increasing", id="warn-order"
        ),
        pytest.param(
            BASE.replace("[0.5, 0.75]", "[0.5, 0.5]"), 2, "strictly increasing", id="warn-equal"
        ),
        pytest.param(BASE.replace("[0.5, 0.75]", "[0.5, 1.0]"), 2, "between 0 and 1", id="warn-1"),
        pytest.param(BASE.replace("[0.5, 0.75]", "[0, 0.5]"), 2, "between 0 and 1", id="warn-0"),
        pytest.param(BASE.replace("[0.5, 0.75]", '["half"]'), 2, "not a number", id="warn-text"),
        pytest.param(BASE.replace("[0.5, 0.75]", "0.5"), 2, "must be a list", id="warn-scalar"),
        pytest.param(
            with_rule(goal_line("start").replace(" }", ", warn_at = [0.8, 0.2] }")),
            EXTRA + 4,
            "strictly increasing",
            id="goal-warn",
        ),
        pytest.param(
            DEFAULTS.replace("warn_at", "warn_after") + BASE[len(DEFAULTS) :],
            2,
            "unknown key 'warn_after'",
            id="defaults-key",
        ),
        pytest.param(BASE + "[limits]\nx = 1\n", EXTRA, "unknown table", id="top-table"),
        pytest.param(
            with_rule(goal_line("start"), task="*", asset="*"),
            EXTRA,
            "overlapping rules: same task, asset and priority as the rule on line 4",
            id="overlap-catch-all",
        ),
        pytest.param(
            with_rule(goal_line("start")) + "\n" + rule_block("handover", "*", "normal", "x = 1"),
            EXTRA + 10,
            "unknown key 'x'",
            id="key-in-second-extra-rule",
        ),
        pytest.param(
            with_rule(goal_line("start"))
            + "\n"
            + rule_block("Seizure", "*", "normal", goal_line("complete")),
            EXTRA + 6,
            f"as the rule on line {EXTRA}",
            id="overlap-specific",
        ),
        pytest.param(
            f"{DEFAULTS}\n{catch_all('normal')}\n",
            1,
            "no catch-all rule for priority urgent",
            id="no-urgent-catch-all",
        ),
        pytest.param(
            f"{DEFAULTS}\n{catch_all('normal')}\n{catch_all('urgent', skip='inaction')}\n",
            15,
            "missing: inaction",
            id="incomplete-catch-all",
        ),
        pytest.param("[defaults]\nwarn_at = [0.5,\n[[rule]]\n", 3, "not valid TOML", id="syntax"),
        pytest.param(BASE + "[x]\na = 1\na = 2\n", EXTRA + 2, "not valid TOML", id="dup-key"),
        pytest.param(BASE + 'x = "unclosed', EXTRA, "not valid TOML", id="eof"),
        pytest.param("[rule]\ntask = '*'\n", 1, "[[rule]] block", id="single-bracket"),
    ],
)
def test_refusal_names_file_and_line(text: str, line: int, words: str) -> None:
    error = refusal(text)
    assert error.file == FILE
    assert (error.line, words in error.message) == (line, True), error.message
    assert str(error).startswith(f"{FILE}:{line}: ")


def test_overlap_points_at_the_later_rule_and_names_the_earlier() -> None:
    text = with_rule(goal_line("start"), asset="vehicle") + "\n"
    text += rule_block("seizure", "VEHICLE", "normal", goal_line("complete"))
    error = refusal(text)
    assert error.line == line_of(text, "[[rule]]", 4)
    assert error.message.endswith(f"as the rule on line {EXTRA}")


def test_same_task_and_asset_in_another_priority_is_not_an_overlap() -> None:
    text = with_rule(goal_line("start")) + rule_block("seizure", "*", "urgent", goal_line("start"))
    assert len(parse_policy(text, FILE).rules) == 4


# --- warn_at round trip -----------------------------------------------------------------------

fractions = st.floats(min_value=0, max_value=1, exclude_min=True, exclude_max=True, allow_nan=False)


@given(st.lists(fractions, unique=True, max_size=8).map(sorted))
def test_any_valid_warn_at_round_trips(values: list[float]) -> None:
    listed = "[" + ", ".join(repr(v) for v in values) + "]"
    text = BASE.replace("[0.5, 0.75]", listed)
    override = goal_line("complete").replace(" }", f", warn_at = {listed} }}")
    policy = parse_policy(text + rule_block("seizure", "*", "normal", override), FILE)
    assert policy.rules[0].goals[Goal.START].warn_at == tuple(values)
    assert policy.rules[-1].goals[Goal.COMPLETE].warn_at == tuple(values)


@given(st.lists(fractions, min_size=2, max_size=6))
def test_warn_at_that_does_not_strictly_increase_is_refused(values: list[float]) -> None:
    if all(a < b for a, b in itertools.pairwise(values)):
        values = [*values, values[0]]
    listed = "[" + ", ".join(repr(v) for v in values) + "]"
    error = refusal(BASE.replace("[0.5, 0.75]", listed))
    assert (error.file, error.line) == (FILE, 2)
    assert "strictly increasing" in error.message
