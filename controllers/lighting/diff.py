"""A readable difference between two lighting documents, for reviewing a new version before it is deployed.

Lists of named things are matched by their identifier, not their position: `programs[program=night].steps`,
`calendars[calendar=city].rules[name=Tết].priority`, `circuits[circuit=2].calendar`. Steps are compared as a
whole list: their order is their meaning.
"""

from __future__ import annotations

import json
from typing import Any

from controllers.lighting.model import LightingV1
from controllers.plans.diff import Change
from controllers.plans.encoding import normalize_numbers

_ITEM_KEYS = {"programs": "program", "calendars": "calendar", "rules": "name", "circuits": "circuit"}
_SHORT = 60


def diff_lighting(old: LightingV1, new: LightingV1) -> list[Change]:
    """Every difference from `old` to `new`, in the order of the document's fields; empty when equal."""
    changes: list[Change] = []
    _walk("", None, normalize_numbers(old.model_dump(mode="json", exclude_none=True)),
          normalize_numbers(new.model_dump(mode="json", exclude_none=True)), changes)
    return changes


def _walk(path: str, field: str | None, a: Any, b: Any, out: list[Change]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            _pair(f"{path}.{key}" if path else key, key, a.get(key), b.get(key), key in a, key in b, out)
        return
    keyed_a, keyed_b = _keyed(field, a), _keyed(field, b)
    if keyed_a is not None and keyed_b is not None and field is not None:
        name = _ITEM_KEYS[field]
        for ident in [*keyed_a, *(i for i in keyed_b if i not in keyed_a)]:
            _pair(f"{path}[{name}={ident}]", None, keyed_a.get(ident), keyed_b.get(ident), ident in keyed_a,
                  ident in keyed_b, out)
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
