"""Timing plans as the controller firmware holds them (format "signalight.plan/v1", re-implemented here).

`parse_plan` reads the JSON document of the plan format and checks what the firmware needs to run it safely
(phases known, rings and barriers consistent, splits present, offsets inside the cycle); it raises `PlanError`
naming the field. All durations are seconds. `default_plan` is the plan a simulated controller starts with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ACTIONS = ("free", "flash", "pattern", "dark")


class PlanError(ValueError):
    """A plan the firmware refuses; the message names the field and the problem."""


@dataclass(frozen=True, slots=True)
class PhaseTiming:
    phase: int
    min_green_s: float
    max_green_s: float
    passage_s: float
    yellow_s: float
    red_clear_s: float
    walk_s: float | None = None
    ped_clear_s: float | None = None
    ped_actuated: bool = True


@dataclass(frozen=True, slots=True)
class Pattern:
    pattern: int
    cycle_s: float
    offset_s: float
    coord_phases: tuple[int, ...]
    splits_s: dict[int, float]


@dataclass(frozen=True, slots=True)
class DayEvent:
    at_min: int            # minutes after local midnight
    action: str
    pattern: int | None


@dataclass(frozen=True, slots=True)
class Plan:
    intersection_id: str
    phases: dict[int, PhaseTiming]
    rings: tuple[tuple[int, ...], ...]
    barriers: tuple[frozenset[int], ...]
    patterns: dict[int, Pattern]
    day_plans: dict[int, tuple[DayEvent, ...]]
    week: dict[str, int]
    holidays: dict[str, int] = field(default_factory=dict)   # "YYYY-MM-DD" -> day plan
    # phase -> ring index and barrier group index, looked up every tick
    _ring: dict[int, int] = field(init=False, repr=False, compare=False)
    _group: dict[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ring", {p: i for i, ring in reversed(list(enumerate(self.rings))) for p in ring})
        object.__setattr__(self, "_group", {p: i for i, group in reversed(list(enumerate(self.barriers)))
                                            for p in group})

    def ring_of(self, phase: int) -> int:
        """The ring `phase` is in (KeyError if none)."""
        return self._ring[phase]

    def group_of(self, phase: int) -> int:
        """The barrier group `phase` is in (KeyError if none)."""
        return self._group[phase]

    def conflicts(self, a: int, b: int) -> bool:
        """Phases `a` and `b` may not time together: same ring, or opposite sides of a barrier."""
        return a != b and (self.ring_of(a) == self.ring_of(b) or self.group_of(a) != self.group_of(b))


def _num(doc: dict[str, Any], key: str, where: str) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PlanError(f"{where}.{key}: expected a finite number >= 0, found {value!r}")
    return float(value)


def _int(value: Any, where: str) -> int:
    """An integer field (JSON integers only: no booleans, no floats, so no NaN or Infinity either)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{where}: expected an integer, found {value!r}")
    return value


def _phase(doc: dict[str, Any], where: str) -> PhaseTiming:
    number = doc.get("phase")
    if not isinstance(number, int) or not 1 <= number <= 16:
        raise PlanError(f"{where}.phase: expected 1..16, found {number!r}")
    walk = _num(doc, "walk_s", where) if doc.get("walk_s") is not None else None
    clear = _num(doc, "ped_clear_s", where) if doc.get("ped_clear_s") is not None else None
    if (walk is None) != (clear is None):
        raise PlanError(f"{where}: walk_s and ped_clear_s go together")
    timing = PhaseTiming(number, _num(doc, "min_green_s", where), _num(doc, "max_green_s", where),
                         _num(doc, "passage_s", where), _num(doc, "yellow_s", where), _num(doc, "red_clear_s", where),
                         walk, clear, bool(doc.get("ped_actuated", True)))
    if timing.yellow_s < 3.0:
        raise PlanError(f"{where}.yellow_s: a green must end with at least 3 s of yellow, found {timing.yellow_s}")
    if timing.min_green_s < 1.0 or timing.max_green_s < timing.min_green_s:
        raise PlanError(f"{where}: need 1 <= min_green_s <= max_green_s")
    return timing


def _pattern(doc: dict[str, Any], plan_phases: dict[int, PhaseTiming], where: str) -> Pattern:
    number = doc.get("pattern")
    if not isinstance(number, int) or not 1 <= number <= 253:
        raise PlanError(f"{where}.pattern: expected 1..253, found {number!r}")
    cycle, offset = _num(doc, "cycle_s", where), _num(doc, "offset_s", where)
    if not 30 <= cycle <= 255 or offset >= cycle:
        raise PlanError(f"{where}: need 30 <= cycle_s <= 255 and 0 <= offset_s < cycle_s")
    raw_splits = doc.get("splits_s") or {}
    if not isinstance(raw_splits, dict):
        raise PlanError(f"{where}.splits_s: expected an object of phase -> seconds, found {raw_splits!r}")
    splits: dict[int, float] = {}
    for k in raw_splits:
        if not str(k).isdigit():
            raise PlanError(f"{where}.splits_s: expected phase numbers as keys, found {k!r}")
        splits[int(k)] = _num(raw_splits, k, f"{where}.splits_s")
    for p in plan_phases:
        if p not in splits:
            raise PlanError(f"{where}.splits_s: no split for phase {p}")
    coord = tuple(_int(p, f"{where}.coord_phases[{i}]") for i, p in enumerate(doc.get("coord_phases") or ()))
    if not coord or any(p not in plan_phases for p in coord):
        raise PlanError(f"{where}.coord_phases: expected phases of the plan, found {list(coord)}")
    return Pattern(number, cycle, offset, coord, splits)


def _events(doc: dict[str, Any], where: str) -> tuple[DayEvent, ...]:
    events = []
    for i, raw in enumerate(doc.get("events") or []):
        at, action = str(raw.get("at", "")), raw.get("action")
        try:
            hh, mm = (int(x) for x in at.split(":"))
        except ValueError as exc:
            raise PlanError(f"{where}.events[{i}].at: expected HH:MM, found {at!r}") from exc
        if action not in ACTIONS or not (0 <= hh < 24 and 0 <= mm < 60):
            raise PlanError(f"{where}.events[{i}]: bad time {at!r} or action {action!r}")
        events.append(DayEvent(hh * 60 + mm, action, raw.get("pattern")))
    return tuple(sorted(events, key=lambda e: e.at_min))


def group_lengths_s(pat: Pattern, rings: tuple[tuple[int, ...], ...],
                    barriers: tuple[frozenset[int], ...]) -> list[float]:
    """Length of each barrier group in the cycle: the splits of a ring that has phases in it (a ring with none
    there, as at a T-junction, rests in red while the others time the group)."""
    return [max((sum(pat.splits_s[p] for p in ring if p in group) for ring in rings), default=0.0)
            for group in barriers]


def _check_rings(pat: Pattern, rings: tuple[tuple[int, ...], ...], barriers: tuple[frozenset[int], ...]) -> None:
    """The barrier groups fill the cycle and all rings that time a group reach its barrier together (else phases
    would time across a barrier: the firmware will not run such a pattern)."""
    for g, group in enumerate(barriers):
        sums = {round(sum(pat.splits_s[p] for p in ring if p in group), 2) for ring in rings
                if any(p in group for p in ring)}
        if len(sums) > 1:
            raise PlanError(f"pattern {pat.pattern}: rings reach barrier {g + 1} at different times {sorted(sums)}")
    total = sum(group_lengths_s(pat, rings, barriers))
    if abs(total - pat.cycle_s) > 0.05:
        raise PlanError(f"pattern {pat.pattern}: the barrier groups sum to {total} s, cycle is {pat.cycle_s} s")


def parse_plan(doc: dict[str, Any]) -> Plan:
    """A runnable plan from a plan-v1 JSON document. Raises PlanError naming the first problem found."""
    if doc.get("format") != "signalight.plan/v1":
        raise PlanError(f"format: expected 'signalight.plan/v1', found {doc.get('format')!r}")
    phases = {t.phase: t for t in (_phase(p, f"phases[{i}]") for i, p in enumerate(doc.get("phases") or []))}
    if not phases:
        raise PlanError("phases: at least one phase is needed")
    rings = tuple(tuple(_int(p, f"rings[{i}][{j}]") for j, p in enumerate(ring))
                  for i, ring in enumerate(doc.get("rings") or []))
    barriers = tuple(frozenset(_int(p, f"barriers[{i}][{j}]") for j, p in enumerate(group))
                     for i, group in enumerate(doc.get("barriers") or []))
    in_rings = [p for ring in rings for p in ring]
    if sorted(in_rings) != sorted(phases) or sorted(p for g in barriers for p in g) != sorted(phases):
        raise PlanError("rings/barriers: every phase must appear exactly once in the rings and in the barriers")
    patterns = {}
    for i, raw in enumerate(doc.get("patterns") or []):
        pat = _pattern(raw, phases, f"patterns[{i}]")
        patterns[pat.pattern] = pat
    for pat in patterns.values():
        _check_rings(pat, rings, barriers)
    day_plans = {_int(d.get("day_plan"), f"day_plans[{i}].day_plan"): _events(d, f"day_plans[{i}]")
                 for i, d in enumerate(doc.get("day_plans") or [])}
    week = {day: _int(dict(doc.get("week") or {}).get(day, 0), f"week.{day}") for day in WEEKDAYS}
    for day, number in week.items():
        if number not in day_plans:
            raise PlanError(f"week.{day}: day plan {number} is not defined")
    for number, events in day_plans.items():
        for event in events:
            if event.action == "pattern" and event.pattern not in patterns:
                raise PlanError(f"day_plans: day plan {number} uses undefined pattern {event.pattern}")
    holidays = {str(h["date"]): _int(h.get("day_plan"), f"holidays[{i}].day_plan")
                for i, h in enumerate(doc.get("holidays") or [])}
    return Plan(str(doc.get("intersection_id", "")), phases, rings, barriers, patterns, day_plans, week, holidays)


def default_plan_doc(intersection_id: str, offset_s: float = 0.0) -> dict[str, Any]:
    """A typical 8-phase plan: protected lefts 1/3/5/7, through movements with crosswalks 2/4/6/8.

    Day plan: pattern 2 (80 s) at night, pattern 1 (100 s) from 06:00, free from 22:00.
    """
    def ph(n: int, mn: float, mx: float, walk: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {"phase": n, "min_green_s": mn, "max_green_s": mx, "passage_s": 2.5,
                               "yellow_s": 4.0 if walk else 3.5, "red_clear_s": 2.0, "ped_actuated": n in (4, 8),
                               "approach_speed_kph": 50, "grade_pct": 0, "clearing_width_m": 20}
        if walk:
            doc.update(walk_s=7.0, ped_clear_s=15.0, crosswalk_m=16.0)
        return doc
    phases = [ph(1, 5, 20, False), ph(2, 15, 50, True), ph(3, 5, 15, False), ph(4, 8, 35, True),
              ph(5, 5, 20, False), ph(6, 15, 50, True), ph(7, 5, 15, False), ph(8, 8, 35, True)]
    # ring 1: 15 + 45 | 12 + 28 = 100 s; ring 2 the same, so both reach each barrier together.
    p1 = {"1": 15, "2": 45, "3": 12, "4": 28, "5": 15, "6": 45, "7": 12, "8": 28}
    # pattern 2: every split holds min green + yellow + red clearance (a left: 5 + 3.5 + 2 = 10.5 s), so the
    # center's validator accepts the plan the simulator ships with.
    p2 = {"1": 11, "2": 30, "3": 11, "4": 28, "5": 11, "6": 30, "7": 11, "8": 28}
    return {
        "format": "signalight.plan/v1", "intersection_id": intersection_id, "name": f"{intersection_id} default",
        "phases": phases, "rings": [[1, 2, 3, 4], [5, 6, 7, 8]], "barriers": [[1, 2, 5, 6], [3, 4, 7, 8]],
        "patterns": [
            {"pattern": 1, "cycle_s": 100, "offset_s": offset_s % 100, "coord_phases": [2, 6], "splits_s": p1},
            {"pattern": 2, "cycle_s": 80, "offset_s": offset_s % 80, "coord_phases": [2, 6], "splits_s": p2},
        ],
        "day_plans": [{"day_plan": 1, "events": [{"at": "00:00", "action": "pattern", "pattern": 2},
                                                 {"at": "06:00", "action": "pattern", "pattern": 1},
                                                 {"at": "22:00", "action": "free"}]}],
        "week": dict.fromkeys(WEEKDAYS, 1), "holidays": [],
    }
