"""Commands from the bus for the devices a gateway owns: authenticate, refuse expired and replayed, execute at most
once per id, answer.

A `cmd` payload is decoded with bounds (`controllers.bounded_json`) and checked (`controllers.command_auth`): schema,
signature by a trusted key (`command_verify_keys`) over the envelope and this device's site and id, expiry. A refused
one is counted by reason (`CommandLedger.refused`), logged with the device, and answered on `cmd/res` (`malformed`,
`unauthenticated` with the reason in `message`, `expired`) when its id can be read, unless that id is an authentic
command this gateway knows: a forgery reusing a real id must not answer for it. A repeated id is answered with the
stored result of its first execution (the last `remember` results, in memory); an id in the replay window without
a stored result (the gateway restarted since) is refused `replayed`. An authentic id enters the replay window, on
disk, before the command runs. An id still executing is not started twice (its answer comes when it finishes).
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError

from controllers.bounded_json import FirstSight, PayloadRejected, decode
from controllers.clock import Clock
from controllers.command_auth import CommandRefused, SignatureCheck, check_command
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
from gateways.replay_window import ReplayWindow

log = logging.getLogger(__name__)

#: Executes a typed command on the device and returns the device's state afterwards. Raises CommandFailed.
Execute = Callable[[AnyCommand], Awaitable[dict[str, Any]]]
Answer = Callable[[dict[str, Any]], Awaitable[None]]
#: A long command outside the generic route (deploy_plan): publishes its own progress, returns its final answer.
LongExecute = Callable[[AnyCommand, CommandEnvelope], Awaitable[dict[str, Any]]]


class NoKeys:
    """Trusts no key: every command is refused (an executor given no `command_verify_keys`)."""

    def known(self, kid: str) -> bool:
        return False

    def verify(self, kid: str, signature: bytes, data: bytes) -> bool:
        return False


class CommandLedger:
    """At-most-once bookkeeping: the ids in flight, the results of the last `remember` ids, the replay window (shared
    by the devices of a gateway), and the refusals by reason."""

    def __init__(self, remember: int = 10_000, *, window: ReplayWindow | None = None,
                 first_sight: FirstSight | None = None) -> None:
        self.remember = remember
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.in_flight: set[str] = set()
        self.window = window if window is not None else ReplayWindow(None)
        self.refused: Counter[str] = Counter()
        # A poison command redelivered is logged once, counted every time.
        self.first_sight = first_sight if first_sight is not None else FirstSight()

    def knows(self, command_id: object) -> bool:
        """An authentic command with this id came here (running, answered, or in the replay window)."""
        return command_id in self.results or command_id in self.in_flight or command_id in self.window

    def store(self, command_id: str, result: dict[str, Any]) -> None:
        self.results[command_id] = result
        self.results.move_to_end(command_id)
        while len(self.results) > self.remember:
            self.results.popitem(last=False)


async def handle_command(payload: bytes, *, device: str, kind: DeviceKind, clock: Clock, ledger: CommandLedger,
                         execute: Execute, answer: Answer, site: str, keys: SignatureCheck,
                         long_commands: Mapping[str, LongExecute] | None = None) -> dict[str, Any] | None:
    """Handle one `cmd` payload for `device` of `site`; returns the answer sent (None when nothing was answered).

    `keys`: the trusted command keys. `long_commands`: commands this device runs beyond the generic route, by name
    (authentication, expiry and at-most-once apply). Raises BusError when the answer cannot be published."""
    raw: Any = None
    now = clock.now()
    try:
        raw = decode(payload)
        envelope = check_command(raw, site=site, device_id=device, now=now, keys=keys)
    except (PayloadRejected, CommandRefused) as exc:
        level = ledger.first_sight.level(device, payload)
        return await _refuse(exc, raw, device=device, clock=clock, ledger=ledger, answer=answer, level=level)
    if envelope.id in ledger.results:
        log.info("command_repeated device=%s id=%s", device, envelope.id)
        await answer(ledger.results[envelope.id])
        return ledger.results[envelope.id]
    if envelope.id in ledger.in_flight:
        log.info("command_in_flight device=%s id=%s", device, envelope.id)
        return None
    if envelope.id in ledger.window:
        refused = CommandRefused("replayed", ErrorCode.REPLAYED, "this command id was already received")
        return await _refuse(refused, raw, device=device, clock=clock, ledger=ledger, answer=answer, known=False)
    ledger.in_flight.add(envelope.id)
    try:
        try:
            # On disk before it runs: after a restart the same signed command is still refused.
            await ledger.window.add(envelope.id, envelope.expires_at, now)
        except OSError as exc:
            # Fail closed: a command whose replay cannot be prevented is not executed.
            log.error("replay_window_write_failed device=%s id=%s error=%s", device, envelope.id, exc)
            result = CommandResult(id=envelope.id, ok=False, error=ErrorCode.DEVICE_FAULT, ts=clock.now(),
                                   message=f"gateway cannot record the command id: {exc}"[:1024]).to_payload()
        else:
            result = await _execute(envelope, device=device, kind=kind, clock=clock, execute=execute,
                                    long_commands=long_commands or {})
            ledger.store(envelope.id, result)
    finally:
        ledger.in_flight.discard(envelope.id)
    await answer(result)
    return result


async def _refuse(exc: PayloadRejected | CommandRefused, raw: Any, *, device: str, clock: Clock, ledger: CommandLedger,
                  answer: Answer, known: bool | None = None, level: int = logging.WARNING) -> dict[str, Any] | None:
    """Count and log a refused command; answer it when its id can be read and is not an authentic command's."""
    if isinstance(exc, PayloadRejected):
        reason, code, message = f"payload_{exc.reason}", ErrorCode.MALFORMED, str(exc)
    else:
        reason, code, message = exc.reason, exc.code, str(exc)  # "reason: what"
    command_id = raw.get("id") if isinstance(raw, dict) else None
    ledger.refused[reason] += 1
    log.log(level, "command_refused device=%s id=%s reason=%s message=%s", device,
            command_id if isinstance(command_id, str) else None, reason, message[:300])
    if not isinstance(command_id, str) or not 8 <= len(command_id) <= 64:
        return None
    if (ledger.knows(command_id) if known is None else known):
        return None  # a forgery under a real command's id: that command's own answer stands
    result = CommandResult(id=command_id, ok=False, error=code, message=message[:1024], ts=clock.now()).to_payload()
    await answer(result)
    return result


async def _execute(envelope: CommandEnvelope, *, device: str, kind: DeviceKind, clock: Clock,
                   execute: Execute, long_commands: Mapping[str, LongExecute]) -> dict[str, Any]:
    def failed(code: ErrorCode, message: str) -> dict[str, Any]:
        log.warning("command_failed device=%s id=%s name=%s error=%s message=%s", device, envelope.id,
                    envelope.name, code.value, message)
        return CommandResult(id=envelope.id, ok=False, error=code, message=message[:1024],
                             ts=clock.now()).to_payload()

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
    log.info("command_done device=%s id=%s name=%s issued_by=%s kid=%s", device, envelope.id, envelope.name,
             envelope.issued_by, envelope.kid)
    return CommandResult(id=envelope.id, ok=True, ts=clock.now(), state=state).to_payload()
