"""Schedule rules: day plan events, week and holiday references (`schedule_ref`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from controllers.plans.model import DayPlan
from controllers.plans.parts import PlanParts
from controllers.plans.report import Findings

T = TypeVar("T")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def check_schedule(parts: PlanParts, out: Findings) -> None:
    """Events name existing patterns at valid, increasing times; week and holidays name existing day plans."""
    used_patterns: set[int] = set()
    for d, day in parts.day_plans:
        used_patterns |= _events(day, f"day_plans[{d}]", parts.pattern_numbers, out)
    used_days: set[int] = set()
    if parts.week is not None:
        for weekday, number in parts.week.model_dump().items():
            used_days.add(number)
            _day_ref(f"week.{weekday}", number, parts.day_plan_numbers, out)
    seen_dates: set[str] = set()
    for h, holiday in parts.holidays:
        used_days.add(holiday.day_plan)
        _day_ref(f"holidays[{h}].day_plan", holiday.day_plan, parts.day_plan_numbers, out)
        date = holiday.date.isoformat()
        if date in seen_dates:
            out.error("schedule_ref", f"holidays[{h}].date", "each date once", date,
                      vi=f"Ngày lễ {date} được khai báo hai lần", en=f"holiday {date} is listed twice")
        seen_dates.add(date)
    for k, pattern in _unused(parts.patterns, used_patterns, lambda p: p.pattern):
        out.warn("unused_pattern", f"patterns[{k}]", None, pattern,
                 vi=f"Mẫu {pattern} không được dùng trong kế hoạch ngày nào",
                 en=f"pattern {pattern} is not used by any day plan")
    for d, day_number in _unused(parts.day_plans, used_days, lambda p: p.day_plan):
        out.warn("unused_day_plan", f"day_plans[{d}]", None, day_number,
                 vi=f"Kế hoạch ngày {day_number} không được dùng trong tuần hay ngày lễ nào",
                 en=f"day plan {day_number} is not used by the week or any holiday")


def _events(day: DayPlan, at: str, patterns: frozenset[int], out: Findings) -> set[int]:
    used: set[int] = set()
    previous: str | None = None
    for e, event in enumerate(day.events):
        path = f"{at}.events[{e}]"
        if not _HHMM.match(event.at):
            out.error("schedule_ref", f"{path}.at", "HH:MM, 00:00–23:59", event.at,
                      vi=f"Kế hoạch ngày {day.day_plan}: giờ '{event.at}' không hợp lệ (HH:MM)",
                      en=f"day plan {day.day_plan}: time '{event.at}' is not a valid HH:MM")
        elif previous is not None and event.at <= previous:
            # Zero-padded HH:MM strings sort like the times they name.
            out.error("schedule_ref", f"{path}.at", f"after {previous}", event.at,
                      vi=f"Kế hoạch ngày {day.day_plan}: sự kiện lúc {event.at} phải sau {previous}",
                      en=f"day plan {day.day_plan}: event at {event.at} must come after {previous}")
        if _HHMM.match(event.at):
            previous = event.at
        if event.action == "pattern":
            if event.pattern is None or event.pattern not in patterns:
                out.error("schedule_ref", f"{path}.pattern", sorted(patterns), event.pattern,
                          vi=f"Kế hoạch ngày {day.day_plan}: lúc {event.at} dùng mẫu {event.pattern} không tồn tại",
                          en=f"day plan {day.day_plan}: event at {event.at} names pattern {event.pattern}, "
                             "which does not exist")
            else:
                used.add(event.pattern)
        if event.action == "dark":
            # All lamps off at a live junction: drivers must treat it as an all-way stop and many will not
            # see it at all. Flash is the fail-safe choice; dark is for a junction out of service.
            out.warn("dark_scheduled", f"{path}.action", "flash", "dark",
                     vi=f"Kế hoạch ngày {day.day_plan}: lúc {event.at} tắt đèn hoàn toàn; nút không đèn dễ bị "
                        "bỏ qua, nên dùng nhấp nháy (flash) trừ khi nút ngừng hoạt động",
                     en=f"day plan {day.day_plan}: at {event.at} the signal is scheduled dark; a dark junction is "
                        "easily missed, prefer flash unless the junction is out of service")
        if event.action != "pattern" and event.pattern is not None:
            out.error("schedule_ref", f"{path}.pattern", None, event.pattern,
                      vi=f"Kế hoạch ngày {day.day_plan}: hành động '{event.action}' không nhận mẫu",
                      en=f"day plan {day.day_plan}: action '{event.action}' takes no pattern")
    if day.events and day.events[0].at != "00:00":
        out.warn("day_plan_no_midnight", f"{at}.events[0].at", "00:00", day.events[0].at,
                 vi=f"Kế hoạch ngày {day.day_plan} không bắt đầu lúc 00:00: trước "
                    f"{day.events[0].at} vẫn chạy sự kiện cuối của ngày hôm trước",
                 en=f"day plan {day.day_plan} does not start at 00:00: until {day.events[0].at} "
                    "the previous day's last event keeps running")
    return used


def _day_ref(path: str, number: int, known: frozenset[int], out: Findings) -> None:
    if number not in known:
        out.error("schedule_ref", path, sorted(known), number,
                  vi=f"Kế hoạch ngày {number} không tồn tại", en=f"day plan {number} does not exist")


def _unused(
    items: list[tuple[int, T]], used: set[int], number_of: Callable[[T], int]
) -> list[tuple[int, int]]:
    """(index, number) of the items whose number nothing refers to."""
    return [(index, number_of(item)) for index, item in items if number_of(item) not in used]
