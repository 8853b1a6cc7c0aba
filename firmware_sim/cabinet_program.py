"""The cabinet firmware's own reading of a lighting document (contracts/lighting, format v1): checks it, then says
what level each circuit burns at a given instant. Written from the contract, not from the center's code, so a
misreading on one side shows up as a disagreement in the HIL tests.

The night of local date D runs from 12:00 on D to 12:00 on D + 1; fixed times 12:00-23:59 are on D, 00:00-11:59
on D + 1; sunset and civil dusk are D's evening's, sunrise and civil dawn D + 1's morning's. Sun events are
computed at the cabinet's own coordinates (not the document's site, which is where the center checked it).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from astral import Observer
from astral.sun import dawn, dusk, sunrise, sunset

log = logging.getLogger(__name__)

FORMAT = "signalight.lighting/v1"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVENTS = {"sunset": sunset, "civil_dusk": dusk, "sunrise": sunrise, "civil_dawn": dawn}
NOON = time(12, 0)


class ProgramError(ValueError):
    """A lighting document this firmware refuses; the message names the field."""


def default_document(circuits: int, lat: float, lon: float, timezone_name: str) -> dict[str, Any]:
    """The factory program: on at sunset + 10 min, 50 % from 23:00, off at sunrise - 10 min, every night."""
    return {
        "format": FORMAT, "name": "factory default",
        "site": {"lat": lat, "lon": lon, "timezone": timezone_name},
        "programs": [{"program": "factory", "name": "factory default", "steps": [
            {"event": "sunset", "offset_min": 10, "level_pct": 100},
            {"at": "23:00", "level_pct": 50},
            {"event": "sunrise", "offset_min": -10, "level_pct": 0}]}],
        "calendars": [{"calendar": "factory", "name": "every night",
                       "rules": [{"name": "every night", "priority": 0, "program": "factory"}]}],
        "circuits": [{"circuit": n, "calendar": "factory"} for n in range(1, circuits + 1)],
    }


@dataclass(slots=True)
class Cell:
    """One program's photocell: thresholds (lux), delay (s), level while dark, and its debounced verdict."""

    on_below: float
    off_above: float
    delay_s: float
    dark_level: float
    dark: bool | None = None
    pending_since: datetime | None = None

    def observe(self, lux: float, now: datetime) -> None:
        if self.dark is None:
            self.dark = lux < self.on_below       # power-up: the first reading decides at once
            return
        crossing = lux > self.off_above if self.dark else lux < self.on_below
        if not crossing:
            self.pending_since = None
            return
        if self.pending_since is None:
            self.pending_since = now
        if (now - self.pending_since).total_seconds() >= self.delay_s:
            self.dark, self.pending_since = not self.dark, None


@dataclass
class CabinetProgram:
    """A checked lighting document running at (`lat`, `lon`)."""

    doc: dict[str, Any]
    lat: float
    lon: float
    tz: ZoneInfo = field(init=False)
    cells: dict[str, Cell] = field(init=False, default_factory=dict)
    _sun: dict[tuple[date, str], datetime | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.doc)
        try:
            self.tz = ZoneInfo(self.doc["site"]["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ProgramError(f"site.timezone: unknown zone {self.doc['site']['timezone']!r}") from exc
        for program in self.doc["programs"]:
            cell = program.get("photocell")
            if cell is not None:
                self.cells[program["program"]] = Cell(cell["on_below_lux"], cell["off_above_lux"], cell["delay_s"],
                                                      cell.get("dark_level_pct", 100))

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    def observe(self, lux: float, now: datetime) -> None:
        """A photocell reading (lux) at `now`: every program's cell takes it."""
        for cell in self.cells.values():
            cell.observe(lux, now)

    def level(self, circuit: int, now: datetime) -> float:
        """The level (0-100, 0 = off) the document gives `circuit` at `now` (aware)."""
        local = now.astimezone(self.tz)
        night = local.date() if local.time() >= NOON else local.date() - timedelta(days=1)
        program = self._program(circuit, night)
        if program is None:
            return 0.0
        level = 0.0
        for step in sorted(((self._when(s, night), s["level_pct"]) for s in program["steps"]),
                           key=lambda p: p[0] or datetime.max.replace(tzinfo=UTC)):
            if step[0] is not None and step[0] <= now:
                level = float(step[1])
        cell = self.cells.get(program["program"])
        if cell is not None and cell.dark is not None:
            level = (level if level > 0 else cell.dark_level) if cell.dark else 0.0
        window = program.get("burn_window") or {}
        opens = self._when(window["earliest_on"], night) if window.get("earliest_on") else None
        closes = self._when(window["latest_off"], night) if window.get("latest_off") else None
        if (opens is not None and now < opens) or (closes is not None and now >= closes):
            level = 0.0
        return level

    def _program(self, circuit: int, night: date) -> dict[str, Any] | None:
        calendar_id = next((a["calendar"] for a in self.doc.get("circuits", []) if a["circuit"] == circuit), None)
        calendar = next((c for c in self.doc["calendars"] if c["calendar"] == calendar_id), None)
        if calendar is None:
            return None
        best: dict[str, Any] | None = None
        for rule in calendar["rules"]:
            if _matches(rule, night) and (best is None or rule["priority"] > best["priority"]):
                best = rule
        if best is None:
            return None
        return next(p for p in self.doc["programs"] if p["program"] == best["program"])

    def _when(self, trigger: dict[str, Any], night: date) -> datetime | None:
        if "at" in trigger:
            clock = time(int(trigger["at"][:2]), int(trigger["at"][3:]))
            day = night if clock >= NOON else night + timedelta(days=1)
            return datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)
        event = self._event(trigger["event"], night)
        return None if event is None else event + timedelta(minutes=trigger.get("offset_min", 0))

    def _event(self, name: str, night: date) -> datetime | None:
        key = (night, name)
        if key not in self._sun:
            if len(self._sun) > 64:
                self._sun.clear()
            # In a zone 12 h behind the cabinet's, one local date is exactly one lighting night (noon to noon):
            # astral's "event on that date" is then the night's evening event and its next morning's.
            offset = datetime.combine(night, NOON, tzinfo=self.tz).utcoffset() or timedelta(0)
            shifted = timezone(offset - timedelta(hours=12))
            try:
                at = EVENTS[name](Observer(self.lat, self.lon), date=night, tzinfo=shifted)
                self._sun[key] = at.astimezone(UTC)
            except ValueError:
                self._sun[key] = None     # polar day or night: the step does not fire, the level holds
        return self._sun[key]


def _matches(rule: dict[str, Any], night: date) -> bool:
    if "weekdays" in rule and WEEKDAYS[night.weekday()] not in rule["weekdays"]:
        return False
    if "from_day" in rule:
        lo, hi = rule["from_day"], rule["to_day"]
        key = night.isoformat() if len(lo) == 10 else night.isoformat()[5:]
        inside = lo <= key <= hi if lo <= hi else (key >= lo or key <= hi)
        if not inside:
            return False
    if "days" in rule:
        return night.isoformat() in rule["days"] or night.isoformat()[5:] in rule["days"]
    return True


def _check(doc: Any) -> None:
    """Refuse what this firmware cannot run safely, naming the field; the center's validator is stricter."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ProgramError(f"format: expected {FORMAT!r}")
    for key in ("name", "site", "programs", "calendars"):
        if key not in doc:
            raise ProgramError(f"{key}: missing")
    ids = [p.get("program") for p in doc["programs"]]
    if len(set(ids)) != len(ids):
        raise ProgramError("programs: identifiers repeat")
    for p, program in enumerate(doc["programs"]):
        steps = program.get("steps")
        if not isinstance(steps, list) or not steps:
            raise ProgramError(f"programs[{p}].steps: at least one step")
        for s, step in enumerate(steps):
            level = step.get("level_pct")
            if not isinstance(level, int | float) or isinstance(level, bool) or not math.isfinite(level) \
                    or not 0 <= level <= 100:
                raise ProgramError(f"programs[{p}].steps[{s}].level_pct: 0..100, got {level!r}")
            _check_trigger(step, f"programs[{p}].steps[{s}]")
        for edge in ("earliest_on", "latest_off"):
            trigger = (program.get("burn_window") or {}).get(edge)
            if trigger is not None:
                _check_trigger(trigger, f"programs[{p}].burn_window.{edge}")
        cell = program.get("photocell")
        if cell is not None and not cell.get("off_above_lux", 0) > cell.get("on_below_lux", 0):
            raise ProgramError(f"programs[{p}].photocell: off_above_lux must exceed on_below_lux")
    calendars = {c.get("calendar") for c in doc["calendars"]}
    for c, calendar in enumerate(doc["calendars"]):
        for r, rule in enumerate(calendar.get("rules", [])):
            if rule.get("program") not in ids:
                raise ProgramError(f"calendars[{c}].rules[{r}].program: {rule.get('program')!r} is not a program")
    for a, assignment in enumerate(doc.get("circuits", [])):
        if assignment.get("calendar") not in calendars:
            raise ProgramError(f"circuits[{a}].calendar: {assignment.get('calendar')!r} is not a calendar")


def _check_trigger(trigger: dict[str, Any], where: str) -> None:
    if ("at" in trigger) == ("event" in trigger):
        raise ProgramError(f"{where}: exactly one of at or event")
    if "event" in trigger and trigger["event"] not in EVENTS:
        raise ProgramError(f"{where}.event: one of {sorted(EVENTS)}")
    if "at" in trigger:
        text = trigger["at"]
        if not (isinstance(text, str) and len(text) == 5 and text[2] == ":" and text[:2].isdigit()
                and text[3:].isdigit() and int(text[:2]) < 24 and int(text[3:]) < 60):
            raise ProgramError(f"{where}.at: HH:MM, got {text!r}")
