"""`validate_plan`: every rule of the plan format, every failure named at once.

Order of work: parse with the pydantic model; on a schema failure convert each pydantic error into a `schema`
issue and salvage the parts that parse on their own, so the timing rules still run on them. Rules that build
on the ring/barrier structure (barrier alignment, coordinated phases) are skipped while that structure is
itself refused: their findings would only repeat the structural error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from controllers.plans.config import DEFAULT_RULES, ValidatorConfig
from controllers.plans.model import PlanV1
from controllers.plans.parts import PlanParts, from_plan, salvage
from controllers.plans.report import Findings, ValidationReport
from controllers.plans.rules_operation import check_operation
from controllers.plans.rules_patterns import check_patterns
from controllers.plans.rules_phase import check_phases
from controllers.plans.rules_rings import check_coord_phases, check_structure, check_unknown_phases
from controllers.plans.rules_schedule import check_schedule
from controllers.plans.schema_messages import describe


def validate_plan(data: Mapping[str, Any] | PlanV1, rules: ValidatorConfig = DEFAULT_RULES) -> ValidationReport:
    """Check a plan (parsed JSON or a model) against every rule; never raises for a bad plan.

    Returns all errors (the plan must be refused when there is any) and all warnings. Durations in the issues
    are seconds, as in the plan.
    """
    out = Findings()
    if isinstance(data, PlanV1):
        parts = from_plan(data)
    else:
        try:
            parts = from_plan(PlanV1.model_validate(dict(data) if isinstance(data, Mapping) else data))
        except ValidationError as exc:
            _schema_issues(exc, out)
            if not isinstance(data, Mapping):
                return out.report()
            parts = salvage(data)
    _unique_numbers(parts, out)
    check_phases(parts.phases, rules, out)
    refs_clean = check_unknown_phases(parts, out)
    structure = check_structure(parts, rules, out) if refs_clean else None
    check_patterns(parts, structure, rules, out)
    if structure is not None:
        check_coord_phases(parts, structure, out)
    check_schedule(parts, out)
    check_operation(parts, rules, out)
    return out.report()


def dotted_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a path: ('phases', 2, 'yellow_s') -> 'phases[2].yellow_s'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # pydantic marks a bad dict key with this pseudo-location
            path += f".{part}" if path else part
    return path


def _schema_issues(exc: ValidationError, out: Findings) -> None:
    for err in exc.errors(include_url=False):
        path = dotted_path(err["loc"])
        required, found, en, vi = describe(err, path or "plan")
        out.error("schema", path, required, found, vi=vi, en=en)


def _unique_numbers(parts: PlanParts, out: Findings) -> None:
    """Phase, pattern and day plan numbers are unique: references to them must not be ambiguous."""
    listings = (
        ("phases", "phase", "pha", [(i, p.phase) for i, p in parts.phases]),
        ("patterns", "pattern", "mẫu", [(i, p.pattern) for i, p in parts.patterns]),
        ("day_plans", "day_plan", "kế hoạch ngày", [(i, d.day_plan) for i, d in parts.day_plans]),
    )
    for section, key, vi_word, numbered in listings:
        seen: set[int] = set()
        for index, number in numbered:
            if number in seen:
                out.error("schema", f"{section}[{index}].{key}", "unique", number,
                          vi=f"Số {vi_word} {number} bị trùng", en=f"{key} number {number} is used twice")
            seen.add(number)
