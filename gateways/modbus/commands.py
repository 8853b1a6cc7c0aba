"""Executing commands on a Modbus device: the command block in ONE FC16 write, then wait for the device's result.

The profile's `commands` say which points to write: a constant, `args.<name>`, `until - now` (whole seconds, at least
1) or `token`. The gateway picks a token (1..65535, never the one the device shows now), writes the block, and reads
`cmd_result_token`/`cmd_result_code` until the token comes back or `result_timeout_s` passes. Expiry and at-most-once
by id are handled above this, in `gateways.commands`. Errors are `CommandFailed` with a cmd/res error code.
"""

from __future__ import annotations

import asyncio
import math
import random
from datetime import datetime
from typing import Any

from controllers.clock import Clock
from controllers.commands import AnyCommand, ErrorCode
from gateways.modbus.codec import CodecError, encode
from gateways.modbus.link import ModbusError
from gateways.modbus.reader import DeviceReader

#: cmd_result_code labels (profile enum) to cmd/res error codes.
_RESULT_ERRORS = {
    "invalid_args": ErrorCode.INVALID_ARGS, "refused": ErrorCode.REFUSED, "busy": ErrorCode.BUSY,
    "device_fault": ErrorCode.DEVICE_FAULT, "unknown_command": ErrorCode.UNKNOWN_COMMAND,
}


class CommandFailed(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def command_block(reader: DeviceReader, command: AnyCommand, token: int, now: datetime) -> tuple[int, list[int]]:
    """(start address, registers) of the write for `command`. Raises CommandFailed (unknown_command, invalid_args)."""
    profile = reader.profile
    spec = profile.commands.get(command.name)
    if spec is None:
        raise CommandFailed(ErrorCode.UNKNOWN_COMMAND, f"profile {profile.profile} has no command {command.name}")
    args = command.model_dump()
    parts: list[tuple[int, list[int]]] = []
    for point_name, source in spec.writes.items():
        point = profile.point(point_name)
        value: Any
        if isinstance(source, int):
            value = source
        elif source == "token":
            value = token
        elif source == "until - now":
            until = args.get("until")
            if not isinstance(until, datetime):
                raise CommandFailed(ErrorCode.INVALID_ARGS, f"{command.name}: needs until")
            seconds = (until - now).total_seconds()
            if seconds <= 0:
                raise CommandFailed(ErrorCode.INVALID_ARGS, f"{command.name}: until {until.isoformat()} is past")
            value = max(1, math.ceil(seconds))
        elif source.startswith("args."):
            value = args.get(source[5:])
            if value is None:
                raise CommandFailed(ErrorCode.INVALID_ARGS, f"{command.name}: missing argument {source[5:]}")
        else:
            raise CommandFailed(ErrorCode.UNKNOWN_COMMAND, f"profile {profile.profile}: bad write source {source!r}")
        try:
            parts.append((point.address, encode(point, value, profile)))
        except CodecError as exc:
            raise CommandFailed(ErrorCode.INVALID_ARGS, str(exc)) from None
    parts.sort()
    start = parts[0][0]
    regs: list[int] = []
    for address, words in parts:
        if address != start + len(regs):
            raise CommandFailed(ErrorCode.UNKNOWN_COMMAND,
                                f"profile {profile.profile}: command {command.name} is not one contiguous block")
        regs.extend(words)
    return start, regs


class ModbusCommander:
    """Runs one command at a time on one device."""

    def __init__(self, reader: DeviceReader, clock: Clock, *, result_timeout_s: float = 5.0,
                 poll_interval_s: float = 0.05, rng: random.Random | None = None) -> None:
        self.reader = reader
        self.clock = clock
        self.result_timeout_s = result_timeout_s
        self.poll_interval_s = poll_interval_s
        self._token = (rng or random.Random()).randint(1, 65535)
        self.lock = asyncio.Lock()
        spec = reader.profile.command_result
        self._result_points = (spec.token, spec.code) if spec else None

    def _next_token(self, avoid: int | None) -> int:
        self._token = self._token % 65535 + 1
        if self._token == avoid:
            self._token = self._token % 65535 + 1
        return self._token

    async def execute(self, command: AnyCommand, now: datetime) -> None:
        """Write `command` and wait for the device's result. Raises CommandFailed."""
        if self._result_points is None:
            raise CommandFailed(ErrorCode.UNKNOWN_COMMAND, f"profile {self.reader.profile.profile} has no commands")
        token_point, code_point = self._result_points
        async with self.lock:
            try:
                shown = (await self.reader.read_points([token_point])).values.get(token_point)
                token = self._next_token(shown if isinstance(shown, int) else None)
                address, regs = command_block(self.reader, command, token, now)
                await self.reader.link.write_registers(address, regs, unit_id=self.reader.unit_id,
                                                       device=self.reader.entry.id)
            except ModbusError as exc:
                raise CommandFailed(ErrorCode.WRITE_FAILED, str(exc)) from None
            deadline = self.clock.monotonic() + self.result_timeout_s
            while True:
                try:
                    values = (await self.reader.read_points([token_point, code_point])).values
                except ModbusError as exc:
                    values = {}
                    last_error = str(exc)
                else:
                    last_error = ""
                if values.get(token_point) == token and values.get(code_point) not in (None, "pending"):
                    code = values[code_point]
                    if code == "ok":
                        return
                    raise CommandFailed(_RESULT_ERRORS.get(code, ErrorCode.DEVICE_FAULT),
                                        f"device {self.reader.entry.id} answered {code}")
                if self.clock.monotonic() >= deadline:
                    raise CommandFailed(ErrorCode.TIMEOUT, f"device {self.reader.entry.id}: no result within "
                                        f"{self.result_timeout_s} s {last_error}".strip())
                await self.clock.sleep(self.poll_interval_s)
