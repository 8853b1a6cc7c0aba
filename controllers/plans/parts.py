"""The parts of a plan the rules read, taken from a valid `PlanV1` or salvaged from a plan that is not.

Salvaging lets the validator name every failure at once: when one phase has a typo the other phases are
still checked for short yellows, and the patterns for ring sums. Each part keeps its index in the input so
that paths (`phases[2].yellow_s`) point at the place the engineer wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError

from controllers.plans.model import Barriers, DayPlan, Holiday, Pattern, Phase, PlanV1, Rings, Week

T = TypeVar("T")
_RINGS: TypeAdapter[list[list[int]]] = TypeAdapter(Rings)
_BARRIERS: TypeAdapter[list[list[int]]] = TypeAdapter(Barriers)


@dataclass(frozen=True)
class PlanParts:
    """Parsed parts with their input index. A None part failed to parse (and was reported as `schema`)."""

    phases: list[tuple[int, Phase]]
    phase_numbers: frozenset[int]  # declared, even by a phase whose other fields failed to parse
    rings: list[list[int]] | None
    barriers: list[list[int]] | None
    patterns: list[tuple[int, Pattern]]
    pattern_numbers: frozenset[int]
    day_plans: list[tuple[int, DayPlan]]
    day_plan_numbers: frozenset[int]
    week: Week | None
    holidays: list[tuple[int, Holiday]]

    def phase_map(self) -> dict[int, Phase]:
        """Phases by number; with duplicates (a `schema` error) the first one wins."""
        found: dict[int, Phase] = {}
        for _, phase in self.phases:
            found.setdefault(phase.phase, phase)
        return found

    def ring_of(self) -> dict[int, int]:
        """Ring index of each phase listed in a ring (first listing wins)."""
        found: dict[int, int] = {}
        for index, ring in enumerate(self.rings or []):
            for number in ring:
                found.setdefault(number, index)
        return found


def from_plan(plan: PlanV1) -> PlanParts:
    """All parts of a plan that passed the schema."""
    return PlanParts(
        phases=list(enumerate(plan.phases)),
        phase_numbers=frozenset(p.phase for p in plan.phases),
        rings=plan.rings,
        barriers=plan.barriers,
        patterns=list(enumerate(plan.patterns)),
        pattern_numbers=frozenset(p.pattern for p in plan.patterns),
        day_plans=list(enumerate(plan.day_plans)),
        day_plan_numbers=frozenset(d.day_plan for d in plan.day_plans),
        week=plan.week,
        holidays=list(enumerate(plan.holidays)),
    )


def salvage(data: Mapping[str, Any]) -> PlanParts:
    """The parts of a schema-invalid plan that parse on their own; the rest is left out."""
    return PlanParts(
        phases=_items(data.get("phases"), Phase.model_validate),
        phase_numbers=_numbers(data.get("phases"), "phase"),
        rings=_parse(data.get("rings"), _RINGS.validate_python),
        barriers=_parse(data.get("barriers"), _BARRIERS.validate_python),
        patterns=_items(data.get("patterns"), Pattern.model_validate),
        pattern_numbers=_numbers(data.get("patterns"), "pattern"),
        day_plans=_items(data.get("day_plans"), DayPlan.model_validate),
        day_plan_numbers=_numbers(data.get("day_plans"), "day_plan"),
        week=_parse(data.get("week"), Week.model_validate),
        holidays=_items(data.get("holidays"), Holiday.model_validate),
    )


def _parse(raw: Any, parse: Callable[[Any], T]) -> T | None:
    try:
        return parse(raw)
    except ValidationError:
        return None


def _items(raw: Any, parse: Callable[[Any], T]) -> list[tuple[int, T]]:
    if not isinstance(raw, list):
        return []
    parsed = ((index, _parse(item, parse)) for index, item in enumerate(raw))
    return [(index, item) for index, item in parsed if item is not None]


def _numbers(raw: Any, key: str) -> frozenset[int]:
    if not isinstance(raw, list):
        return frozenset()
    # bool is an int in Python but never a phase number in JSON; 2.0 is the integer 2 in JSON Schema.
    found: set[int] = set()
    for item in raw:
        value = item.get(key) if isinstance(item, Mapping) else None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            found.add(value)
    return frozenset(found)
