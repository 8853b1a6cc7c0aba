"""What a lighting document says a circuit does: its switching times for a night and its level at an instant.

Pure: times are arguments, sun times come from a `SunTable`. All instants are aware datetimes; results are UTC.
A fixed step "HH:MM" is local wall-clock time in the site's zone. In a zone with daylight saving time a time that
does not exist that day (the spring gap) fires at the same offset from midnight as before the change (02:30 on
the last Sunday of March in Oslo fires at 03:30 CEST), and a time that occurs twice (the autumn fold) fires the
first time, as `zoneinfo` reads them with fold=0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from controllers.lighting.calendar import rule_for
from controllers.lighting.model import LightingV1, Program, Rule, Trigger
from controllers.lighting.sun import SunTable

NOON = dt.time(12, 0)


@dataclass(frozen=True, slots=True)
class Switch:
    """From `at` (UTC) the circuit burns at `level_pct` (0 = off); `cause` says which step or limit did it."""

    at: dt.datetime
    level_pct: float
    cause: str


@dataclass(frozen=True, slots=True)
class Night:
    """A circuit's night of local date `night`: the calendar rule and program chosen and its switches, in time
    order, each a change of level (consecutive equal levels merged). Before the first the circuit is off."""

    night: dt.date
    rule: str | None
    program: str | None
    switches: tuple[Switch, ...]

    def level_at(self, when: dt.datetime) -> float:
        """The scheduled level at `when` (inside this night)."""
        level = 0.0
        for switch in self.switches:
            if switch.at > when:
                break
            level = switch.level_pct
        return level


def night_of(local: dt.datetime) -> dt.date:
    """The lighting night a local wall-clock time belongs to: noon of D to noon of D + 1 is the night of D."""
    return local.date() if local.time() >= NOON else local.date() - dt.timedelta(days=1)


def trigger_time(trigger: Trigger, night: dt.date, tz: ZoneInfo, sun: SunTable) -> dt.datetime | None:
    """When `trigger` fires in the night of `night` (UTC), or None when its sun event does not happen."""
    if trigger.at is not None:
        hours, minutes = int(trigger.at[:2]), int(trigger.at[3:])
        clock = dt.time(hours, minutes)
        day = night if clock >= NOON else night + dt.timedelta(days=1)
        return dt.datetime.combine(day, clock, tzinfo=tz).astimezone(dt.UTC)
    assert trigger.event is not None  # the model guarantees one of `at` and `event`
    evening = trigger.event in ("sunset", "civil_dusk")
    event = sun.day(night if evening else night + dt.timedelta(days=1)).event(trigger.event)
    return None if event is None else event + dt.timedelta(minutes=trigger.offset_min)


def night_bounds(night: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """(start, end) of the night of `night` in UTC: local noon to the next local noon."""
    start = dt.datetime.combine(night, NOON, tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(night + dt.timedelta(days=1), NOON, tzinfo=tz).astimezone(dt.UTC)
    return start, end


def step_times(program: Program, night: dt.date, tz: ZoneInfo, sun: SunTable) -> list[dt.datetime | None]:
    """The firing time of each step of `program` in the night of `night`, in the program's order."""
    return [trigger_time(step, night, tz, sun) for step in program.steps]


def program_switches(program: Program, night: dt.date, tz: ZoneInfo, sun: SunTable) -> list[Switch]:
    """The changes of level `program` makes in the night of `night`: its steps (in time order; a step whose sun
    event does not happen is left out) clipped by its burn window."""
    start, end = night_bounds(night, tz)
    fired = sorted(
        (at, step.level_pct, f"step {i + 1} ({step.describe()})")
        for i, (step, at) in enumerate(zip(program.steps, step_times(program, night, tz, sun), strict=True))
        if at is not None
    )
    earliest, latest = start, end
    window = program.burn_window
    if window is not None and window.earliest_on is not None:
        earliest = trigger_time(window.earliest_on, night, tz, sun) or start
    if window is not None and window.latest_off is not None:
        latest = trigger_time(window.latest_off, night, tz, sun) or end
    # Breakpoints: the steps and the window's edges; the level just after each is the step level inside the
    # window and 0 outside it.
    points = [(at, cause) for at, _, cause in fired]
    if earliest > start:
        points.append((earliest, "burn window opens"))
    if latest < end:
        points.append((latest, "burn window closes"))
    points.sort(key=lambda p: p[0])
    switches: list[Switch] = []
    level = 0.0
    for at, cause in points:
        step_level = 0.0
        for fired_at, fired_level, _ in fired:
            if fired_at <= at:
                step_level = fired_level
        new = step_level if earliest <= at < latest else 0.0
        if new != level:
            switches.append(Switch(at=at, level_pct=new, cause=cause))
            level = new
    return switches


def circuit_night(doc: LightingV1, circuit: int, night: dt.date, sun: SunTable) -> Night:
    """The night of local date `night` for `circuit`: which rule and program run and when it switches.
    A circuit without a calendar, or a night no rule covers, stays off."""
    tz = ZoneInfo(doc.site.timezone)
    chosen = _chosen(doc, circuit, night)
    if chosen is None:
        return Night(night=night, rule=None, program=None, switches=())
    rule, program = chosen
    return Night(night=night, rule=rule.name, program=program.program,
                 switches=tuple(program_switches(program, night, tz, sun)))


def switching_times(doc: LightingV1, circuit: int, day: dt.date, sun: SunTable) -> list[Switch]:
    """The switches of `circuit` in the night that starts on local date `day` (evening of `day`, morning after)."""
    return list(circuit_night(doc, circuit, day, sun).switches)


def level_at(doc: LightingV1, circuit: int, when: dt.datetime, sun: SunTable, dark: bool | None = None) -> float:
    """The level (0–100 %, 0 = off) `circuit` should burn at instant `when` (aware).

    `dark` is the photocell's debounced verdict (see `photocell.PhotocellState`), None when there is no reading:
    then a program with a photocell runs on its steps alone, which is what a cabinet does when its cell fails.
    """
    if when.tzinfo is None:
        raise ValueError("when must be timezone-aware")
    tz = ZoneInfo(doc.site.timezone)
    night = night_of(when.astimezone(tz))
    chosen = _chosen(doc, circuit, night)
    if chosen is None:
        return 0.0
    _, program = chosen
    unclipped = program.model_copy(update={"burn_window": None})
    level = Night(night, None, None, tuple(program_switches(unclipped, night, tz, sun))).level_at(when)
    cell = program.photocell
    if cell is not None and dark is not None:
        level = (level if level > 0 else cell.dark_level_pct) if dark else 0.0
    window = program.burn_window
    if window is not None:
        start, end = night_bounds(night, tz)
        earliest = trigger_time(window.earliest_on, night, tz, sun) if window.earliest_on else None
        latest = trigger_time(window.latest_off, night, tz, sun) if window.latest_off else None
        if when < (earliest or start) or when >= (latest or end):
            level = 0.0
    return level


def _chosen(doc: LightingV1, circuit: int, night: dt.date) -> tuple[Rule, Program] | None:
    calendar = doc.calendar_of(circuit)
    if calendar is None:
        return None
    rule = rule_for(calendar, night)
    if rule is None:
        return None
    program = doc.program(rule.program)
    return None if program is None else (rule, program)
