"""Lighting deployments: send `deploy_program` to each cabinet of a batch (one cabinet, a list, a whole site),
follow each to its end, retry what may succeed on a second try, and alarm on what finally failed.

Per cabinet: the stored version is validated again at the cabinet's own coordinates (from its registry entry or
birth) over a year from the cabinet's local date, and against its circuit count; a document that fails there is
`refused` and never sent. Otherwise: pending → transferring → verifying → activating → active, or failed /
rolled_back with the cabinet's error. A failure that a retry may cure (`not_sent`, `timeout`, `busy`,
`write_failed`, `expired`) is sent again, up to `MAX_ATTEMPTS` in all; a final failure raises
`program_deploy_failed` on the cabinet (the next success clears it). Every outcome is audited. The deployment id
travels in the command's args, so progress answers find their row even before the route returns; transitions
are forward only, so several API replicas following the same cmd/res agree.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
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
from api.models import AuditEntry, Command, Device, LightingDeployment, LightingVersion
from controllers.alarms import AlarmKind, Verdict
from controllers.bus import BusMessage, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.commands import CommandResult, CommandStatus, DeployProgram
from controllers.lighting import LightingV1, validate_lighting
from controllers.plans import ValidationReport
from controllers.topics import Suffix, subscription

log = logging.getLogger(__name__)

REFUSED = "refused"
TERMINAL = frozenset({ACTIVE, FAILED, ROLLED_BACK, REFUSED})
RETRYABLE = frozenset({"not_sent", TIMEOUT, "busy", "write_failed", "expired"})
MAX_ATTEMPTS = 3


def deployment_json(row: LightingDeployment) -> dict[str, Any]:
    return {"id": row.id, "batch_id": row.batch_id, "document_id": row.document_id, "version": row.version,
            "device_id": row.device_id, "crc32": row.crc32, "command_id": row.command_id, "status": row.status,
            "error": row.error, "message": row.message, "attempts": row.attempts, "requested_by": row.requested_by,
            "created_at": to_rfc3339(row.created_at), "updated_at": to_rfc3339(row.updated_at),
            "finished_at": to_rfc3339(row.finished_at) if row.finished_at else None}


def check_for_cabinet(document: dict[str, Any], device: Device, today: date) -> ValidationReport | str:
    """The validator's report at the cabinet's coordinates, or a sentence when the document does not fit the
    cabinet (it assigns a circuit the cabinet does not have)."""
    doc = LightingV1.model_validate(document)
    if device.lat is not None and device.lon is not None:
        doc = doc.model_copy(update={"site": doc.site.model_copy(update={"lat": device.lat, "lon": device.lon})})
    circuits = (device.birth or {}).get("circuits")
    if isinstance(circuits, int):
        extra = sorted(a.circuit for a in doc.circuits if a.circuit > circuits)
        if extra:
            return f"the document assigns circuit(s) {extra}, cabinet {device.id} has {circuits}"
    return validate_lighting(doc, from_date=today)


class LightingDeployer:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: BusPort, clock: Clock, settings: ApiSettings,
                 dispatcher: CommandDispatcher, alarms: AlarmStore, hub: EventHub) -> None:
        self._sessions = sessions
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._dispatcher = dispatcher
        self._alarms = alarms
        self._hub = hub

    async def start(self, session: AsyncSession, version: LightingVersion, devices: list[Device], *,
                    requested_by: str, source_addr: str | None) -> list[LightingDeployment]:
        """One deployment per cabinet, all in one batch: refused ones are never sent, the others are issued."""
        now = self._clock.now()
        batch = str(uuid.uuid4())
        rows: list[LightingDeployment] = []
        for device in devices:
            row = LightingDeployment(id=str(uuid.uuid4()), batch_id=batch, document_id=version.document_id,
                                     version=version.version, device_id=device.id, crc32=version.crc32,
                                     status=PENDING, attempts=0, requested_by=requested_by, source_addr=source_addr,
                                     created_at=now, updated_at=now)
            today = now.astimezone(ZoneInfo(version.document["site"]["timezone"])).date()
            verdict = check_for_cabinet(version.document, device, today)
            if isinstance(verdict, str) or not verdict.ok:
                row.status, row.error, row.finished_at = REFUSED, "invalid_program", now
                row.message = verdict if isinstance(verdict, str) else "; ".join(
                    f"{i.rule} at {i.path}: {i.message.en}" for i in verdict.errors)[:2000]
            session.add(row)
            session.add(AuditEntry(ts=now, actor=requested_by, source_addr=source_addr, action="lighting.deploy",
                                   target=device.id, outcome="refused" if row.status == REFUSED else "requested",
                                   detail={"deployment_id": row.id, "batch_id": batch,
                                           "document": version.document_id, "version": version.version,
                                           "crc32": f"{version.crc32:08x}"}))
            rows.append(row)
        await session.commit()
        for row, device in zip(rows, devices, strict=True):
            if row.status == PENDING:
                await self._send(session, row, device, version.document)
        log.info("lighting_deploy_started batch=%s document=%s version=%s cabinets=%d refused=%d", batch,
                 version.document_id, version.version, len(rows), sum(r.status == REFUSED for r in rows))
        return rows

    async def _send(self, session: AsyncSession, row: LightingDeployment, device: Device,
                    document: dict[str, Any]) -> None:
        row.attempts += 1
        row.status, row.error, row.message, row.updated_at = PENDING, None, None, self._clock.now()
        await session.commit()
        command = DeployProgram(document=document, crc32=row.crc32, deployment_id=row.id)

        def attempt(cmd: Command) -> None:
            # Committed with the command, before it is sent: an answer that comes before `issue` returns (a device
            # answering at once) must find this attempt's id here, or it reads as an earlier attempt's and is dropped.
            row.command_id = cmd.id

        sent = await self._dispatcher.issue(session, device, command, issued_by=row.requested_by,
                                            source_addr=row.source_addr, ttl_s=self._settings.deploy_ttl_s,
                                            before_commit=attempt)
        if sent.status == CommandStatus.FAILED.value:
            await self._failed(session, row, FAILED, sent.error or "not_sent", sent.message, device)

    async def run(self) -> None:
        """Follow every cmd/res on the bus (until cancelled)."""
        async with self._bus.subscribe(subscription(Suffix.CMD_RES)) as messages:
            async for message in messages:
                await self.handle(message)

    async def handle(self, message: BusMessage) -> None:
        parsed = parse_result(message)
        if parsed is not None:
            await self.on_result(*parsed)

    async def on_result(self, device_id: str, result: CommandResult) -> LightingDeployment | None:
        """Apply a cmd/res of a deploy_program command to its deployment; None when it is not one of ours."""
        async with self._sessions() as session:
            found = await deployment_of(session, device_id, result, "deploy_program", LightingDeployment)
            if found is None:
                return None
            cmd, row = found
            if row.command_id != cmd.id:
                return None   # an answer to an earlier attempt: the retry decides now
            if not result.final:
                stage = next_stage(row.status, result, TERMINAL)
                if stage is None:
                    return row
                row.status, row.updated_at = stage, self._clock.now()
                await session.commit()
                self._hub.publish("lighting_deployment", cmd.site, device_id, deployment_json(row))
                return row
            verdict = final(row.status, row.error, result, TERMINAL)
            device = await session.get(Device, device_id)
            if verdict is None or device is None:
                return row
            if verdict.status == ACTIVE:
                await self._finish(session, row, ACTIVE, None, verdict.message, device)
            else:
                await self._failed(session, row, verdict.status, verdict.error or "failed", verdict.message, device)
            return row

    async def _failed(self, session: AsyncSession, row: LightingDeployment, status: str, error: str,
                      message: str | None, device: Device) -> None:
        if error in RETRYABLE and row.attempts < MAX_ATTEMPTS:
            log.warning("lighting_deploy_retry deployment=%s device=%s error=%s attempt=%s", row.id, device.id, error,
                        row.attempts)
            version = (await session.execute(select(LightingVersion).where(
                LightingVersion.document_id == row.document_id,
                LightingVersion.version == row.version))).scalar_one()
            await self._send(session, row, device, version.document)
            return
        await self._finish(session, row, status, error, message, device)

    async def _finish(self, session: AsyncSession, row: LightingDeployment, status: str, error: str | None,
                      message: str | None, device: Device) -> None:
        now = self._clock.now()
        row.status, row.error, row.message, row.updated_at, row.finished_at = status, error, message, now, now
        session.add(AuditEntry(ts=now, actor=row.requested_by, source_addr=None, action="lighting.deploy.result",
                               target=row.device_id, outcome=status,
                               detail={"deployment_id": row.id, "batch_id": row.batch_id,
                                       "document": row.document_id, "version": row.version,
                                       "attempts": row.attempts, "error": error, "message": message}))
        await session.commit()
        failed = status != ACTIVE
        (log.warning if failed else log.info)(
            "lighting_deploy_finished deployment=%s device=%s status=%s error=%s attempts=%s", row.id, row.device_id,
            status, error, row.attempts)
        kind = AlarmKind.PROGRAM_DEPLOY_FAILED
        detail = f"{row.document_id} v{row.version}: {error}" + (f" ({message})" if message else "")
        await self._alarms.apply(device.site, row.device_id, Verdict(
            frozenset({kind}) if failed else frozenset(), frozenset({kind}), {kind: detail} if failed else None), now)
        self._hub.publish("lighting_deployment", device.site, row.device_id, deployment_json(row))

    async def sweep_once(self) -> int:
        """Deployments with no final answer within deploy_ttl_s (+ grace) of their last send: retried or failed."""
        deadline = self._clock.now() - timedelta(seconds=self._settings.deploy_ttl_s
                                                 + self._settings.command_result_grace_s)
        async with self._sessions() as session:
            rows = list((await session.execute(select(LightingDeployment).where(
                LightingDeployment.status.not_in(sorted(TERMINAL)),
                LightingDeployment.updated_at <= deadline))).scalars())
            for row in rows:
                device = await session.get(Device, row.device_id)
                if device is not None:
                    await self._failed(session, row, FAILED, TIMEOUT, "no final answer from the cabinet in time",
                                       device)
        return len(rows)

    async def run_sweeper(self) -> None:
        """Forever: retry or fail overdue deployments every `sweep_interval_s` of the injected clock."""
        while True:
            await self._clock.sleep(self._settings.sweep_interval_s)
            await self.sweep_once()
