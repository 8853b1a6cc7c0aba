"""Commands from the bus for the devices a gateway owns: parse, refuse expired, execute at most once per id, answer.

A `cmd` payload is validated (contracts/mqtt/schemas/cmd.schema.json via `controllers.commands`); a malformed one is
answered `malformed` when its id can be read, else logged with the device and dropped. A repeated id is answered with
the stored result of its first execution (results kept for the last `remember` ids, in memory: a gateway restart
forgets them, and the API persists commands before sending, so it does not resend an answered id). An id still
executing is not started twice (its answer comes when it finishes).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError

from controllers.clock import Clock
from controllers.commands import (
    COMMANDS_BY_KIND,
    AnyCommand,
    CommandEnvelope,
    CommandResult,
    ErrorCode,
    parse_command,
)
from controllers.devices import DeviceKind
from gateways.modbus.commands import CommandFailed

log = logging.getLogger(__name__)

#: Executes a typed command on the device and returns the device's state afterwards. Raises CommandFailed.
Execute = Callable[[AnyCommand], Awaitable[dict[str, Any]]]
Answer = Callable[[dict[str, Any]], Awaitable[None]]
#: A long command outside the generic route (deploy_plan): publishes its own progress, returns its final answer.
LongExecute = Callable[[AnyCommand, CommandEnvelope], Awaitable[dict[str, Any]]]


class CommandLedger:
    """At-most-once bookkeeping: the ids in flight and the results of the last `remember` ids."""

    def __init__(self, remember: int = 10_000) -> None:
        self.remember = remember
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.in_flight: set[str] = set()

    def store(self, command_id: str, result: dict[str, Any]) -> None:
        self.results[command_id] = result
        self.results.move_to_end(command_id)
        while len(self.results) > self.remember:
            self.results.popitem(last=False)


async def handle_command(payload: bytes, *, device: str, kind: DeviceKind, clock: Clock, ledger: CommandLedger,
                         execute: Execute, answer: Answer,
                         long_commands: Mapping[str, LongExecute] | None = None) -> dict[str, Any] | None:
    """Handle one `cmd` payload for `device`; returns the answer sent (None when nothing could be answered).

    `long_commands`: commands this device runs beyond the generic route, by name (expiry and at-most-once apply)."""
    raw: Any = None
    try:
        raw = json.loads(payload)
        envelope = CommandEnvelope.model_validate(raw)
    except (ValueError, ValidationError) as exc:
        command_id = raw.get("id") if isinstance(raw, dict) else None
        reason = str(exc).replace("\n", " ")[:300]
        log.warning("command_malformed device=%s id=%s reason=%s", device, command_id, reason)
        if isinstance(command_id, str) and 8 <= len(command_id) <= 64:
            result = CommandResult(id=command_id, ok=False, error=ErrorCode.MALFORMED, message=reason[:1024],
                                   ts=clock.now()).to_payload()
            await answer(result)
            return result
        return None
    if envelope.id in ledger.results:
        log.info("command_repeated device=%s id=%s", device, envelope.id)
        await answer(ledger.results[envelope.id])
        return ledger.results[envelope.id]
    if envelope.id in ledger.in_flight:
        log.info("command_in_flight device=%s id=%s", device, envelope.id)
        return None
    ledger.in_flight.add(envelope.id)
    try:
        result = await _execute(envelope, device=device, kind=kind, clock=clock, execute=execute,
                                long_commands=long_commands or {})
        ledger.store(envelope.id, result)
    finally:
        ledger.in_flight.discard(envelope.id)
    await answer(result)
    return result


async def _execute(envelope: CommandEnvelope, *, device: str, kind: DeviceKind, clock: Clock,
                   execute: Execute, long_commands: Mapping[str, LongExecute]) -> dict[str, Any]:
    def failed(code: ErrorCode, message: str) -> dict[str, Any]:
        log.warning("command_failed device=%s id=%s name=%s error=%s message=%s", device, envelope.id,
                    envelope.name, code.value, message)
        return CommandResult(id=envelope.id, ok=False, error=code, message=message[:1024],
                             ts=clock.now()).to_payload()

    if envelope.is_expired(clock.now()):
        return failed(ErrorCode.EXPIRED, f"expired at {envelope.expires_at.isoformat()}")
    run_long = long_commands.get(envelope.name)
    if envelope.name not in COMMANDS_BY_KIND[kind] and run_long is None:
        return failed(ErrorCode.UNKNOWN_COMMAND, f"{envelope.name} is not a {kind.value} command")
    try:
        command = parse_command(kind, envelope.name, envelope.args)
    except ValidationError as exc:
        return failed(ErrorCode.INVALID_ARGS, str(exc).replace("\n", " "))
    if run_long is not None:
        return await run_long(command, envelope)
    try:
        state = await execute(command)
    except CommandFailed as exc:
        return failed(exc.code, exc.message)
    log.info("command_done device=%s id=%s name=%s issued_by=%s", device, envelope.id, envelope.name,
             envelope.issued_by)
    return CommandResult(id=envelope.id, ok=True, ts=clock.now(), state=state).to_payload()
