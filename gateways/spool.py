"""A disk spool of telemetry batches the store could not take: ordered, bounded in bytes, survives restarts.

Each batch is one file `{n:012d}.jsonl` (one sample a line) written to a temporary name, fsynced and renamed, so a
crash leaves either the whole batch or nothing. Batches are replayed oldest first. Overflow policy: when adding a
batch would pass `max_bytes`, the OLDEST batches are deleted (counted in `dropped_samples`, logged as an error):
operators need the recent picture most, and a bound is what keeps a dead store from filling the disk. All file I/O
runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from controllers.clock import from_rfc3339, to_rfc3339
from controllers.devices import DeviceKind
from controllers.telemetry import Sample

log = logging.getLogger(__name__)


def sample_to_json(s: Sample) -> str:
    ts = s.ts
    return json.dumps({"k": DeviceKind(s.kind).value, "s": s.site, "d": s.device, "t": to_rfc3339(ts),
                       "us": ts.microsecond % 1000, "q": s.seq, "v": s.values, "h": s.historical},
                      separators=(",", ":"))


def sample_from_json(text: str) -> Sample:
    o = json.loads(text)
    ts = from_rfc3339(o["t"])
    ts = ts.replace(microsecond=ts.microsecond + int(o.get("us", 0)))
    return Sample(kind=DeviceKind(o["k"]), site=o["s"], device=o["d"], ts=ts, seq=int(o["q"]),
                  values=o["v"], historical=bool(o["h"]))


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int = 1 << 30) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()
        self._files: list[tuple[int, int]] = sorted(
            (int(p.stem), p.stat().st_size) for p in self.directory.glob("*.jsonl") if p.stem.isdigit())
        self._next = (self._files[-1][0] + 1) if self._files else 0
        self.dropped_samples = 0
        self.changed = asyncio.Event()
        if self._files:
            self.changed.set()

    @property
    def batches(self) -> int:
        return len(self._files)

    @property
    def size_bytes(self) -> int:
        return sum(size for _, size in self._files)

    def _path(self, n: int) -> Path:
        return self.directory / f"{n:012d}.jsonl"

    async def append(self, samples: Sequence[Sample]) -> None:
        """Add a batch at the end. Raises OSError when the disk refuses it."""
        if not samples:
            return
        n = self._next
        self._next += 1
        data = ("\n".join(sample_to_json(s) for s in samples) + "\n").encode()
        while self._files and self.size_bytes + len(data) > self.max_bytes:
            oldest, _ = self._files.pop(0)
            lost = await asyncio.to_thread(self._drop, oldest)
            self.dropped_samples += lost
            log.error("spool_full_dropped_oldest batch=%d samples=%d max_bytes=%d", oldest, lost, self.max_bytes)
        await asyncio.to_thread(self._write, n, data)
        self._files.append((n, len(data)))
        self.changed.set()

    def _write(self, n: int, data: bytes) -> None:
        tmp = self._path(n).with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path(n))

    def _drop(self, n: int) -> int:
        path = self._path(n)
        count = path.read_bytes().count(b"\n")
        path.unlink(missing_ok=True)
        return count

    async def peek(self) -> tuple[int, list[Sample]] | None:
        """The oldest batch (its number and samples, marked historical), or None when empty."""
        if not self._files:
            return None
        n = self._files[0][0]
        text = await asyncio.to_thread(self._path(n).read_text, encoding="utf-8")
        samples = [sample_from_json(x) for x in text.splitlines() if x]
        return n, [Sample(s.kind, s.site, s.device, s.ts, s.seq, s.values, historical=True) for s in samples]

    async def remove(self, n: int) -> None:
        """Delete batch `n` once it is written to the store."""
        self._files = [(m, size) for m, size in self._files if m != n]
        await asyncio.to_thread(self._path(n).unlink, missing_ok=True)
        if not self._files:
            self.changed.clear()
