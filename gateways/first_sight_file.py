"""`FirstSight` remembered across restarts: a retained poison message is logged once, not once per process start.

One hex fingerprint (BLAKE2b-128 of topic and payload) a line in `path`; the file is rewritten with the last
`max_entries` when it holds twice as many lines. A write that fails only costs a repeated log line, so it is logged
and otherwise ignored. Blocking I/O, but only on the first sight of a refused payload.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from controllers.bounded_json import FirstSight

log = logging.getLogger(__name__)


class FileFirstSight(FirstSight):
    def __init__(self, path: Path, max_entries: int = 4096) -> None:
        super().__init__(max_entries)
        self.path = path
        self._lines = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                for line in path.read_text(encoding="ascii", errors="replace").split():
                    try:
                        self.seen(bytes.fromhex(line))
                        self._lines += 1
                    except ValueError:
                        continue  # a line cut short by a crash
        except OSError as exc:
            log.warning("first_sight_unreadable path=%s error=%s", path, exc)

    def remember(self, key: bytes) -> None:
        try:
            if self._lines >= 2 * self.max_entries:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text("".join(k.hex() + "\n" for k in self._seen), encoding="ascii")
                os.replace(tmp, self.path)
                self._lines = len(self._seen)
            else:
                with self.path.open("a", encoding="ascii") as f:
                    f.write(key.hex() + "\n")
                self._lines += 1
        except OSError as exc:
            log.warning("first_sight_write_failed path=%s error=%s", self.path, exc)
