"""Command intake of an MQTT-speaking device (topic contract v1 `cmd` → `cmd/res`), without I/O.

A payload is checked against the cmd JSON Schema; a malformed one with a usable id is answered with error
"malformed" (not remembered), without one it is logged and dropped. An expired command is refused. A repeated id
gets the latest stored answer of the first execution and is not executed again (the last `RESULTS_KEPT` ids are
remembered: a device has little memory).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from firmware_sim.clock import SimClock, parse_rfc3339, rfc3339
from firmware_sim.schemas import SchemaError, check

log = logging.getLogger(__name__)

RESULTS_KEPT = 256
Execute = Callable[[str, str, dict[str, Any]], list[dict[str, Any]]]


class CommandBook:
    def __init__(self, device_id: str, clock: SimClock) -> None:
        self.device_id, self.clock = device_id, clock
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def handle(self, payload: bytes, execute: Execute) -> list[dict[str, Any]]:
        """Answers to one `cmd` payload; `execute(id, name, args)` runs a new, valid, unexpired command."""
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("cmd_dropped device=%s reason=not_json error=%s", self.device_id, exc)
            return []
        raw_id = doc.get("id") if isinstance(doc, dict) else None
        cmd_id = raw_id if isinstance(raw_id, str) else ""
        try:
            check("cmd", doc)
        except SchemaError as exc:
            if not 8 <= len(cmd_id) <= 64:
                log.warning("cmd_dropped device=%s reason=malformed error=%s", self.device_id, exc)
                return []
            return [self.result(cmd_id, False, "malformed", str(exc)[:1024], remember=False)]
        if cmd_id in self.results:
            return [self.results[cmd_id]]
        if parse_rfc3339(doc["expires_at"]) <= self.clock.now():
            return [self.result(cmd_id, False, "expired", f"expired at {doc['expires_at']}")]
        try:
            return execute(cmd_id, doc["name"], doc["args"])
        except ValueError as exc:
            return [self.result(cmd_id, False, "invalid_args", str(exc)[:1024])]

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
            self.results[cmd_id] = res
            self.results.move_to_end(cmd_id)
            while len(self.results) > RESULTS_KEPT:
                self.results.popitem(last=False)
        log.info("cmd device=%s id=%s ok=%s error=%s stage=%s", self.device_id, cmd_id, ok, error, stage)
        return res
