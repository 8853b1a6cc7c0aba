"""A readable difference between two plans, for reviewing a new version before it is deployed.

Lists of numbered things are matched by their number, not their position (phase 2 is compared with phase 2
wherever it sits), so reordering phases shows no change and a path names what the engineer knows:
`phases[phase=2].yellow_s`, `patterns[pattern=1].splits_s.4`, `day_plans[day_plan=1].events[at=06:30].pattern`.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from controllers.plans.encoding import normalize_numbers
from controllers.plans.model import PlanV1

# The field that identifies an item of each list; other lists (rings, coord_phases) are compared whole.
_ITEM_KEYS = {"phases": "phase", "patterns": "pattern", "day_plans": "day_plan", "holidays": "date", "events": "at"}
_SHORT = 60  # longest value (characters of JSON) shown inside the one-line text


class Change(BaseModel):
    """One difference. `old` is None for an addition, `new` None for a removal; values in the plan's units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["added", "removed", "changed"]
    path: str
    old: JsonValue = None
    new: JsonValue = None
    text: str


def diff_plans(old: PlanV1, new: PlanV1) -> list[Change]:
    """Every difference from `old` to `new`, in the order of the plan's fields; empty when they are equal."""
    changes: list[Change] = []
    before = normalize_numbers(old.model_dump(mode="json", exclude_none=True))
    after = normalize_numbers(new.model_dump(mode="json", exclude_none=True))
    _walk("", None, before, after, changes)
    return changes


def _walk(path: str, field: str | None, a: Any, b: Any, out: list[Change]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else key
            _pair(sub, key, a.get(key), b.get(key), key in a, key in b, out)
        return
    keyed_a, keyed_b = _keyed(field, a), _keyed(field, b)
    if keyed_a is not None and keyed_b is not None and field is not None:
        name = _ITEM_KEYS[field]
        for ident in [*keyed_a, *(i for i in keyed_b if i not in keyed_a)]:
            sub = f"{path}[{name}={ident}]"
            _pair(sub, None, keyed_a.get(ident), keyed_b.get(ident), ident in keyed_a, ident in keyed_b, out)
        return
    out.append(Change(kind="changed", path=path, old=a, new=b, text=f"{path}: {_show(a)} → {_show(b)}"))


def _pair(path: str, field: str | None, a: Any, b: Any, in_a: bool, in_b: bool, out: list[Change]) -> None:
    if not in_b:
        out.append(Change(kind="removed", path=path, old=a, text=f"{path}: removed (was {_show(a)})"))
    elif not in_a:
        out.append(Change(kind="added", path=path, new=b, text=f"{path}: added {_show(b)}"))
    else:
        _walk(path, field, a, b, out)


def _keyed(field: str | None, value: Any) -> dict[str, Any] | None:
    """Items of a numbered list by their number, or None when the list is not one (or numbers repeat)."""
    if field not in _ITEM_KEYS or not isinstance(value, list):
        return None
    key = _ITEM_KEYS[field]
    if not all(isinstance(item, dict) and key in item for item in value):
        return None
    items = {str(item[key]): item for item in value}
    return items if len(items) == len(value) else None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
