"""How deeply a JSON text nests, measured without parsing it: `json.loads` recurses per level and a few kilobytes of
`[[[[…` raise RecursionError, which no caller expects. Checking the depth first turns that into a clear 422.

Only the structural characters are looked at (a regular expression finds them, so a large flat body costs little);
brackets inside strings do not count.
"""

from __future__ import annotations

import re

_STRUCTURE = re.compile(rb'["\[\]{}\\]')


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """True when `data`, read as JSON, opens more than `limit` arrays/objects inside one another. Malformed text is
    measured as far as it goes (the parser will refuse it anyway)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    skip = -1
    for match in _STRUCTURE.finditer(data):
        pos = match.start()
        if pos == skip:
            continue  # the character after a backslash in a string
        char = data[pos]
        if in_string:
            if char == 0x5C:  # backslash
                skip = pos + 1
            elif char == 0x22:  # quote
                in_string = False
            continue
        if char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif char in (0x5D, 0x7D):
            depth -= 1
    return False
