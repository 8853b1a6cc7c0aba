"""Program rules: levels in range, steps firing in their listed order every night of the checked span, sun
events that happen at the site, photocell hysteresis, a burn window that opens before it closes."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

from controllers.lighting.evaluate import program_switches, step_times, trigger_time
from controllers.lighting.model import Program, Trigger
from controllers.lighting.report import Findings
from controllers.lighting.sun import SunTable

BRIEF_STEP_MIN = 10.0  # a level held for less than this is a flash a resident sees, not a dimming step


def check_program(program: Program, at: str, nights: list[dt.date], tz: ZoneInfo, sun: SunTable,
                  out: Findings) -> None:
    """Every program rule for `program` (found at path `at`) over `nights`."""
    _levels(program, at, out)
    _photocell(program, at, out)
    _never_fires(program, at, nights, tz, sun, out)
    _order(program, at, nights, tz, sun, out)
    _window(program, at, nights, tz, sun, out)
    _brief_and_lit(program, at, nights, tz, sun, out)


def _levels(program: Program, at: str, out: Findings) -> None:
    name = program.program
    for s, step in enumerate(program.steps):
        if not 0 <= step.level_pct <= 100:
            out.error("level_range", f"{at}.steps[{s}].level_pct", "0–100", step.level_pct,
                      vi=f"Chương trình {name}: bước {s + 1} có mức sáng {step.level_pct:g} %, phải trong 0–100 %",
                      en=f"program {name}: step {s + 1} has level {step.level_pct:g} %, must be 0–100 %")
    cell = program.photocell
    if cell is not None and not 0 <= cell.dark_level_pct <= 100:
        out.error("level_range", f"{at}.photocell.dark_level_pct", "0–100", cell.dark_level_pct,
                  vi=f"Chương trình {name}: mức sáng khi trời tối {cell.dark_level_pct:g} %, phải trong 0–100 %",
                  en=f"program {name}: photocell dark level {cell.dark_level_pct:g} %, must be 0–100 %")


def _photocell(program: Program, at: str, out: Findings) -> None:
    cell = program.photocell
    if cell is not None and cell.off_above_lux <= cell.on_below_lux:
        out.error("photocell_hysteresis", f"{at}.photocell.off_above_lux", f"> {cell.on_below_lux:g}",
                  cell.off_above_lux,
                  vi=f"Chương trình {program.program}: ngưỡng tắt {cell.off_above_lux:g} lx phải lớn hơn ngưỡng "
                     f"bật {cell.on_below_lux:g} lx, nếu không đèn sẽ bật tắt liên tục",
                  en=f"program {program.program}: switch-off threshold {cell.off_above_lux:g} lx must be above "
                     f"the switch-on threshold {cell.on_below_lux:g} lx, or the lamps chatter")


def _triggers(program: Program, at: str) -> list[tuple[str, Trigger]]:
    found: list[tuple[str, Trigger]] = [(f"{at}.steps[{s}]", step) for s, step in enumerate(program.steps)]
    window = program.burn_window
    if window is not None:
        if window.earliest_on is not None:
            found.append((f"{at}.burn_window.earliest_on", window.earliest_on))
        if window.latest_off is not None:
            found.append((f"{at}.burn_window.latest_off", window.latest_off))
    return found


def _never_fires(program: Program, at: str, nights: list[dt.date], tz: ZoneInfo, sun: SunTable,
                 out: Findings) -> None:
    """Report sun triggers without an event on some night."""
    for path, trigger in _triggers(program, at):
        if trigger.event is None:
            continue
        missing = [night for night in nights if trigger_time(trigger, night, tz, sun) is None]
        if missing:
            first = missing[0].isoformat()
            out.error("astro_never_fires", path, "an event every night", f"none on {len(missing)} nights from {first}",
                      vi=f"Chương trình {program.program}: '{trigger.describe()}' không xảy ra ở vĩ độ này trong "
                         f"{len(missing)} đêm (đầu tiên đêm {first}); dùng giờ cố định hoặc cảm biến ánh sáng",
                      en=f"program {program.program}: '{trigger.describe()}' never happens at this latitude on "
                         f"{len(missing)} nights (first the night of {first}); use a fixed time or the photocell")


def _order(program: Program, at: str, nights: list[dt.date], tz: ZoneInfo, sun: SunTable, out: Findings) -> None:
    """Steps fire in the order listed, each strictly after the one before, on every night."""
    reported: set[int] = set()
    for night in nights:
        times = step_times(program, night, tz, sun)
        previous: tuple[int, dt.datetime] | None = None
        for s, when in enumerate(times):
            if when is None:
                continue  # reported by astro_never_fires
            if previous is not None and when <= previous[1] and s not in reported:
                reported.add(s)
                p, before = previous
                local_now, local_before = when.astimezone(tz), before.astimezone(tz)
                step, prior = program.steps[s], program.steps[p]
                out.error("step_order", f"{at}.steps[{s}]", f"after step {p + 1} ({local_before:%H:%M})",
                          f"{local_now:%H:%M} on the night of {night.isoformat()}",
                          vi=f"Chương trình {program.program}: bước {s + 1} ({step.describe()}, {local_now:%H:%M}) "
                             f"trùng hoặc trước bước {p + 1} ({prior.describe()}, {local_before:%H:%M}) "
                             f"đêm {night.isoformat()}",
                          en=f"program {program.program}: step {s + 1} ({step.describe()}, {local_now:%H:%M}) "
                             f"overlaps or precedes step {p + 1} ({prior.describe()}, {local_before:%H:%M}) "
                             f"on the night of {night.isoformat()}")
            previous = (s, when)


def _window(program: Program, at: str, nights: list[dt.date], tz: ZoneInfo, sun: SunTable, out: Findings) -> None:
    window = program.burn_window
    if window is None or window.earliest_on is None or window.latest_off is None:
        return
    for night in nights:
        opens = trigger_time(window.earliest_on, night, tz, sun)
        closes = trigger_time(window.latest_off, night, tz, sun)
        if opens is not None and closes is not None and opens >= closes:
            out.error("window_order", f"{at}.burn_window", "earliest_on before latest_off",
                      f"{opens.astimezone(tz):%H:%M} ≥ {closes.astimezone(tz):%H:%M} on {night.isoformat()}",
                      vi=f"Chương trình {program.program}: khung giờ đốt đèn mở lúc {opens.astimezone(tz):%H:%M} "
                         f"sau khi đóng lúc {closes.astimezone(tz):%H:%M} (đêm {night.isoformat()})",
                      en=f"program {program.program}: the burn window opens at {opens.astimezone(tz):%H:%M}, "
                         f"after it closes at {closes.astimezone(tz):%H:%M} (night of {night.isoformat()})")
            return


def _brief_and_lit(program: Program, at: str, nights: list[dt.date], tz: ZoneInfo, sun: SunTable,
                   out: Findings) -> None:
    brief_found = False
    for night in nights:
        switches = program_switches(program, night, tz, sun)
        for first, second in itertools.pairwise(switches):
            minutes = (second.at - first.at).total_seconds() / 60
            if first.level_pct > 0 and minutes < BRIEF_STEP_MIN and not brief_found:
                brief_found = True
                out.warn("brief_step", at, f"≥ {BRIEF_STEP_MIN:g} min", f"{minutes:.1f} min on {night.isoformat()}",
                         vi=f"Chương trình {program.program}: mức {first.level_pct:g} % ({first.cause}) chỉ giữ "
                            f"{minutes:.1f} phút đêm {night.isoformat()}: người dân thấy đèn chớp",
                         en=f"program {program.program}: level {first.level_pct:g} % ({first.cause}) lasts only "
                            f"{minutes:.1f} min on the night of {night.isoformat()}: residents see a flash")
    if nights:
        last = program_switches(program, nights[0], tz, sun)
        if last and last[-1].level_pct > 0:
            out.warn("ends_lit", at, "ends at 0 %", last[-1].level_pct,
                     vi=f"Chương trình {program.program}: bước cuối để đèn sáng {last[-1].level_pct:g} % đến trưa",
                     en=f"program {program.program}: the last step leaves the lamps at {last[-1].level_pct:g} % "
                        "until noon")
