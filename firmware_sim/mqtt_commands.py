"""Command intake of an MQTT-speaking device (topic contract v1 `cmd` → `cmd/res`), without I/O.

A payload is decoded with bounds (`bounded_json`: a hostile payload is dropped, never a crash) and checked against
the cmd JSON Schema (malformed with a usable id: answered `malformed`, not remembered). Then it must be signed by a
trusted key for this device (`command_auth`; else answered `unauthenticated` with the reason), unexpired, not
further ahead than `MAX_LIFETIME_S`, and new: a repeated id gets the latest stored answer of the first execution
(the last `RESULTS_KEPT`), an id seen before whose answer is no longer kept is refused `replayed` (ids are kept
until they expire, at most `SEEN_KEPT`). A refusal naming the id of an authentic command is not answered: a forgery
must not answer for the real command. Refusals are counted by reason (`refused`) and logged.

Time (topic contract v1, "Command time"): a command carrying `issued_at` is judged in the center's time, not by the
device's clock, which a simulator runs from any `--start` at any `--speed` (and a real RTC may have lost). The
center time is the newest `issued_at` of an authenticated command (`center_time`, only ever moving forward);
expiry and the 6 h bound are checked against `max(center_time, issued_at)`; ids are forgotten once their expiry
passes in center time, and a full id window raises `floor`: a command expiring at or before it is refused
`replayed`, so no forgotten id runs twice. `center_now()` and `device_time()` give the executing command's center
time and map a time of its arguments onto the device's clock. A command without `issued_at` is judged by the
device's clock, as before.

Restarts (`window`, a file in the simulator's state directory, `replay_file`): the ids still inside their expiry,
the center time and the floor are read back at power-up, so a restarted device refuses a command it accepted before
as `replayed` and does not judge time by an older center time. After `handle` changed them, `persist()` writes
them (in a worker thread); the MQTT session awaits it before it publishes any answer to the command.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from firmware_sim.bounded_json import JsonRefused, loads
from firmware_sim.clock import SimClock, parse_rfc3339, rfc3339
from firmware_sim.command_auth import CommandKeys
from firmware_sim.replay_file import ReplayFile, Window
from firmware_sim.schemas import SchemaError, check

log = logging.getLogger(__name__)

RESULTS_KEPT = 256
SEEN_KEPT = 4096
MAX_LIFETIME_S = 6 * 3600
Execute = Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]


class CommandBook:
    def __init__(self, device_id: str, clock: SimClock, site: str = "", keys: CommandKeys | None = None,
                 window: Path | None = None) -> None:
        self.device_id, self.clock, self.site, self.keys = device_id, clock, site, keys
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.seen: dict[str, datetime] = {}
        self._expiries: list[tuple[datetime, str]] = []
        self.refused: Counter[str] = Counter()
        self.center_time: datetime | None = None   # newest authenticated `issued_at`
        self.floor: datetime | None = None         # commands expiring at or before this are refused (ids forgotten)
        self._issued: datetime | None = None       # the executing command's center time
        self.replay_file = None if window is None else ReplayFile(window, device_id, SEEN_KEPT)
        self._version = self._saved = 0             # changes of the window in memory / written to the file
        if self.replay_file is not None:
            self._restore(self.replay_file.load())

    def _restore(self, window: Window) -> None:
        self.center_time, self.floor = window.center_time, window.floor
        for cmd_id, expires in window.seen.items():
            if self.center_time is None or expires > self.center_time:
                self.seen[cmd_id] = expires
                heapq.heappush(self._expiries, (expires, cmd_id))

    async def persist(self) -> None:
        """Write the window to its file when it changed since the last write (nothing without a file)."""
        if self.replay_file is None or self._version == self._saved:
            return
        version = self._version
        await self.replay_file.save(version, Window(self.center_time, self.floor, dict(self.seen)))
        self._saved = max(self._saved, version)

    def _refuse(self, cmd_id: str, reason: str, error: str, message: str) -> list[dict[str, Any]]:
        self.refused[reason] += 1
        log.warning("cmd_refused device=%s id=%s reason=%s message=%s", self.device_id, cmd_id or None, reason,
                    message[:300])
        if not 8 <= len(cmd_id) <= 64 or cmd_id in self.seen:
            return []
        return [self.result(cmd_id, False, error, f"{reason}: {message}"[:1024], remember=False)]

    def _remember(self, cmd_id: str, expires: datetime, now: datetime) -> None:
        while self._expiries and (self._expiries[0][0] <= now or len(self.seen) >= SEEN_KEPT):
            gone, old = heapq.heappop(self._expiries)
            self.seen.pop(old, None)
            if gone > now:      # forgotten while still valid: nothing expiring by then may run any more
                self.floor = gone if self.floor is None else max(self.floor, gone)
        self.seen[cmd_id] = expires
        heapq.heappush(self._expiries, (expires, cmd_id))
        self._version += 1

    def handle(self, payload: bytes, execute: Execute) -> list[dict[str, Any]]:
        """Answers to one `cmd` payload; `execute(id, name, args)` runs a new, authentic, unexpired command."""
        try:
            doc = loads(payload)
        except JsonRefused as exc:
            return self._refuse("", f"payload_{exc.reason}", "malformed", str(exc))
        raw_id = doc.get("id") if isinstance(doc, dict) else None
        cmd_id = raw_id if isinstance(raw_id, str) else ""
        try:
            check("cmd", doc)
        except SchemaError as exc:
            return self._refuse(cmd_id, "malformed", "malformed", str(exc))
        problem = ("unsigned", "no trusted command keys") if self.keys is None else \
            self.keys.check(doc, self.site, self.device_id)
        if problem is not None:
            return self._refuse(cmd_id, problem[0], "unauthenticated", problem[1])
        if cmd_id in self.results:
            return [self.results[cmd_id]]
        if cmd_id in self.seen:
            self.refused["replayed"] += 1
            log.warning("cmd_refused device=%s id=%s reason=replayed", self.device_id, cmd_id)
            return [self.result(cmd_id, False, "replayed", "this command id was already received", remember=False)]
        expires = parse_rfc3339(doc["expires_at"])
        now = self.clock.now()
        if "issued_at" in doc:
            # Authentic (signed): the center's clock moves forward by it, whatever this device's clock says.
            issued = parse_rfc3339(doc["issued_at"])
            if self.center_time is None or issued > self.center_time:
                self.center_time = issued
                self._version += 1
            now = self.center_time
        if self.floor is not None and expires <= self.floor:
            self.refused["replayed"] += 1
            log.warning("cmd_refused device=%s id=%s reason=replayed floor=%s", self.device_id, cmd_id,
                        rfc3339(self.floor))
            return [self.result(cmd_id, False, "replayed", "this command may have been received already",
                                remember=False)]
        if expires <= now:
            self.refused["expired"] += 1
            return [self.result(cmd_id, False, "expired", f"expired at {doc['expires_at']}")]
        if expires - now > timedelta(seconds=MAX_LIFETIME_S):
            return self._refuse(cmd_id, "expiry_too_far", "unauthenticated", f"expires_at {doc['expires_at']}")
        self._remember(cmd_id, expires, now)
        self._issued = now if "issued_at" in doc else None
        try:
            answers = execute(cmd_id, doc["name"], doc["args"])
        except ValueError as exc:
            return [self.result(cmd_id, False, "invalid_args", str(exc)[:1024])]
        finally:
            self._issued = None
        for answer in answers:
            if answer.get("id") == cmd_id and answer.get("final", True):
                self._keep(cmd_id, answer)
        return answers

    def center_now(self) -> datetime:
        """The executing command's time in the center's clock (the device's clock for a command without
        `issued_at`)."""
        return self._issued or self.clock.now()

    def device_time(self, center: datetime) -> datetime:
        """A time of the executing command's arguments (center clock) on this device's clock: as far ahead of the
        device's now as it is of the command's center time."""
        return self.clock.now() + (center - self.center_now())

    def _keep(self, cmd_id: str, res: dict[str, Any]) -> None:
        self.results[cmd_id] = res
        self.results.move_to_end(cmd_id)
        while len(self.results) > RESULTS_KEPT:
            self.results.popitem(last=False)

    def result(self, cmd_id: str, ok: bool, error: str | None, message: str | None, *,
               state: dict[str, Any] | None = None, final: bool = True, stage: str | None = None,
               remember: bool = True) -> dict[str, Any]:
        """A cmd/res payload; remembered under its id (a later answer to the same id replaces an earlier one)."""
        res: dict[str, Any] = {"id": cmd_id, "ok": ok, "ts": rfc3339(self.clock.now())}
        if error:
            res["error"] = error
        if message:
            res["message"] = message[:1024]
        if state is not None:
            res["state"] = state
        if not final:
            res["final"] = False
        if stage is not None:
            res["stage"] = stage
        if remember:
            self._keep(cmd_id, res)
        log.info("cmd device=%s id=%s ok=%s error=%s stage=%s", self.device_id, cmd_id, ok, error, stage)
        return res
