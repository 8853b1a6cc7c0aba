"""Timing plan format v1 ("signalight.plan/v1") as pydantic models.

The field names are the wire contract of `contracts/plans/plan-v1.schema.json`; keep the two in step.
Units are in the field names: `_s` seconds, `_kph` km/h, `_m` metres, `_pct` percent (grade, + uphill).

These models check *shape* only: types, required fields, no unknown fields, physically meaningless values
(negative durations, zero speed). Every traffic-engineering rule (yellow long enough, splits summing to the
cycle, ...) lives in the validator, so that a bad timing value is reported under its own rule id rather than
hidden behind a generic schema error.
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
from pydantic_core import PydanticCustomError

FORMAT_V1 = "signalight.plan/v1"
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _integral(value: Any) -> Any:
    """JSON Schema counts 2.0 as an integer (draft 2020-12: any number with a zero fractional part), so the
    model must too, or the schema and the model would judge the same document differently."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# NEMA TS 2 / NTCIP 1202 controllers number phases 1..16 (8 vehicle phases is the common case).
PhaseNumber = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=16)]
# NTCIP 1202 reserves pattern 254 for free and 255 for flash; the plan says those with an event action instead.
PatternNumber = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=253)]
DayPlanNumber = Annotated[int, BeforeValidator(_integral), Field(ge=1, le=255)]
Seconds = Annotated[float, Field(ge=0)]
SplitKey = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]?$")]
Ring = Annotated[list[PhaseNumber], Field(min_length=1, max_length=16)]
Rings = Annotated[list[Ring], Field(min_length=1, max_length=4)]
Barriers = Annotated[list[Ring], Field(min_length=1, max_length=16)]
Action = Literal["free", "flash", "pattern", "dark"]


def _iso_date_only(value: Any) -> Any:
    """Accept a date or an ISO `YYYY-MM-DD` string, never a number (lax pydantic would read a timestamp)."""
    # fullmatch: `$` would let a trailing newline through.
    if isinstance(value, dt.date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("date_text", "a date must be a string YYYY-MM-DD")


class _Strict(BaseModel):
    # strict: "4" is not a number and 1 is not true, exactly as in the JSON Schema.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class Phase(_Strict):
    """Timing and approach geometry of one phase.

    Pedestrian phases carry all of `walk_s`, `ped_clear_s` and `crosswalk_m`; vehicle-only phases none of them.
    `approach_speed_kph` is the 85th-percentile (or posted) approach speed used for the clearance intervals.
    """

    phase: PhaseNumber
    min_green_s: Seconds
    max_green_s: Seconds
    passage_s: Seconds
    yellow_s: Seconds
    red_clear_s: Seconds
    walk_s: Seconds | None = None
    ped_clear_s: Seconds | None = None
    ped_actuated: bool
    approach_speed_kph: Annotated[float, Field(gt=0, le=130)]
    grade_pct: Annotated[float, Field(ge=-20, le=20)]
    clearing_width_m: Annotated[float, Field(ge=0, le=200)]
    crosswalk_m: Annotated[float, Field(gt=0, le=200)] | None = None

    @field_validator("walk_s", "ped_clear_s", "crosswalk_m", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        # An optional field is left out, never null (the JSON Schema says number); a default is not validated.
        if value is None:
            raise PydanticCustomError("null_field", "leave an optional field out instead of writing null")
        return value

    @model_validator(mode="after")
    def _ped_fields_together(self) -> Phase:
        present = [self.walk_s is not None, self.ped_clear_s is not None, self.crosswalk_m is not None]
        if any(present) and not all(present):
            raise PydanticCustomError(
                "ped_fields", "walk_s, ped_clear_s and crosswalk_m go together: give all three or none"
            )
        return self

    @property
    def has_peds(self) -> bool:
        """True when the phase serves a pedestrian crossing."""
        return self.walk_s is not None


class Pattern(_Strict):
    """A coordination pattern: cycle length, offset (both s), coordinated phases, split per phase (s)."""

    pattern: PatternNumber
    cycle_s: float
    offset_s: float
    coord_phases: list[PhaseNumber]
    splits_s: dict[SplitKey, Seconds]

    def split_of(self, phase: int) -> float | None:
        """Split of `phase` in seconds, or None when the pattern gives it none."""
        return self.splits_s.get(str(phase))


class Event(_Strict):
    """At local time `at` ("HH:MM", 24 h) switch to `action`; `pattern` is given only with action "pattern"."""

    at: str
    action: Action
    pattern: PatternNumber | None = None

    @field_validator("pattern", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("null_field", "leave an optional field out instead of writing null")
        return value


class DayPlan(_Strict):
    """A day's time-of-day program: events in increasing time order."""

    day_plan: DayPlanNumber
    events: Annotated[list[Event], Field(min_length=1)]


class Week(_Strict):
    """Day plan number for each weekday."""

    mon: DayPlanNumber
    tue: DayPlanNumber
    wed: DayPlanNumber
    thu: DayPlanNumber
    fri: DayPlanNumber
    sat: DayPlanNumber
    sun: DayPlanNumber


class Holiday(_Strict):
    """A date (local calendar) that runs `day_plan` instead of its weekday's."""

    date: Annotated[dt.date, Field(strict=False), BeforeValidator(_iso_date_only)]
    day_plan: DayPlanNumber


class PlanV1(_Strict):
    """A complete timing plan for one intersection."""

    format: Literal["signalight.plan/v1"]
    intersection_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    phases: Annotated[list[Phase], Field(min_length=1, max_length=16)]
    rings: Rings
    barriers: Barriers
    patterns: list[Pattern]
    day_plans: Annotated[list[DayPlan], Field(min_length=1)]
    week: Week
    holidays: list[Holiday] = Field(default_factory=list)

    def phase(self, number: int) -> Phase | None:
        """The phase numbered `number`, or None."""
        return next((p for p in self.phases if p.phase == number), None)
