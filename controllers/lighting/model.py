"""Street-lighting format v1 ("signalight.lighting/v1") as pydantic models: control programs, calendars, the
circuits they drive and the site whose sun they follow.

The field names are the wire contract of `contracts/lighting/lighting-v1.schema.json`; keep the two in step.

A program describes one *lighting night*: the night of local date D runs from 12:00 on D to 12:00 on D + 1. A
fixed step at 12:00–23:59 fires on D, one at 00:00–11:59 on D + 1; sunset and civil dusk are those of D, sunrise
and civil dawn those of D + 1. A calendar picks the program of the night of D by D, so "full brightness on the
evening of 2/9" is a rule for the date 2/9. The lamps are off from noon until the night's first step.

Like the timing-plan models these check *shape* only; every lighting rule (level range, step order through the
year, events that never happen at the site's latitude, calendar days no rule covers) is the validator's, so each
failure is reported under its own rule id.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from controllers.localtime import known_timezone

FORMAT_V1 = "signalight.lighting/v1"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DAY = re.compile(r"^([0-9]{4}-)?[0-9]{2}-[0-9]{2}$")

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
SunEvent = Literal["sunset", "sunrise", "civil_dusk", "civil_dawn"]
# Offsets beyond three hours are no longer "around" the event; a fixed time says it better.
OffsetMin = Annotated[float, Field(ge=-180, le=180)]
Lux = Annotated[float, Field(ge=0, le=200000)]


def _day_text(value: Any) -> Any:
    """A calendar day: `YYYY-MM-DD` (that date) or `MM-DD` (that day every year, e.g. 09-02 National Day)."""
    if not isinstance(value, str) or not _DAY.match(value):
        raise ValueError("a day is a string YYYY-MM-DD or MM-DD")
    text = value if len(value) == 10 else f"2000-{value}"  # 2000 is a leap year: 02-29 is a day
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a calendar day") from None
    return value


Day = Annotated[str, BeforeValidator(_day_text)]


class _Strict(BaseModel):
    # strict: "50" is not a number and 1 is not true, exactly as in the JSON Schema.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Trigger(_Strict):
    """When a step fires: a fixed local time `at` ("HH:MM"), or a sun `event` plus `offset_min` (+ later)."""

    at: str | None = None
    event: SunEvent | None = None
    offset_min: OffsetMin = 0.0

    @field_validator("at")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        if value is not None and not _HHMM.match(value):
            raise ValueError("at must be HH:MM on the 24-hour clock")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if (self.at is None) == (self.event is None):
            raise ValueError("a trigger has exactly one of `at` (fixed time) or `event` (sun event)")
        if self.at is not None and self.offset_min != 0:
            raise ValueError("offset_min goes with a sun event, not with a fixed time")
        return self

    def describe(self) -> str:
        """`23:00`, `sunset+10`, `sunrise-15`: how an engineer writes it."""
        if self.at is not None:
            return self.at
        if self.offset_min == 0:
            return str(self.event)
        return f"{self.event}{self.offset_min:+g}"


class Step(Trigger):
    """From its trigger until the next step, the circuit burns at `level_pct` (0 = off, 100 = full)."""

    level_pct: float


class Photocell(_Strict):
    """Photocell control: dark below `on_below_lux`, light again above `off_above_lux` (hysteresis), each
    change held for `delay_s` before it counts. While dark the lamps burn at the steps' level, or at
    `dark_level_pct` where the steps say off (an overcast afternoon); while light they are off."""

    on_below_lux: Lux
    off_above_lux: Lux
    delay_s: Annotated[float, Field(ge=0, le=3600)]
    dark_level_pct: float = 100.0


class BurnWindow(_Strict):
    """The lamps never burn before `earliest_on` nor after `latest_off` (either may be absent), whatever the
    steps or the photocell say: a guard against a dirty photocell lighting a street at noon."""

    earliest_on: Trigger | None = None
    latest_off: Trigger | None = None


class Program(_Strict):
    """A control program: steps in the order they fire through the night."""

    program: Ident
    name: Name
    steps: Annotated[list[Step], Field(min_length=1, max_length=24)]
    burn_window: BurnWindow | None = None
    photocell: Photocell | None = None


class Rule(_Strict):
    """A calendar rule: on the nights it matches, run `program`. It matches a night when every selector it has
    matches (weekdays, the date range `from_day`..`to_day` inclusive, one of `days`); no selector: every night.
    Of all matching rules the highest `priority` wins."""

    name: Name
    priority: Annotated[int, Field(ge=0, le=1000)]
    program: Ident
    weekdays: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None
    from_day: Day | None = None
    to_day: Day | None = None
    days: Annotated[list[Day], Field(min_length=1, max_length=366)] | None = None

    @model_validator(mode="after")
    def _range_pair(self) -> Rule:
        if (self.from_day is None) != (self.to_day is None):
            raise ValueError("from_day and to_day go together")
        if self.from_day is not None and self.to_day is not None and len(self.from_day) != len(self.to_day):
            raise ValueError("from_day and to_day are both YYYY-MM-DD or both MM-DD")
        return self


class Calendar(_Strict):
    """Rules choosing a program per night."""

    calendar: Ident
    name: Name
    rules: Annotated[list[Rule], Field(min_length=1, max_length=200)]


class CircuitAssignment(_Strict):
    """Circuit `circuit` (1-based, as on the cabinet's terminal strip) follows `calendar`."""

    circuit: Annotated[int, Field(ge=1, le=64)]
    calendar: Ident


class Site(_Strict):
    """Where the sun is computed: the cabinet's coordinates (WGS 84, degrees) and its IANA time zone."""

    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_timezone(value)


class LightingV1(_Strict):
    """A lighting document: programs, calendars, the circuit assignment and the site they are checked for."""

    format: Literal["signalight.lighting/v1"]
    name: Name
    site: Site
    programs: Annotated[list[Program], Field(min_length=1, max_length=64)]
    calendars: Annotated[list[Calendar], Field(min_length=1, max_length=16)]
    circuits: Annotated[list[CircuitAssignment], Field(max_length=64)] = Field(default_factory=list)

    def program(self, ident: str) -> Program | None:
        """The program called `ident`, or None."""
        return next((p for p in self.programs if p.program == ident), None)

    def calendar(self, ident: str) -> Calendar | None:
        """The calendar called `ident`, or None."""
        return next((c for c in self.calendars if c.calendar == ident), None)

    def calendar_of(self, circuit: int) -> Calendar | None:
        """The calendar circuit `circuit` follows, or None when it is not assigned (it stays off)."""
        ident = next((a.calendar for a in self.circuits if a.circuit == circuit), None)
        return None if ident is None else self.calendar(ident)
