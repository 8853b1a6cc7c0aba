"""A readable difference between two plans (`controllers.document_diff`), for reviewing a new version before it
is deployed. Numbered lists are matched by number: `phases[phase=2].yellow_s`, `patterns[pattern=1].splits_s.4`,
`day_plans[day_plan=1].events[at=06:30].pattern`.
"""

from __future__ import annotations

from controllers.document_diff import Change, diff_documents
from controllers.plans.model import PlanV1

__all__ = ["Change", "diff_plans"]

# The field that identifies an item of each list; other lists (rings, coord_phases) are compared whole.
ITEM_KEYS = {"phases": "phase", "patterns": "pattern", "day_plans": "day_plan", "holidays": "date", "events": "at"}


def diff_plans(old: PlanV1, new: PlanV1) -> list[Change]:
    """Every difference from `old` to `new`, in the order of the plan's fields; empty when they are equal."""
    return diff_documents(old, new, ITEM_KEYS)
