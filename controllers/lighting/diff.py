"""A readable difference between two lighting documents (`controllers.document_diff`), for reviewing a new version
before it is deployed. Named lists are matched by their identifier: `programs[program=night].steps`,
`calendars[calendar=city].rules[name=Tết].priority`, `circuits[circuit=2].calendar`. Steps are compared as a
whole list: their order is their meaning.
"""

from __future__ import annotations

from controllers.document_diff import Change, diff_documents
from controllers.lighting.model import LightingV1

__all__ = ["Change", "diff_lighting"]

ITEM_KEYS = {"programs": "program", "calendars": "calendar", "rules": "name", "circuits": "circuit"}


def diff_lighting(old: LightingV1, new: LightingV1) -> list[Change]:
    """Every difference from `old` to `new`, in the order of the document's fields; empty when equal."""
    return diff_documents(old, new, ITEM_KEYS)
