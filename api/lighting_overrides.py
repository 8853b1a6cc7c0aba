"""Override reconciliation: after a lighting cabinet's (re)birth (the cabinet or its gateway restarted, or this
API started and read the retained ones), the first state it reports is compared with the center's active
overrides (`controllers.lighting.reconcile`), and what disagrees is re-sent or cleared, each audited with actor
`system` and action `lighting.override.resend` / `lighting.override.clear`.

Only the first state after a birth is judged: later ones may race a crew's command in flight (the command is sent
before its override row is stored). Several API replicas all see the birth; each birth is judged by one of them:
the first to insert the claim (device, `bd_seq@birth ts`) into `cabinet_birth_claims` (a unique key, so the
database decides) sends and audits; the others find it taken and do nothing. Claims older than `CLAIMS_KEPT` are
removed when the device's next birth is claimed.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import audit
from api.dispatch import CommandDispatcher
from api.lighting_scheduler import holder_id
from api.listener import PayloadError, decode
from api.models import CabinetBirthClaim, CircuitOverride, Device
from controllers.bus import BusMessage, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.commands import CircuitRelease, CommandStatus, Switch
from controllers.devices import DeviceKind
from controllers.lighting.reconcile import Action, Held, reconcile
from controllers.topics import Suffix, TopicError, parse, subscription

log = logging.getLogger(__name__)

ACTOR = "system"
CLAIMS_KEPT = dt.timedelta(days=2)
MAX_WAITING = 10_000   # cabinets born and not yet judged; beyond it the oldest is forgotten (it is judged next birth)


class OverrideReconciler:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: BusPort, clock: Clock,
                 dispatcher: CommandDispatcher, *, holder: str | None = None) -> None:
        self._sessions = sessions
        self.holder = holder or holder_id()
        self._bus = bus
        self._clock = clock
        self._dispatcher = dispatcher
        self._waiting: dict[str, str] = {}   # device id -> the birth (bd_seq@ts) whose first state is awaited
        self.judged = 0        # first states after a birth compared
        self.reconciled = 0    # actions taken
        self.left = 0          # births another replica claimed first

    async def run(self) -> None:
        """Follow cabinets' births and states (until cancelled)."""
        async with self._bus.subscribe(subscription(Suffix.BIRTH), subscription(Suffix.STATE)) as messages:
            async for message in messages:
                await self.handle(message)

    async def handle(self, message: BusMessage) -> list[Action]:
        """The actions taken for this message (none for anything but a cabinet's first state after a birth)."""
        try:
            where = parse(message.topic)
            data = decode(where.suffix, message.payload)
        except (TopicError, PayloadError):
            return []   # the bus listener logs and counts malformed payloads
        if data.get("kind") != DeviceKind.LIGHTING_CABINET.value:
            return []
        if where.suffix is Suffix.BIRTH:
            self._waiting.pop(where.device_id, None)
            if len(self._waiting) >= MAX_WAITING:
                self._waiting.pop(next(iter(self._waiting)))
            self._waiting[where.device_id] = f"{data.get('bd_seq', 0)}@{str(data.get('ts', ''))[:64]}"
            return []
        birth = self._waiting.pop(where.device_id, None) if where.suffix is Suffix.STATE else None
        if birth is None:
            return []
        circuits = [c for c in (data.get("values") or {}).get("circuits") or [] if isinstance(c, dict)]
        return await self.reconcile_device(where.device_id, circuits, birth)

    async def _claim(self, session: AsyncSession, device_id: str, birth: str, now: dt.datetime) -> bool:
        """True when this replica is the first to judge `birth` of `device_id` (its claim committed)."""
        await session.execute(delete(CabinetBirthClaim).where(CabinetBirthClaim.device_id == device_id,
                                                              CabinetBirthClaim.claimed_at < now - CLAIMS_KEPT))
        session.add(CabinetBirthClaim(device_id=device_id, birth=birth, holder=self.holder, claimed_at=now))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return False
        return True

    async def reconcile_device(self, device_id: str, circuits: list[dict[str, Any]],
                               birth: str | None = None) -> list[Action]:
        """Compare and act; every action is audited (outcome `requested`, or `not_sent` when the bus refused).
        With `birth`, only when this replica claims it first (none: another replica judges it)."""
        now = self._clock.now()
        async with self._sessions() as session:
            device = await session.get(Device, device_id)
            if device is None or device.kind != DeviceKind.LIGHTING_CABINET.value:
                self.judged += 1
                return []   # births create no device: an unregistered cabinet has no overrides of ours
            if birth is not None and not await self._claim(session, device_id, birth, now):
                self.left += 1
                log.info("override_reconcile_left device=%s birth=%s", device_id, birth)
                return []
            rows = list((await session.execute(select(CircuitOverride).where(
                CircuitOverride.device_id == device_id, CircuitOverride.status == "active"))).scalars())
            for row in rows:
                if row.until <= now:
                    row.status, row.ended_at = "expired", row.until
            await session.commit()
            held = [Held(r.circuit, r.level_pct, r.until) for r in rows if r.status == "active"]
            actions = reconcile(held, circuits, now)
            by_circuit = {r.circuit: r for r in rows if r.status == "active"}
            for action in actions:
                held_row = by_circuit.get(action.circuit)
                detail: dict[str, Any] = {"circuit": action.circuit, "reason": action.reason}
                command: Switch | CircuitRelease = CircuitRelease(circuit=action.circuit)
                if action.kind == "resend" and action.level_pct is not None and action.until is not None:
                    command = Switch(circuit=action.circuit, level_pct=action.level_pct, until=action.until)
                    detail.update(level_pct=action.level_pct, until=to_rfc3339(action.until),
                                  override_id=held_row.id if held_row is not None else None)
                sent = await self._dispatcher.issue(session, device, command, issued_by=ACTOR, source_addr=None)
                failed = sent.status == CommandStatus.FAILED.value
                if held_row is not None and not failed:
                    held_row.command_id = sent.id
                    await session.commit()
                await audit.record(session, now=now, actor=ACTOR, source_addr=None,
                                   action=f"lighting.override.{action.kind}", target=device_id,
                                   outcome="not_sent" if failed else "requested",
                                   detail={**detail, "command_id": sent.id})
                log.info("override_reconciled device=%s circuit=%d action=%s sent=%s", device_id, action.circuit,
                         action.kind, not failed)
        self.reconciled += len(actions)
        self.judged += 1
        return actions
