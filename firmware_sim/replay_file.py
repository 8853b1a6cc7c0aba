"""A simulated device's replay window on its flash (the simulator's `--state-dir`), as a real controller keeps it
in non-volatile memory: the ids of the authentic commands it accepted that have not yet expired, its center time and
its floor (`mqtt_commands.CommandBook`). Without it a restarted device would forget them, and a command recorded off
the bus could be sent again while it is still valid.

One JSON file per device (`{device}.replay.json`, with a CRC-32 of its content), replaced whole: written to a temp
file and renamed over the old one, so a reader sees the old window or the new one, never half of one. Bounded: at
most `max_ids` ids (the book's `SEEN_KEPT`) and `MAX_FILE_BYTES`. A missing, unreadable or corrupt file is logged and
read as an empty window: the device refuses nothing valid because of it and starts. A failed write is logged; the
command it was written for still runs (the window in memory is intact). Not fsynced, like the cabinets' program
flash: it survives the simulator's process being killed, not the host losing power.

`save` runs the encoding and the write in a worker thread, so the event loop never waits on the disk; writes of
one file are ordered by a version number, an older window never replaces a newer one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from firmware_sim.clock import parse_rfc3339

log = logging.getLogger(__name__)

FORMAT = "signalight.sim-replay-window/v1"
MAX_FILE_BYTES = 1024 * 1024   # 4096 ids of ≤ 64 characters with their expiry are ~420 kB


@dataclass
class Window:
    center_time: datetime | None = None
    floor: datetime | None = None
    seen: dict[str, datetime] = field(default_factory=dict)


class WindowFileError(ValueError):
    """A replay window file that cannot be this device's window."""


def seal(body: dict[str, object]) -> bytes:
    """The file's bytes for `body`: with the CRC-32 of its canonical text, so a flipped bit (a center time
    years ahead would refuse every command) reads as a corrupt file, not as a window."""
    text = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return json.dumps({**body, "crc32": zlib.crc32(text.encode("utf-8"))}, separators=(",", ":")).encode("utf-8")


def encode(window: Window, device_id: str) -> bytes:
    return seal({"format": FORMAT, "device": device_id,
                 "center_time": None if window.center_time is None else window.center_time.isoformat(),
                 "floor": None if window.floor is None else window.floor.isoformat(),
                 "seen": {cmd_id: expires.isoformat() for cmd_id, expires in window.seen.items()}})


def _time(doc: dict[str, object], key: str) -> datetime | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WindowFileError(f"{key}: expected a timestamp or null, got {type(value).__name__}")
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise WindowFileError(f"{key}: {exc}") from None


def decode(raw: bytes, device_id: str, max_ids: int) -> Window:
    """The window in `raw`. Raises WindowFileError naming what is wrong."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WindowFileError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise WindowFileError(f"format: expected {FORMAT!r}")
    crc = doc.pop("crc32", None)
    if crc != zlib.crc32(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("utf-8")):
        raise WindowFileError("crc32: does not match the content")
    if doc.get("device") != device_id:
        raise WindowFileError(f"device: written by {str(doc.get('device'))[:70]!r}, this is {device_id!r}")
    seen_doc = doc.get("seen")
    if not isinstance(seen_doc, dict):
        raise WindowFileError("seen: expected an object {id: expires}")
    if len(seen_doc) > max_ids:
        raise WindowFileError(f"seen: {len(seen_doc)} ids, at most {max_ids}")
    seen: dict[str, datetime] = {}
    for cmd_id, expires in seen_doc.items():
        if not 8 <= len(cmd_id) <= 64 or not isinstance(expires, str):
            raise WindowFileError(f"seen.{cmd_id[:70]}: expected an id of 8..64 characters and a timestamp")
        try:
            seen[cmd_id] = parse_rfc3339(expires)
        except ValueError as exc:
            raise WindowFileError(f"seen.{cmd_id}: {exc}") from None
    return Window(_time(doc, "center_time"), _time(doc, "floor"), seen)


class ReplayFile:
    """The replay window file of one device."""

    def __init__(self, path: Path, device_id: str, max_ids: int) -> None:
        self.path, self.device_id, self.max_ids = path, device_id, max_ids
        self._lock = threading.Lock()
        self._written = 0           # version of the window on disk

    def load(self) -> Window:
        """The window on flash; an empty one (logged) when there is none or it cannot be read. Blocking (once, at
        power-up); never raises."""
        try:
            with self.path.open("rb") as f:
                raw = f.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            log.info("replay_window_empty device=%s path=%s reason=missing", self.device_id, self.path)
            return Window()
        except OSError as exc:
            log.warning("replay_window_unreadable device=%s path=%s error=%s", self.device_id, self.path, exc)
            return Window()
        try:
            if len(raw) > MAX_FILE_BYTES:
                raise WindowFileError(f"larger than {MAX_FILE_BYTES} bytes")
            window = decode(raw, self.device_id, self.max_ids)
        except WindowFileError as exc:
            log.warning("replay_window_unreadable device=%s path=%s error=%s", self.device_id, self.path,
                        str(exc)[:300])
            return Window()
        log.info("replay_window_loaded device=%s ids=%d center_time=%s", self.device_id, len(window.seen),
                 window.center_time)
        return window

    def write(self, version: int, window: Window) -> None:
        """Replace the file by `window` unless a newer version is already there. Blocking; logs a failure."""
        data = encode(window, self.device_id)
        with self._lock:
            if version <= self._written:
                return
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_bytes(data)
                os.replace(tmp, self.path)
            except OSError as exc:
                log.warning("replay_window_write_failed device=%s path=%s error=%s", self.device_id, self.path, exc)
                return
            self._written = version

    async def save(self, version: int, window: Window) -> None:
        """`write` in a worker thread: the event loop goes on while the disk works."""
        await asyncio.to_thread(self.write, version, window)
