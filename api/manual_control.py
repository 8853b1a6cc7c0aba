"""Manual control of an intersection with a backup timer: the center renews, the controller falls back by itself.

The operator asks for hold_pattern / flash / free until a time; the API never sends that time to the controller.
It sends the command with `until = now + backup_s` and renews it every `backup_s / 3` until the operator's `until`
(the last renewal is capped at it), then stops. If the center goes silent (API stopped, network cut), the
controller's backup timer ends within `backup_s` and it returns to its time-of-day schedule on its own. Release
sends `release` at once. Sessions are persisted: an API restart resumes renewing what is still due.

This module owns manual control: a `release` (or a one-off hold/flash/free) sent through the generic device-command
route ends the device's sessions here too (`end_for_device`), or the renewals would put the hold back seconds later.
A conflict flash is the conflict monitor's latch, not manual control: `release` cannot end it (`conflict_flash`), only
an engineer's `reset_conflict` once the cause is gone.

Leader assumption: one API process runs the renewal loop per database (the default single-process deployment).
Two renewing replicas are safe (a renewal only extends the same until) but send every renewal twice.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.config import ApiSettings
from api.dispatch import CommandDispatcher
from api.models import AuditEntry, ControlSession, Device
from controllers.clock import Clock, to_rfc3339
from controllers.commands import AnyCommand, CommandStatus, Flash, Free, HoldPattern, SignalRelease

log = logging.getLogger(__name__)

Action = Literal["hold_pattern", "flash", "free"]
ACTIVE, ENDED, RELEASED, SUPERSEDED = "active", "ended", "released", "superseded"


def session_json(row: ControlSession) -> dict[str, object]:
    return {"id": row.id, "intersection_id": row.intersection_id, "device_id": row.device_id, "action": row.action,
            "pattern": row.pattern, "until": to_rfc3339(row.until), "backup_s": row.backup_s, "status": row.status,
            "created_by": row.created_by, "created_at": to_rfc3339(row.created_at),
            "next_renew_at": to_rfc3339(row.next_renew_at),
            "last_sent_at": to_rfc3339(row.last_sent_at) if row.last_sent_at else None, "renewals": row.renewals,
            "ended_at": to_rfc3339(row.ended_at) if row.ended_at else None}


def conflict_flash(values: dict[str, Any] | None) -> bool:
    """Whether a controller's reported state is a conflict flash (the MMU's latch, which `release` cannot end)."""
    return values is not None and values.get("mode") == "flash" and values.get("flash_cause") == "conflict"


def backup_command(row: ControlSession, now: datetime) -> AnyCommand:
    """The command for one backup period from `now`: until `now + backup_s`, never past the operator's until."""
    until = min(now + timedelta(seconds=row.backup_s), row.until)
    if row.action == "hold_pattern":
        assert row.pattern is not None  # the route requires a pattern with hold_pattern
        return HoldPattern(pattern=row.pattern, until=until)
    if row.action == "flash":
        return Flash(until=until)
    return Free(until=until)


class ControlManager:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock, settings: ApiSettings,
                 dispatcher: CommandDispatcher) -> None:
        self._sessions = sessions
        self._clock = clock
        self._settings = settings
        self._dispatcher = dispatcher
        self.renewed = 0

    async def active(self, session: AsyncSession, intersection_id: str) -> ControlSession | None:
        return (await session.execute(select(ControlSession).where(
            ControlSession.intersection_id == intersection_id, ControlSession.status == ACTIVE).order_by(
            ControlSession.created_at.desc()).limit(1))).scalar_one_or_none()

    async def start(self, session: AsyncSession, intersection_id: str, device: Device, *, action: Action,
                    pattern: int | None, until: datetime, backup_s: float | None, user: str,
                    source_addr: str | None, reason: str | None = None) -> ControlSession:
        """Supersede any active session of the intersection, persist the new one and send its first backup
        period. The caller checked `until` (future, within control_max_s) and `pattern` (given for hold)."""
        now = self._clock.now()
        for old in (await session.execute(select(ControlSession).where(
                ControlSession.intersection_id == intersection_id, ControlSession.status == ACTIVE))).scalars():
            old.status, old.ended_at = SUPERSEDED, now
        row = ControlSession(id=str(uuid.uuid4()), intersection_id=intersection_id, device_id=device.id,
                             action=action, pattern=pattern if action == "hold_pattern" else None, until=until,
                             backup_s=backup_s or self._settings.control_backup_s, status=ACTIVE, created_by=user,
                             source_addr=source_addr, created_at=now, next_renew_at=now, renewals=0)
        session.add(row)
        session.add(AuditEntry(ts=now, actor=user, source_addr=source_addr, action=f"control.{action}",
                               target=intersection_id, outcome="started",
                               detail={"session_id": row.id, "device": device.id, "pattern": row.pattern,
                                       "until": to_rfc3339(until), "backup_s": row.backup_s, "reason": reason}))
        await session.commit()
        await self._send(session, row, device, now)
        return row

    async def release(self, session: AsyncSession, intersection_id: str, device: Device, *, user: str,
                      source_addr: str | None, reason: str | None = None) -> ControlSession | None:
        """End the active session (if any) and send `release`; the released session or None."""
        now = self._clock.now()
        row = await self.active(session, intersection_id)
        if row is not None:
            row.status, row.ended_at = RELEASED, now
        session.add(AuditEntry(ts=now, actor=user, source_addr=source_addr, action="control.release",
                               target=intersection_id, outcome="ok",
                               detail={"session_id": row.id if row else None, "device": device.id,
                                       "reason": reason}))
        await session.commit()
        await self._dispatcher.issue(session, device, SignalRelease(), issued_by=user, source_addr=source_addr)
        log.info("control_released intersection=%s device=%s user=%s", intersection_id, device.id, user)
        return row

    async def end_for_device(self, session: AsyncSession, device_id: str, *, released: bool, user: str,
                             source_addr: str | None) -> list[ControlSession]:
        """End every active session on `device_id` because a command came for it by another route: `released` for
        a `release`, else superseded (a newer one-off command wins over the old session's renewals)."""
        now = self._clock.now()
        rows = list((await session.execute(select(ControlSession).where(
            ControlSession.device_id == device_id, ControlSession.status == ACTIVE))).scalars())
        for row in rows:
            row.status, row.ended_at = (RELEASED if released else SUPERSEDED), now
            session.add(AuditEntry(ts=now, actor=user, source_addr=source_addr,
                                   action="control.release" if released else f"control.{row.action}",
                                   target=row.intersection_id, outcome=row.status,
                                   detail={"session_id": row.id, "device": device_id, "via": "device_command"}))
        if rows:
            await session.commit()
            log.info("control_ended_by_command device=%s sessions=%s released=%s user=%s", device_id, len(rows),
                     released, user)
        return rows

    async def _send(self, session: AsyncSession, row: ControlSession, device: Device, now: datetime) -> None:
        command = backup_command(row, now)
        ttl = min(self._settings.command_ttl_s, row.backup_s)
        sent = await self._dispatcher.issue(session, device, command, issued_by=row.created_by,
                                            source_addr=row.source_addr, ttl_s=ttl)
        if sent.status == CommandStatus.FAILED.value:
            # Not sent: try again soon, well inside the backup period the controller still runs on.
            row.next_renew_at = now + timedelta(seconds=min(row.backup_s / 3, self._settings.sweep_interval_s))
        else:
            row.last_sent_at, row.renewals = now, row.renewals + 1
            row.next_renew_at = now + timedelta(seconds=row.backup_s / 3)
        await session.commit()
        log.info("control_backup_sent intersection=%s device=%s action=%s status=%s renewals=%s", row.intersection_id,
                 row.device_id, row.action, sent.status, row.renewals)

    async def renew_due(self) -> int:
        """Renew every active session whose renewal is due; end those past their until. Commands sent."""
        now = self._clock.now()
        sent = 0
        async with self._sessions() as session:
            due = list((await session.execute(select(ControlSession).where(
                ControlSession.status == ACTIVE, ControlSession.next_renew_at <= now))).scalars())
            for row in due:
                if now >= row.until:
                    row.status, row.ended_at = ENDED, now
                    session.add(AuditEntry(ts=now, actor=row.created_by, source_addr=None,
                                           action=f"control.{row.action}", target=row.intersection_id,
                                           outcome="ended", detail={"session_id": row.id}))
                    await session.commit()
                    log.info("control_ended intersection=%s device=%s", row.intersection_id, row.device_id)
                    continue
                device = await session.get(Device, row.device_id)
                if device is None:  # deleted since the session began: nothing left to renew
                    row.status, row.ended_at = ENDED, now
                    await session.commit()
                    log.warning("control_device_gone intersection=%s device=%s", row.intersection_id, row.device_id)
                    continue
                await self._send(session, row, device, now)
                sent += 1
        self.renewed += sent
        return sent

    async def run(self) -> None:
        """Forever: renew what is due every `sweep_interval_s` of the injected clock."""
        while True:
            await self._clock.sleep(self._settings.sweep_interval_s)
            await self.renew_due()
