"""Which calendar rules match a night, and which one wins (the highest priority; the first listed on a tie,
which the validator refuses where the tied rules pick different programs)."""

from __future__ import annotations

import datetime as dt

from controllers.lighting.model import WEEKDAYS, Calendar, Rule


def _as_date(text: str, year: int) -> dt.date | None:
    """A rule's day in `year` (a yearly MM-DD), or its own date; None for 02-29 in a common year."""
    if len(text) == 10:
        return dt.date.fromisoformat(text)
    try:
        return dt.date(year, int(text[:2]), int(text[3:]))
    except ValueError:
        return None


def _in_range(rule: Rule, night: dt.date) -> bool:
    if rule.from_day is None or rule.to_day is None:
        return True
    if len(rule.from_day) == 10:
        return dt.date.fromisoformat(rule.from_day) <= night <= dt.date.fromisoformat(rule.to_day)
    key = night.strftime("%m-%d")
    if rule.from_day <= rule.to_day:
        return rule.from_day <= key <= rule.to_day
    return key >= rule.from_day or key <= rule.to_day  # a yearly range across New Year: 12-20 .. 01-05


def matches(rule: Rule, night: dt.date) -> bool:
    """True when every selector of `rule` accepts the night of local date `night`."""
    if rule.weekdays is not None and WEEKDAYS[night.weekday()] not in rule.weekdays:
        return False
    if not _in_range(rule, night):
        return False
    return rule.days is None or night in {_as_date(day, night.year) for day in rule.days}


def matching_rules(calendar: Calendar, night: dt.date) -> list[Rule]:
    """The rules matching `night`, highest priority first (listing order among equals)."""
    found = [rule for rule in calendar.rules if matches(rule, night)]
    return sorted(found, key=lambda rule: -rule.priority)


def rule_for(calendar: Calendar, night: dt.date) -> Rule | None:
    """The rule that decides the night of `night`, or None when no rule covers it."""
    found = matching_rules(calendar, night)
    return found[0] if found else None
