"""The replay window of a command executor: the ids of authentic commands, each kept until it expires, on disk.

A signed command stays valid until its `expires_at`; whoever recorded it off the bus could send it again until
then. The window refuses an id it holds. It is written before the command runs (an fsynced line appended to
`path`), so a gateway restarted (even after SIGKILL) still refuses it. Bounded: expired ids are dropped as new ones
arrive; beyond `max_ids` live ids the one expiring soonest is dropped and counted (`evicted`). Only authentic
commands enter the window (they are checked first), so only the API's own rate can fill it: 100,000 ids is 27
commands a second for an hour. The file is rewritten with the live ids at start and when it holds more than twice
as many lines as live ids.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import os
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

MAX_IDS = 100_000


class ReplayWindow:
    def __init__(self, path: Path | None, *, max_ids: int = MAX_IDS) -> None:
        self.path = path
        self.max_ids = max_ids
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lines = 0
        self._io = asyncio.Lock()
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._expiry

    def load(self, now: datetime) -> None:
        """Read the ids still valid at `now` from `path` (a damaged line is skipped) and rewrite it compactly.
        Blocking: call once at start. Raises OSError when the folder cannot be written."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        skipped = 0
        if self.path.exists():
            with self.path.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                        self._remember(str(entry["id"]), float(entry["expires"]), now.timestamp())
                    except (ValueError, KeyError, TypeError):
                        skipped += 1  # a line cut short by a crash mid-write
        self._rewrite()
        log.info("replay_window_loaded path=%s ids=%d skipped=%d", self.path, len(self._expiry), skipped)

    def _remember(self, command_id: str, expires: float, now: float) -> None:
        while self._heap and (self._heap[0][0] <= now or len(self._expiry) >= self.max_ids):
            expiry, old = heapq.heappop(self._heap)
            if self._expiry.get(old) == expiry:
                del self._expiry[old]
                if expiry > now:
                    self.evicted += 1
                    log.warning("replay_window_full evicted=%s max_ids=%d", old, self.max_ids)
        if expires > now and command_id not in self._expiry:
            self._expiry[command_id] = expires
            heapq.heappush(self._heap, (expires, command_id))

    async def add(self, command_id: str, expires_at: datetime, now: datetime) -> None:
        """Hold `command_id` until `expires_at`; on disk (fsynced) before this returns. Raises OSError."""
        self._remember(command_id, expires_at.timestamp(), now.timestamp())
        if self.path is None:
            return
        line = json.dumps({"id": command_id, "expires": expires_at.timestamp()}) + "\n"
        async with self._io:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        assert self.path is not None
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._lines += 1
        if self._lines > 2 * len(self._expiry) + 1000:
            self._rewrite()

    def _rewrite(self) -> None:
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for command_id, expires in self._expiry.items():
                f.write(json.dumps({"id": command_id, "expires": expires}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._lines = len(self._expiry)
