"""The lighting validator's rule ids and its collector; issues and reports are the timing-plan validator's types,
so the API and the UI show both kinds of refusal the same way."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from controllers.plans.report import Issue, Message, ValidationReport

ErrorRule = Literal[
    "schema", "duplicate_id", "level_range", "step_order", "astro_never_fires", "photocell_hysteresis",
    "window_order", "unknown_program", "unknown_calendar", "day_range", "calendar_gap", "calendar_tie",
]  # fmt: skip
"""Rule ids whose failure refuses a lighting document: it is never stored as deployable nor sent."""

WarningRule = Literal["brief_step", "ends_lit", "unused_program", "rule_never_applies"]
"""Rule ids of warnings: shown to the engineer, never a reason to refuse."""

ERROR_RULES: tuple[str, ...] = get_args(ErrorRule)
WARNING_RULES: tuple[str, ...] = get_args(WarningRule)

__all__ = ["ERROR_RULES", "WARNING_RULES", "Findings", "Issue", "Message", "ValidationReport"]


@dataclass
class Findings:
    """Collects issues while the rules run; rules never stop at the first failure."""

    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    def error(self, rule: ErrorRule, path: str, required: object, found: object, *, vi: str, en: str) -> None:
        """Record a refusal."""
        self.errors.append(Issue(rule=rule, path=path, required=required, found=found, message=Message(vi=vi, en=en)))

    def warn(self, rule: WarningRule, path: str, required: object, found: object, *, vi: str, en: str) -> None:
        """Record a warning."""
        self.warnings.append(
            Issue(rule=rule, path=path, required=required, found=found, message=Message(vi=vi, en=en))
        )

    def report(self) -> ValidationReport:
        """The report of everything collected."""
        return ValidationReport(errors=list(self.errors), warnings=list(self.warnings))
