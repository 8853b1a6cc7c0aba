"""Commands to devices: persisted before they are published, results recorded, unanswered ones expired.

Lifecycle: pending → succeeded | failed | expired; the outcome is audited as `command.<name>.result` under the
user who issued it. A device refuses a command after `expires_at`; the sweeper waits
`command_result_grace_s` longer for a late cmd/res before marking it expired. A result arriving after that still
counts (the device did act), so an `expired` command can become succeeded or failed, never the reverse.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.command_signing import CommandSigner
from api.config import ApiSettings
from api.models import AuditEntry, Command, Device
from controllers.bus import BusError, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.command_auth import CanonicalError
from controllers.commands import AnyCommand, CommandEnvelope, CommandResult, CommandStatus, command_args
from controllers.topics import Suffix, topic

log = logging.getLogger(__name__)

#: Error code recorded when the command could not be handed to the broker.
NOT_SENT = "not_sent"


def command_json(cmd: Command) -> dict[str, Any]:
    return {
        "id": cmd.id, "device_id": cmd.device_id, "site": cmd.site, "name": cmd.name, "args": cmd.args,
        "status": cmd.status, "issued_by": cmd.issued_by, "created_at": to_rfc3339(cmd.created_at),
        "expires_at": to_rfc3339(cmd.expires_at),
        "finished_at": to_rfc3339(cmd.finished_at) if cmd.finished_at else None,
        "error": cmd.error, "message": cmd.message, "result": cmd.result,
    }


class CommandDispatcher:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: BusPort, clock: Clock,
                 settings: ApiSettings, *, signer: CommandSigner | None = None) -> None:
        self._sessions = sessions
        self._signer = signer or CommandSigner.generate()
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self.sent = 0
        self.results = 0
        self.expired = 0
        self.refused_results = 0

    async def issue(self, session: AsyncSession, device: Device, command: AnyCommand, *, issued_by: str,
                    source_addr: str | None, ttl_s: float | None = None,
                    idempotency_key: str | None = None,
                    before_commit: Callable[[Command], None] | None = None) -> Command:
        """Persist the command (committed), then publish it. When the bus refuses it, the command is marked failed
        with error `not_sent` and returned: the caller tells the user it was not sent. With an `idempotency_key`
        already used by `issued_by`, the insert fails (IntegrityError, nothing published): the caller returns the
        first command. `before_commit` sees the new command before that commit, so a row of the caller's that names
        it is committed with it, before any answer can come."""
        now = self._clock.now()
        row = Command(id=str(uuid.uuid4()), device_id=device.id, site=device.site, kind=device.kind,
                      name=command.name, args=command_args(command), issued_by=issued_by, source_addr=source_addr,
                      created_at=now, expires_at=now + timedelta(seconds=ttl_s or self._settings.command_ttl_s),
                      status=CommandStatus.PENDING.value, idempotency_key=idempotency_key)
        session.add(row)
        if before_commit is not None:
            before_commit(row)
        await session.commit()
        envelope = CommandEnvelope(id=row.id, name=row.name, args=row.args, issued_by=issued_by,
                                   expires_at=row.expires_at, issued_at=now)
        try:
            # Signed for this device only: executors verify it against the cmd topic's site and device id.
            payload = self._signer.sign(envelope.to_payload(), device.site, device.id)
            await self._bus.publish(topic(device.site, device.id, Suffix.CMD), payload, qos=1)
        except (BusError, CanonicalError) as exc:
            row.status, row.error, row.message, row.finished_at = (
                CommandStatus.FAILED.value, NOT_SENT, f"bus refused the command: {exc}", self._clock.now())
            await session.commit()
            log.error("command_not_sent device=%s command=%s error=%s", device.id, row.id, str(exc))
            return row
        self.sent += 1
        log.info("command_sent device=%s command=%s command_name=%s", device.id, row.id, row.name)
        return row

    async def record_result(self, device_id: str, result: CommandResult, site: str | None = None) -> Command | None:
        """Store a cmd/res; None when it is not the answer of a command pending on this device.

        Only a command sent to `device_id` (and `site`, when given) that has no final result yet (pending, or
        expired by our sweeper) takes it: a result naming an unknown id, another device's command or a finished one
        is ignored and logged (`command_result_refused`), so a forged cmd/res cannot finish a command."""
        async with self._sessions() as session:
            row = await session.get(Command, result.id)
        refusal = None
        if row is None:
            refusal = "unknown_command"
        elif row.device_id != device_id or (site is not None and row.site != site):
            refusal = "other_device"
        elif row.status not in (CommandStatus.PENDING, CommandStatus.EXPIRED):
            refusal = "already_final"
        if refusal is not None:
            self.refused_results += 1
            log.warning("command_result_refused device=%s site=%s command=%s reason=%s ok=%s", device_id, site,
                        result.id, refusal, result.ok)
            return None
        if not result.final:
            # A progress report of a long command (deploy_plan): the command stays pending until its final answer.
            log.info("command_progress device=%s command=%s stage=%s", device_id, result.id,
                     result.stage.value if result.stage else None)
            return None
        status = CommandStatus.SUCCEEDED if result.ok else CommandStatus.FAILED
        async with self._sessions() as session:
            row = (await session.execute(select(Command).where(
                Command.id == result.id, Command.device_id == device_id))).scalar_one_or_none()
            if row is None or row.status not in (CommandStatus.PENDING, CommandStatus.EXPIRED):
                log.info("command_result_ignored device=%s command=%s known=%s", device_id, result.id, row is not None)
                return None
            row.status = status.value
            row.error = result.error.value if result.error else None
            row.message = result.message
            row.result = result.state
            row.finished_at = self._clock.now()
            session.add(AuditEntry(ts=row.finished_at, actor=row.issued_by, source_addr=None,
                                   action=f"command.{row.name}.result", target=device_id, outcome=status.value,
                                   detail={"command_id": row.id, "error": row.error, "message": row.message}))
            await session.commit()
        self.results += 1
        log.info("command_result device=%s command=%s status=%s error=%s", device_id, result.id, status.value,
                 row.error)
        return row

    async def sweep_once(self) -> int:
        """Mark pending commands past `expires_at` + grace as expired; the number marked."""
        deadline: datetime = self._clock.now() - timedelta(seconds=self._settings.command_result_grace_s)
        async with self._sessions() as session:
            result = await session.execute(
                update(Command).where(Command.status == CommandStatus.PENDING.value, Command.expires_at <= deadline)
                .values(status=CommandStatus.EXPIRED.value, error="expired", finished_at=self._clock.now())
                .returning(Command.id, Command.device_id, Command.issued_by, Command.name))
            expired = result.all()
            for command_id, device_id, issued_by, name in expired:
                session.add(AuditEntry(ts=self._clock.now(), actor=issued_by, source_addr=None,
                                       action=f"command.{name}.result", target=device_id, outcome="expired",
                                       detail={"command_id": command_id}))
            await session.commit()
        for command_id, device_id, _, _ in expired:
            log.warning("command_expired device=%s command=%s", device_id, command_id)
        self.expired += len(expired)
        return len(expired)

    async def run_sweeper(self) -> None:
        """Forever: sweep every `sweep_interval_s` of the injected clock."""
        while True:
            await self._clock.sleep(self._settings.sweep_interval_s)
            await self.sweep_once()
