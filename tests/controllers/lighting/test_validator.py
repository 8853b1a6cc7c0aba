"""The lighting validator: the example passes; each mutation breaks one rule and is named by it, with a path,
what was required, what was found and a message in Vietnamese and English."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from controllers.lighting import ERROR_RULES, LightingV1, validate_lighting
from tests.controllers.lighting.conftest import example

START = dt.date(2026, 12, 1)
Mutation = Callable[[dict[str, Any]], None]


def check(doc: dict[str, Any] | LightingV1, **kwargs: Any) -> Any:
    return validate_lighting(doc, from_date=START, **kwargs)


def test_example_is_valid_without_warnings() -> None:
    report = check(example())
    assert report.ok, [e.message.en for e in report.errors]
    assert report.warnings == []


def _level(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"][1]["level_pct"] = 120


def _order(d: dict[str, Any]) -> None:
    # 18:00 after sunset+10: true in winter (sunset 17:15), false in summer (sunset 18:40) in Thái Nguyên.
    d["programs"][0]["steps"].insert(1, {"at": "18:00", "level_pct": 80})


def _never(d: dict[str, Any]) -> None:
    d["site"] = {"lat": 64.1466, "lon": -21.9426, "timezone": "Atlantic/Reykjavik"}
    d["programs"][0]["burn_window"] = None
    d["programs"][3]["burn_window"] = None


def _hysteresis(d: dict[str, Any]) -> None:
    d["programs"][3]["photocell"]["off_above_lux"] = 20


def _window(d: dict[str, Any]) -> None:
    d["programs"][0]["burn_window"] = {"earliest_on": {"at": "23:30"}, "latest_off": {"at": "23:00"}}


def _unknown_program(d: dict[str, Any]) -> None:
    d["calendars"][0]["rules"][2]["program"] = "christmas"


def _unknown_calendar(d: dict[str, Any]) -> None:
    d["circuits"][2]["calendar"] = "highway"


def _duplicate(d: dict[str, Any]) -> None:
    d["circuits"].append({"circuit": 1, "calendar": "park"})


def _range(d: dict[str, Any]) -> None:
    d["calendars"][0]["rules"][3]["to_day"] = "2027-02-01"


def _gap(d: dict[str, Any]) -> None:
    del d["calendars"][0]["rules"][1]      # no weekend rule: Friday and Saturday nights uncovered


def _tie(d: dict[str, Any]) -> None:
    d["calendars"][0]["rules"].append({"name": "Thứ Hai", "priority": 10, "program": "festival", "weekdays": ["mon"]})


def _schema(d: dict[str, Any]) -> None:
    d["programs"][0]["steps"][0]["level_pct"] = "100"


MUTATIONS: dict[str, Mutation] = {
    "level_range": _level, "step_order": _order, "astro_never_fires": _never, "photocell_hysteresis": _hysteresis,
    "window_order": _window, "unknown_program": _unknown_program, "unknown_calendar": _unknown_calendar,
    "duplicate_id": _duplicate, "day_range": _range, "calendar_gap": _gap, "calendar_tie": _tie, "schema": _schema,
}  # fmt: skip


def test_every_error_rule_has_a_mutation() -> None:
    assert set(MUTATIONS) == set(ERROR_RULES)


@pytest.mark.parametrize("rule", sorted(MUTATIONS))
def test_each_mutation_is_refused_under_its_rule(rule: str) -> None:
    doc = example()
    MUTATIONS[rule](doc)
    report = check(doc)
    assert not report.ok
    assert rule in report.error_rules(), [(e.rule, e.message.en) for e in report.errors]
    for issue in report.errors:
        assert issue.message.vi and issue.message.en and issue.message.vi != issue.message.en
    named = [e for e in report.errors if e.rule == rule]
    assert all(e.path for e in named) or rule == "calendar_gap"


def test_step_order_names_the_first_summer_night() -> None:
    doc = example()
    _order(doc)
    issue = next(e for e in check(doc).errors if e.rule == "step_order")
    assert issue.path == "programs[0].steps[1]"
    assert issue.required.startswith("after step 1")  # type: ignore[union-attr]
    assert "2027-" in str(issue.found)          # not in December: sunset+10 is 17:25 then
    assert "step 2 (18:00" in issue.message.en and "bước 2" in issue.message.vi


def test_midsummer_in_reykjavik_has_no_civil_dusk_and_says_so() -> None:
    doc = example()
    _never(doc)
    issues = [e for e in check(doc).errors if e.rule == "astro_never_fires"]
    paths = {e.path for e in issues}
    assert "programs[3].steps[0]" in paths and "programs[3].steps[2]" in paths   # civil dusk / dawn
    assert "programs[0].steps[0]" not in paths   # sunset happens every night at 64° N
    assert all("2027-05" in str(e.found) or "2027-06" in str(e.found) for e in issues)


def test_tromso_polar_night_and_midnight_sun_refuse_sunset_steps() -> None:
    doc = example()
    doc["site"] = {"lat": 69.6492, "lon": 18.9553, "timezone": "Europe/Oslo"}
    issues = [e for e in check(doc).errors if e.rule == "astro_never_fires"]
    assert any(e.path == "programs[0].steps[0]" for e in issues)      # sunset+10: none in polar night
    first = next(e for e in issues if e.path == "programs[0].steps[0]")
    assert "2026-12" in str(first.found)


def test_gap_counts_the_uncovered_nights() -> None:
    doc = example()
    _gap(doc)
    issue = next(e for e in check(doc, nights=14).errors if e.rule == "calendar_gap")
    assert issue.found == "4 nights without a rule, first 2026-12-04"   # Fri 4, Sat 5, Fri 11, Sat 12


def test_tie_with_the_same_program_is_not_an_error() -> None:
    doc = example()
    doc["calendars"][0]["rules"].append({"name": "Thứ Hai", "priority": 10, "program": "standard",
                                         "weekdays": ["mon"]})
    report = check(doc)
    assert report.ok
    assert [w.rule for w in report.warnings] == ["rule_never_applies"]


def test_brief_step_and_ends_lit_are_warnings() -> None:
    doc = example()
    # A 100 % step at 06:00 before sunrise-10 (06:09 in December): nine minutes of full light before switch-off.
    doc["programs"][0]["steps"].insert(2, {"at": "06:00", "level_pct": 100})
    doc["programs"][0]["burn_window"] = None
    doc["programs"][1]["steps"].pop()            # weekend program never switches off
    report = check(doc, nights=7)
    assert report.ok
    assert {w.rule for w in report.warnings} == {"brief_step", "ends_lit"}


def test_schema_errors_name_the_path_and_stop_there() -> None:
    doc = example()
    doc["programs"][0]["steps"][0]["level_pct"] = "100"
    doc["site"]["timezone"] = "Asia/Hanoi_City"
    report = check(doc)
    assert {e.rule for e in report.errors} == {"schema"}
    assert {e.path for e in report.errors} >= {"programs[0].steps[0].level_pct", "site.timezone"}


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    doc = example()
    doc["programs"][0]["steps"][1]["level_pct"] = value
    assert "schema" in check(doc).error_rules()


def test_validation_of_a_year_is_fast() -> None:
    import time
    started = time.perf_counter()
    check(example())
    assert time.perf_counter() - started < 2.0
