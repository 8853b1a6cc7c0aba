"""The controller's local time-of-day schedule: holidays, then the week map, pick a day plan; the day plan's last
event at or before the local time says what runs. Before a day plan's first event, the previous day's last event
keeps running (contracts/plans/README.md). Pure."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from firmware_sim.plan import WEEKDAYS, DayEvent, Plan


def day_events(plan: Plan, day: date) -> tuple[DayEvent, ...]:
    """Events of the day plan that runs on local date `day`."""
    number = plan.holidays.get(day.isoformat())
    if number is None:
        number = plan.week[WEEKDAYS[day.weekday()]]
    return plan.day_plans[number]


def scheduled_action(plan: Plan, local: datetime) -> tuple[str, int | None]:
    """(action, pattern) at local wall time `local`; ("free", None) when no day plan has any event."""
    minute = local.hour * 60 + local.minute
    current = next((e for e in reversed(day_events(plan, local.date())) if e.at_min <= minute), None)
    day = local.date()
    for _ in range(7):        # look back over days whose plans are empty or start later
        if current is not None:
            break
        day -= timedelta(days=1)
        events = day_events(plan, day)
        current = events[-1] if events else None
    return ("free", None) if current is None else (current.action, current.pattern)
