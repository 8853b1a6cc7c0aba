"""`validate_plan`: every rule of the plan format, every failure named at once.

Order of work: parse with the pydantic model; on a schema failure convert each pydantic error into a `schema`
issue and salvage the parts that parse on their own, so the timing rules still run on them. Rules that build
on the ring/barrier structure (barrier alignment, coordinated phases) are skipped while that structure is
itself refused: their findings would only repeat the structural error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue, ValidationError

from controllers.plans.config import DEFAULT_RULES, ValidatorConfig
from controllers.plans.model import PlanV1
from controllers.plans.parts import PlanParts, from_plan, salvage
from controllers.plans.report import Findings, ValidationReport
from controllers.plans.rules_patterns import check_patterns
from controllers.plans.rules_phase import check_phases
from controllers.plans.rules_rings import check_coord_phases, check_structure, check_unknown_phases
from controllers.plans.rules_schedule import check_schedule

# Vietnamese for the pydantic error types a plan author meets; others fall back to a generic sentence.
_VI_SCHEMA = {
    "missing": "Thiếu trường bắt buộc",
    "extra_forbidden": "Trường không có trong định dạng kế hoạch",
    "literal_error": "Giá trị không nằm trong các giá trị cho phép",
    "string_pattern_mismatch": "Chuỗi không đúng định dạng",
    "greater_than": "Giá trị quá nhỏ",
    "greater_than_equal": "Giá trị quá nhỏ",
    "less_than": "Giá trị quá lớn",
    "less_than_equal": "Giá trị quá lớn",
    "too_short": "Quá ít phần tử",
    "too_long": "Quá nhiều phần tử",
    "value_error": "Giá trị không hợp lệ",
    "date_from_datetime_parsing": "Ngày không hợp lệ (YYYY-MM-DD)",
    "date_parsing": "Ngày không hợp lệ (YYYY-MM-DD)",
}
_JSON_TYPES = {
    "float_type": "number", "int_type": "integer", "string_type": "string", "bool_type": "boolean",
    "list_type": "array", "dict_type": "object", "model_type": "object", "date_type": "string YYYY-MM-DD",
}  # fmt: skip
_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


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
        path, kind = dotted_path(err["loc"]), err["type"]
        ctx = err.get("ctx") or {}
        required: JsonValue
        if kind == "missing":
            required, found = "present", None
        elif kind == "extra_forbidden":
            required, found = "absent", _json_scalar(err["input"])
        else:
            bounds = [f"{_BOUNDS[key]} {value}" for key, value in ctx.items() if key in _BOUNDS]
            expected = ctx.get("expected") or ctx.get("pattern") or _JSON_TYPES.get(kind, kind)
            required = ", ".join(bounds) or str(expected)
            found = _json_scalar(err["input"])
        vi = _VI_SCHEMA.get(kind) or ("Sai kiểu dữ liệu" if kind.endswith("_type") else "Sai cấu trúc kế hoạch")
        where = path or "plan"
        out.error("schema", path, required, found, vi=f"{where}: {vi}", en=f"{where}: {err['msg']}")


def _json_scalar(value: Any) -> JsonValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return type(value).__name__  # a whole object would drown the message; its type says what went wrong


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
