"""The simulator's scenario file: the default one parses; mistakes name the file, line and key."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from jiaodong.devtools.scenario import ScenarioError, load_scenario, parse_scenario
from jiaodong.files.registry import default_courts_dir, load_registry

REGISTRY = load_registry()
DEFAULT = default_courts_dir() / "simulate.toml"
SHORT = Path(__file__).parents[1] / "e2e" / "data" / "simulate-short.toml"


def test_the_default_scenario_parses() -> None:
    s = load_scenario(DEFAULT, REGISTRY)
    assert s.start == date(2026, 1, 1)
    assert s.slots == (time(9), time(11), time(14), time(16))
    assert set(s.volume) == set(REGISTRY.cities)
    assert s.slow_court == "370785" and s.slow_multiplier == 3.0
    assert s.outage is not None and s.outage.city == "weihai" and s.outage.days == 2
    assert {t.task for t in s.tasks} == {
        "property_inquiry",
        "seizure",
        "on_site_inspection",
        "handover",
        "forced_eviction",
        "service_of_documents",
    }
    assert s.delays["acknowledge"] == (0, 2)
    assert set(s.return_reasons) == {
        "MATERIALS_INCOMPLETE",
        "REQUEST_UNCLEAR",
        "NOT_OUR_JURISDICTION",
        "OTHER",
    }


def test_the_test_scenario_parses() -> None:
    s = load_scenario(SHORT, REGISTRY)
    assert s.court_weights == {"370785": 12.0}


def mutate(old: str, new: str) -> str:
    text = DEFAULT.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("qingdao = 6.0", "beijing = 6.0", "beijing = 6.0", "unknown city `beijing`"),
        ("qingdao = 6.0", "qingdao = -1", "qingdao = -1", "[volume] qingdao must be between"),
        ("acknowledge = [0, 2]", "acknowledge = [3, 0]", "acknowledge = [3, 0]", "[LOW, HIGH]"),
        ("return = 0.10", "return = 1.5", "return = 1.5", "[shares] return must be between"),
        ('court = "370785"', 'court = "370700"', 'court = "370700"', "not a basic court"),
        ('court = "370785"', 'court = "999999"', 'court = "999999"', "not in the registry"),
        ('city = "weihai"', 'city = "paris"', 'city = "paris"', "[outage] unknown city"),
        ("OTHER = 1 ", "ELSE = 1 ", "ELSE = 1", "[return_reasons] unknown `ELSE`"),
        ('type = "seizure"', 'type = "arrest"', 'type = "arrest"', "[[task]] type must be"),
        ("complete = [5, 14]", "complete = [5, 14]\ncolour = 1", "colour = 1", "unknown key"),
        (
            'slots = ["09:00"',
            'slots = ["08:00"',
            'slots = ["08:00"',
            "officers work 09:00-17:00",
        ),
        ("multiplier = 3.0", "multiplier = 0.5", "multiplier = 0.5", "[slow] multiplier"),
        ("start = 2026-03-17", 'start = "2026-03-17"', 'start = "2026-03-17"', "must be a date"),
    ],
)
def test_mistakes_name_the_line_and_key(old: str, new: str, needle: str, message: str) -> None:
    text = mutate(old, new)
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "simulate.toml", REGISTRY)
    assert message in caught.value.message, caught.value.message
    assert caught.value.line == line_of(text, needle), str(caught.value)
    assert str(caught.value).startswith(f"simulate.toml:{caught.value.line}: ")


def test_bad_toml_names_the_line() -> None:
    text = mutate("[delays]", "[delays")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.toml", REGISTRY)
    assert "not valid TOML" in str(caught.value)
    assert caught.value.line == line_of(text, "[delays")


def test_missing_pieces_are_named() -> None:
    text = mutate("supplement = [1, 10]", "")
    with pytest.raises(ScenarioError, match=r"\[delays\] missing `supplement`"):
        parse_scenario(text, "s.toml", REGISTRY)
    with pytest.raises(ScenarioError, match=r"missing section \[slow\]"):
        parse_scenario(DEFAULT.read_text(encoding="utf-8").split("[slow]")[0], "s.toml", REGISTRY)


def test_unknown_section_is_named() -> None:
    text = DEFAULT.read_text(encoding="utf-8") + "\n[weather]\nrain = 1\n"
    with pytest.raises(ScenarioError, match="unknown section `weather`") as caught:
        parse_scenario(text, "s.toml", REGISTRY)
    assert caught.value.line == line_of(text, "[weather]")


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "none.toml", REGISTRY)
