"""Plan deployments: send `deploy_plan` to the intersection's controller and follow its progress to the end.

Status: pending → transferring → verifying → activating → active, or failed / rolled_back with the controller's
error and message, or failed with error `timeout` when no final answer arrives within `deploy_ttl_s` (+ the command
grace) — unless the controller's reported state then shows the plan's CRC running (`plan_crc32`), which makes it
`active` (the final answer was lost, e.g. across an API restart). The deploy command is persisted (command row,
whose args carry the deployment id) before it is published, so a progress report that arrives before the route
returns still finds its deployment. A failed deploy raises the `plan_deploy_failed` alarm on the controller; the
next successful deploy clears it. Every outcome is audited.

With several API replicas each follows the same cmd/res messages; the transitions are idempotent (forward only).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.alarm_store import AlarmStore
from api.config import ApiSettings
from api.deploy_results import (
    ACTIVE,
    FAILED,
    PENDING,
    ROLLED_BACK,
    TIMEOUT,
    deployment_of,
    final,
    next_stage,
    parse_result,
)
from api.dispatch import CommandDispatcher
from api.hub import EventHub
from api.live import DeviceCache
from api.models import AuditEntry, Deployment, Device, PlanVersion
from controllers.alarms import AlarmKind, Verdict
from controllers.bus import BusMessage, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.commands import CommandResult, CommandStatus, DeployPlan
from controllers.topics import Suffix, subscription

log = logging.getLogger(__name__)

TERMINAL = frozenset({ACTIVE, FAILED, ROLLED_BACK})


class DeployInFlight(Exception):
    """Another deployment to this intersection has not finished (the database's one-in-flight index said so)."""


def deployment_json(row: Deployment) -> dict[str, Any]:
    return {"id": row.id, "intersection_id": row.intersection_id, "version": row.version, "device_id": row.device_id,
            "crc32": row.crc32, "command_id": row.command_id, "status": row.status, "error": row.error,
            "message": row.message, "requested_by": row.requested_by, "created_at": to_rfc3339(row.created_at),
            "updated_at": to_rfc3339(row.updated_at), "expires_at": to_rfc3339(row.expires_at),
            "finished_at": to_rfc3339(row.finished_at) if row.finished_at else None}


class DeployTracker:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: BusPort, clock: Clock, settings: ApiSettings,
                 dispatcher: CommandDispatcher, alarms: AlarmStore, hub: EventHub,
                 cache: DeviceCache | None = None) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._dispatcher = dispatcher
        self._alarms = alarms
        self._hub = hub
        self._cache = cache
        self.progress = 0

    async def start(self, session: AsyncSession, version: PlanVersion, device: Device, *, requested_by: str,
                    source_addr: str | None) -> Deployment:
        """Persist a pending deployment, then issue `deploy_plan` (persisted before publish). When the bus refuses
        the command the deployment ends failed at once (error `not_sent`). The caller re-validated the plan.
        Raises DeployInFlight (nothing stored or sent) while another deployment to the intersection is unfinished."""
        now = self._clock.now()
        row = Deployment(id=str(uuid.uuid4()), intersection_id=version.intersection_id, version=version.version,
                         device_id=device.id, crc32=version.crc32, status=PENDING, requested_by=requested_by,
                         source_addr=source_addr, created_at=now, updated_at=now,
                         expires_at=now + timedelta(seconds=self._settings.deploy_ttl_s))
        session.add(row)
        session.add(AuditEntry(ts=now, actor=requested_by, source_addr=source_addr, action="plan.deploy",
                               target=version.intersection_id, outcome="requested",
                               detail={"deployment_id": row.id, "version": version.version, "device": device.id,
                                       "crc32": f"{version.crc32:08x}"}))
        intersection_id = version.intersection_id  # the rollback below expires the ORM objects
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise DeployInFlight(f"a deployment to {intersection_id!r} is still in progress") from None
        command = DeployPlan(plan=version.plan, crc32=version.crc32, deployment_id=row.id)
        sent = await self._dispatcher.issue(session, device, command, issued_by=requested_by, source_addr=source_addr,
                                            ttl_s=self._settings.deploy_ttl_s)
        row.command_id = sent.id
        if sent.status == CommandStatus.FAILED.value:
            await self._finish(session, row, FAILED, sent.error, sent.message, device.site)
        else:
            await session.commit()
        log.info("plan_deploy_started intersection=%s version=%s device=%s deployment=%s status=%s",
                 row.intersection_id, row.version, device.id, row.id, row.status)
        return row

    async def run(self) -> None:
        """Follow every cmd/res on the bus (until cancelled); the bus reconnects and resubscribes by itself."""
        async with self._bus.subscribe(subscription(Suffix.CMD_RES)) as messages:
            async for message in messages:
                await self.handle(message)

    async def handle(self, message: BusMessage) -> None:
        parsed = parse_result(message)
        if parsed is not None:
            await self.on_result(*parsed)

    async def on_result(self, device_id: str, result: CommandResult) -> Deployment | None:
        """Apply a cmd/res of a deploy_plan command to its deployment; None when it is not one of ours."""
        async with self._sessions() as session:
            found = await deployment_of(session, device_id, result, "deploy_plan", Deployment)
            if found is None:
                return None
            cmd, row = found
            if not result.final:
                stage = next_stage(row.status, result, TERMINAL)
                if stage is None:
                    return row
                row.status, row.updated_at = stage, self._clock.now()
                await session.commit()
                self.progress += 1
                log.info("plan_deploy_progress deployment=%s device=%s stage=%s", row.id, device_id, stage)
                self._hub.publish("deployment", cmd.site, device_id, deployment_json(row))
                return row
            verdict = final(row.status, row.error, result, TERMINAL)
            if verdict is not None:
                await self._finish(session, row, verdict.status, verdict.error, verdict.message, cmd.site)
            return row

    async def _finish(self, session: AsyncSession, row: Deployment, status: str, error: str | None,
                      message: str | None, site: str) -> None:
        now = self._clock.now()
        row.status, row.error, row.message, row.updated_at, row.finished_at = status, error, message, now, now
        session.add(AuditEntry(ts=now, actor=row.requested_by, source_addr=None, action="plan.deploy.result",
                               target=row.intersection_id, outcome=status,
                               detail={"deployment_id": row.id, "version": row.version, "device": row.device_id,
                                       "error": error, "message": message}))
        await session.commit()
        failed = status != ACTIVE
        (log.warning if failed else log.info)(
            "plan_deploy_finished deployment=%s intersection=%s device=%s version=%s status=%s error=%s", row.id,
            row.intersection_id, row.device_id, row.version, status, error)
        kind = AlarmKind.PLAN_DEPLOY_FAILED
        detail = f"v{row.version}: {error}" + (f" ({message})" if message else "")
        await self._alarms.apply(site, row.device_id, Verdict(
            frozenset({kind}) if failed else frozenset(), frozenset({kind}), {kind: detail} if failed else None), now)
        self._hub.publish("deployment", site, row.device_id, deployment_json(row))

    async def sweep_once(self) -> int:
        """End deployments with no final answer past `expires_at` + grace as failed (timeout); how many ended."""
        deadline: datetime = self._clock.now() - timedelta(seconds=self._settings.command_result_grace_s)
        async with self._sessions() as session:
            rows = list((await session.execute(select(Deployment).where(
                Deployment.status.not_in(sorted(TERMINAL)), Deployment.expires_at <= deadline))).scalars())
            for row in rows:
                device = await session.get(Device, row.device_id)
                site = device.site if device else self._settings.site
                live = self._cache.get(row.device_id) if self._cache else None
                values = (live.state or {}).get("values") or {} if live else {}
                if values.get("plan_crc32") == row.crc32:
                    # The final answer was lost (e.g. the API restarted mid-deploy), but the controller itself
                    # reports the new plan's CRC as the running plan: that is what `active` means.
                    await self._finish(session, row, ACTIVE, None, "final answer lost; the controller reports "
                                       "this plan's CRC as running", site)
                else:
                    await self._finish(session, row, FAILED, TIMEOUT, "no final answer from the controller in time",
                                       site)
        return len(rows)

    async def run_sweeper(self) -> None:
        """Forever: expire overdue deployments every `sweep_interval_s` of the injected clock."""
        while True:
            await self._clock.sleep(self._settings.sweep_interval_s)
            await self.sweep_once()
