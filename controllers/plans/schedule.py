"""What a plan's time-of-day schedule says should run at a local time: pattern N, free, flash or dark.

Pure: the caller passes local wall-clock time (e.g. Asia/Ho_Chi_Minh). The day plan is the holiday's when the local
date is a holiday, else the weekday's; the action is that of the day plan's last event at or before the time. Before
the day's first event the previous day's last event is still in force (a controller carries it over midnight).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from controllers.plans.model import DayPlan, Event, PlanV1

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: How many earlier days are searched for an event in force (a day plan may have no event before noon, etc.).
_CARRY_DAYS = 7


class ScheduleError(ValueError):
    """A plan whose schedule names a day plan it does not have (the validator refuses such plans: schedule_ref)."""


@dataclass(frozen=True, slots=True)
class Scheduled:
    """What should run: `action` (free | flash | pattern | dark), `pattern` for action pattern, and where it comes
    from (`day_plan`, the event's `at` and the local `date` of that event)."""

    action: Literal["free", "flash", "pattern", "dark"]
    pattern: int | None
    day_plan: int
    at: str
    date: dt.date

    def describe(self) -> str:
        return f"pattern {self.pattern}" if self.action == "pattern" else self.action


def day_plan_for(plan: PlanV1, date: dt.date) -> DayPlan:
    """The day plan running on local `date`. Raises ScheduleError when the plan does not define it."""
    number = next((h.day_plan for h in plan.holidays if h.date == date), None)
    if number is None:
        number = getattr(plan.week, _WEEKDAYS[date.weekday()])
    found = next((d for d in plan.day_plans if d.day_plan == number), None)
    if found is None:
        raise ScheduleError(f"day plan {number} of {date.isoformat()} is not in plan {plan.name!r}")
    return found


def _minutes(at: str) -> int:
    hours, _, minutes = at.partition(":")
    return int(hours) * 60 + int(minutes)


def _last_event(day: DayPlan, before_min: int | None) -> Event | None:
    events = sorted(day.events, key=lambda e: _minutes(e.at))
    due = [e for e in events if before_min is None or _minutes(e.at) <= before_min]
    return due[-1] if due else None


def scheduled_at(plan: PlanV1, local: dt.datetime) -> Scheduled:
    """What `plan` runs at `local` time (naive or aware; its wall-clock fields are used). With no event in force
    in the last week (impossible for a validated plan with events), the controller runs free."""
    minute = local.hour * 60 + local.minute
    date = local.date()
    for back in range(_CARRY_DAYS + 1):
        day_date = date - dt.timedelta(days=back)
        day = day_plan_for(plan, day_date)
        event = _last_event(day, minute if back == 0 else None)
        if event is not None:
            pattern = event.pattern if event.action == "pattern" else None
            return Scheduled(event.action, pattern, day.day_plan, event.at, day_date)
    return Scheduled("free", None, day_plan_for(plan, date).day_plan, "00:00", date)
