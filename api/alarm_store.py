"""Alarms in the config DB: raised once, cleared when the condition ends, acknowledged by a named user.

The verdicts come from `controllers.alarms` (pure); this module keeps the per-device set of active alarms in memory
(loaded from the DB at start) and writes only the transitions. With several API replicas on one bus, each sees the
same reports: the unique index on active (device, kind) makes a second raise a no-op, and clears are idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.hub import EventHub
from api.models import Alarm, AuditEntry
from controllers.alarms import ALARMS, AlarmKind, Verdict
from controllers.clock import to_rfc3339

log = logging.getLogger(__name__)


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    info = ALARMS.get(AlarmKind(alarm.kind)) if alarm.kind in AlarmKind.__members__.values() else None
    label = {"vi": info.label_vi, "en": info.label_en} if info else {"vi": alarm.kind, "en": alarm.kind}
    if alarm.circuit:
        label = {"vi": f"{label['vi']} · mạch {alarm.circuit}", "en": f"{label['en']} · circuit {alarm.circuit}"}
    return {
        "id": alarm.id, "device_id": alarm.device_id, "site": alarm.site, "kind": alarm.kind,
        "circuit": alarm.circuit or None, "severity": alarm.severity, "active": alarm.active,
        "label": label,
        "raised_at": to_rfc3339(alarm.raised_at),
        "cleared_at": to_rfc3339(alarm.cleared_at) if alarm.cleared_at else None,
        "acked_at": to_rfc3339(alarm.acked_at) if alarm.acked_at else None,
        "acked_by": alarm.acked_by, "ack_note": alarm.ack_note, "detail": alarm.detail,
        "work_order_id": alarm.work_order_id,
    }


def _audit(now: datetime, action: str, device_id: str, kind: AlarmKind, detail: str | None) -> AuditEntry:
    """Alarms raise and clear by themselves: the actor is the system; acknowledgements carry the user."""
    return AuditEntry(ts=now, actor="system", source_addr=None, action=action, target=device_id, outcome="ok",
                      detail={"alarm": kind.value, **({"detail": detail} if detail else {})})


class AlarmStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: EventHub) -> None:
        self._sessions = sessions
        self._hub = hub
        self._active: dict[str, set[AlarmKind]] = {}
        self._circuits: dict[str, set[tuple[AlarmKind, int]]] = {}

    async def load(self) -> None:
        """Read the active alarms from the DB (call once at start)."""
        async with self._sessions() as session:
            rows = (await session.execute(select(Alarm.device_id, Alarm.kind, Alarm.circuit).where(
                Alarm.active))).all()
        self._active, self._circuits = {}, {}
        for device_id, kind, circuit in rows:
            if kind in AlarmKind.__members__.values():
                if circuit:
                    self._circuits.setdefault(device_id, set()).add((AlarmKind(kind), circuit))
                else:
                    self._active.setdefault(device_id, set()).add(AlarmKind(kind))

    def active_kinds(self, device_id: str) -> set[AlarmKind]:
        return set(self._active.get(device_id, ()))

    async def apply(self, site: str, device_id: str, verdict: Verdict, now: datetime) -> None:
        """Raise and clear what `verdict` says changed for this device; publish each change on the hub."""
        current = self._active.setdefault(device_id, set())
        to_raise, to_clear = verdict.changes(current)
        if not to_raise and not to_clear:
            return
        async with self._sessions() as session:
            for kind in sorted(to_raise):
                detail = (verdict.detail or {}).get(kind)
                row = Alarm(device_id=device_id, site=site, kind=kind.value, severity=ALARMS[kind].severity.value,
                            active=True, raised_at=now, detail=detail[:512] if detail else None, circuit=0)
                session.add(row)
                session.add(_audit(now, "alarm.raise", device_id, kind, detail))
                try:
                    await session.commit()
                except IntegrityError:  # already raised by another replica: same condition, one alarm
                    await session.rollback()
                    existing = (await session.execute(select(Alarm).where(
                        Alarm.device_id == device_id, Alarm.kind == kind.value, Alarm.circuit == 0,
                        Alarm.active))).scalar_one_or_none()
                    if existing is None:
                        raise
                    row = existing
                current.add(kind)
                log.warning("alarm_raised device=%s site=%s alarm=%s", device_id, site, kind.value)
                self._hub.publish("alarm", site, device_id, alarm_json(row))
            for kind in sorted(to_clear):
                rows = (await session.execute(select(Alarm).where(
                    Alarm.device_id == device_id, Alarm.kind == kind.value, Alarm.circuit == 0,
                    Alarm.active))).scalars().all()
                await session.execute(update(Alarm).where(
                    Alarm.device_id == device_id, Alarm.kind == kind.value, Alarm.circuit == 0, Alarm.active).values(
                    active=False, cleared_at=now))
                if rows:
                    session.add(_audit(now, "alarm.clear", device_id, kind, None))
                await session.commit()
                current.discard(kind)
                log.info("alarm_cleared device=%s site=%s alarm=%s", device_id, site, kind.value)
                for row in rows:
                    await session.refresh(row)
                    self._hub.publish("alarm", site, device_id, alarm_json(row))

    def active_circuit_alarms(self, device_id: str) -> set[tuple[AlarmKind, int]]:
        """(kind, circuit) of the device's active circuit alarms."""
        return set(self._circuits.get(device_id, ()))

    async def apply_circuits(self, site: str, device_id: str, faults: Mapping[int, Mapping[str, str]],
                             now: datetime) -> None:
        """Raise and clear circuit alarms: `faults` is every circuit the report covers, each with its active
        fault kinds and a detail (`controllers.lighting.faults.circuit_faults`); circuits not in it are left as
        they are. Each alarm names its circuit; raised once, cleared when its circuit reports it gone."""
        current = self._circuits.setdefault(device_id, set())
        active = {(AlarmKind(kind), circuit) for circuit, kinds in faults.items() for kind in kinds
                  if kind in AlarmKind.__members__.values()}
        to_raise = active - current
        to_clear = {(kind, circuit) for kind, circuit in current if circuit in faults and (kind, circuit) not in active}
        if not to_raise and not to_clear:
            return
        async with self._sessions() as session:
            for kind, circuit in sorted(to_raise):
                detail = faults[circuit].get(kind.value)
                row = Alarm(device_id=device_id, site=site, kind=kind.value, severity=ALARMS[kind].severity.value,
                            active=True, raised_at=now, detail=detail[:512] if detail else None, circuit=circuit)
                session.add(row)
                session.add(_audit(now, "alarm.raise", device_id, kind, detail))
                try:
                    await session.commit()
                except IntegrityError:  # already raised by another replica
                    await session.rollback()
                    existing = (await session.execute(select(Alarm).where(
                        Alarm.device_id == device_id, Alarm.kind == kind.value, Alarm.circuit == circuit,
                        Alarm.active))).scalar_one_or_none()
                    if existing is None:
                        raise
                    row = existing
                current.add((kind, circuit))
                log.warning("alarm_raised device=%s site=%s alarm=%s circuit=%s", device_id, site, kind.value, circuit)
                self._hub.publish("alarm", site, device_id, alarm_json(row))
            for kind, circuit in sorted(to_clear):
                rows = (await session.execute(select(Alarm).where(
                    Alarm.device_id == device_id, Alarm.kind == kind.value, Alarm.circuit == circuit,
                    Alarm.active))).scalars().all()
                for row in rows:
                    row.active, row.cleared_at = False, now
                if rows:
                    session.add(_audit(now, "alarm.clear", device_id, kind, f"circuit {circuit}"))
                await session.commit()
                current.discard((kind, circuit))
                log.info("alarm_cleared device=%s site=%s alarm=%s circuit=%s", device_id, site, kind.value, circuit)
                for row in rows:
                    self._hub.publish("alarm", site, device_id, alarm_json(row))
