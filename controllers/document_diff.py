"""A readable difference between two versions of a document (a timing plan, a lighting document), for reviewing
a new version before it is deployed.

Lists of identified things are matched by their identifier, not their position (`item_keys` names, per list field,
the field that identifies an item), so reordering them shows no change and a path names what the engineer knows:
`phases[phase=2].yellow_s`, `calendars[calendar=city].rules[name=Tết].priority`. Other lists are compared whole.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue

from controllers.transfer_encoding import normalize_numbers

_SHORT = 60  # longest value (characters of JSON) shown inside the one-line text


class Change(BaseModel):
    """One difference. `old` is None for an addition, `new` None for a removal; values in the document's units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["added", "removed", "changed"]
    path: str
    old: JsonValue = None
    new: JsonValue = None
    text: str


def diff_documents(old: BaseModel, new: BaseModel, item_keys: Mapping[str, str]) -> list[Change]:
    """Every difference from `old` to `new`, in the order of the document's fields; empty when they are equal."""
    changes: list[Change] = []
    before = normalize_numbers(old.model_dump(mode="json", exclude_none=True))
    after = normalize_numbers(new.model_dump(mode="json", exclude_none=True))
    _walk("", None, before, after, item_keys, changes)
    return changes


def _walk(path: str, field: str | None, a: Any, b: Any, keys: Mapping[str, str], out: list[Change]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else key
            _pair(sub, key, a.get(key), b.get(key), key in a, key in b, keys, out)
        return
    keyed_a, keyed_b = _keyed(field, a, keys), _keyed(field, b, keys)
    if keyed_a is not None and keyed_b is not None and field is not None:
        name = keys[field]
        for ident in [*keyed_a, *(i for i in keyed_b if i not in keyed_a)]:
            sub = f"{path}[{name}={ident}]"
            _pair(sub, None, keyed_a.get(ident), keyed_b.get(ident), ident in keyed_a, ident in keyed_b, keys, out)
        return
    out.append(Change(kind="changed", path=path, old=a, new=b, text=f"{path}: {_show(a)} → {_show(b)}"))


def _pair(path: str, field: str | None, a: Any, b: Any, in_a: bool, in_b: bool, keys: Mapping[str, str],
          out: list[Change]) -> None:
    if not in_b:
        out.append(Change(kind="removed", path=path, old=a, text=f"{path}: removed (was {_show(a)})"))
    elif not in_a:
        out.append(Change(kind="added", path=path, new=b, text=f"{path}: added {_show(b)}"))
    else:
        _walk(path, field, a, b, keys, out)


def _keyed(field: str | None, value: Any, keys: Mapping[str, str]) -> dict[str, Any] | None:
    """Items of an identified list by their identifier, or None when the list is not one (or identifiers repeat)."""
    if field is None or field not in keys or not isinstance(value, list):
        return None
    key = keys[field]
    if not all(isinstance(item, dict) and key in item for item in value):
        return None
    items = {str(item[key]): item for item in value}
    return items if len(items) == len(value) else None


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
