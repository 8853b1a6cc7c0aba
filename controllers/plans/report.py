"""What the validator answers: issues (rule, where, required, found, message in vi and en) and the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, JsonValue

ErrorRule = Literal[
    "schema", "unknown_phase", "yellow_min", "yellow_range", "red_clear_min", "red_clear_max",
    "ped_clear_min", "walk_min", "min_green", "max_lt_min", "split_min", "ring_sum", "barrier_align",
    "offset_range", "cycle_range", "same_ring_concurrency", "coord_phase_barrier", "schedule_ref",
]  # fmt: skip
"""Rule ids whose failure refuses a plan (the contract of issue 6)."""

WarningRule = Literal[
    "yellow_long", "cycle_short", "max_green_gt_split", "ped_split_short", "ped_actuated_no_ped",
    "day_plan_no_midnight", "unused_pattern", "unused_day_plan",
    "yellow_cap_clash", "red_clear_cap_clash", "ped_total_short", "dark_scheduled", "passage_zero",
    "max_green_free_long", "not_whole_seconds",
]  # fmt: skip
"""Rule ids of warnings: shown to the engineer, never a reason to refuse."""

ERROR_RULES: tuple[str, ...] = get_args(ErrorRule)
WARNING_RULES: tuple[str, ...] = get_args(WarningRule)


class Message(BaseModel):
    """One human sentence in Vietnamese and English."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vi: str
    en: str


class Issue(BaseModel):
    """One failed rule at one place of the plan.

    `path` is dotted with list indexes, e.g. `phases[2].yellow_s`, `patterns[0].splits_s.4` ("" is the whole
    plan). `required` and `found` are JSON values in the unit of the field at `path` (seconds for `_s`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str
    path: str
    required: JsonValue = None
    found: JsonValue = None
    message: Message


class ValidationReport(BaseModel):
    """All errors (the plan is refused when there is any) and all warnings (shown, allowed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    errors: list[Issue]
    warnings: list[Issue]

    @property
    def ok(self) -> bool:
        """True when the plan may be stored as deployable."""
        return not self.errors

    def error_rules(self) -> set[str]:
        """The distinct rule ids among the errors."""
        return {issue.rule for issue in self.errors}


def seconds(value: float) -> float:
    """Round a computed duration (s) for display: to the hundredth, as engineers read them."""
    return round(value, 2)


@dataclass
class Findings:
    """Collects issues while the rules run; rules never stop at the first failure."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def error(
        self, rule: ErrorRule, path: str, required: object, found: object, *, vi: str, en: str
    ) -> None:
        """Record a refusal."""
        self.errors.append(Issue(rule=rule, path=path, required=required, found=found, message=Message(vi=vi, en=en)))

    def warn(
        self, rule: WarningRule, path: str, required: object, found: object, *, vi: str, en: str
    ) -> None:
        """Record a warning."""
        self.warnings.append(
            Issue(rule=rule, path=path, required=required, found=found, message=Message(vi=vi, en=en))
        )

    def report(self) -> ValidationReport:
        """The report of everything collected."""
        return ValidationReport(errors=list(self.errors), warnings=list(self.warnings))
