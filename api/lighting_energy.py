"""Energy and burning hours per cabinet and circuit: the daily job that turns the day's telemetry into a report
(`controllers.lighting.energy`) stored back in the telemetry store, and the leader lease that lets exactly one
process run it however many API replicas or scheduler processes there are.

The report of local day D is written as one sample of the cabinet at local midnight of D (UTC), fields `day_…`
(kWh, burning hours, switchings, full-power kWh, savings per circuit), so it is queried like any telemetry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.alarm_store import AlarmStore
from api.db import rows_matched
from api.models import Device, SchedulerLease
from controllers.alarms import AlarmKind, Verdict
from controllers.devices import DeviceKind
from controllers.lighting.energy import PROFILE_DAYS, CabinetDay, cabinet_day, energy_anomaly
from controllers.lighting.faults import loads_from_birth
from controllers.telemetry import Sample, Series, StoreError

log = logging.getLogger(__name__)

ENERGY_LEASE = "lighting_energy"


class TelemetryStore(Protocol):
    """Reads and writes telemetry (both stores, embedded and InfluxDB, do)."""

    async def query(self, *, kind: DeviceKind, device: str, fields: Sequence[str], start: dt.datetime,
                    end: dt.datetime) -> list[Series]: ...

    async def write(self, samples: Sequence[Sample]) -> None: ...


def circuit_count(device: Device) -> int:
    declared = (device.birth or {}).get("circuits")
    return declared if isinstance(declared, int) and 1 <= declared <= 16 else 4


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """Local midnight of `day` and of the next day, in UTC (23 or 25 hours apart on a DST change)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    return start, end


def raw_fields(circuits: int) -> list[str]:
    fields = ["energy_kwh", "active_power_w"]
    for n in range(1, circuits + 1):
        fields += [f"circuit{n}_current_a", f"circuit{n}_burning_h", f"circuit{n}_switch_count"]
    return fields


class EnergyJob:
    """Computes and stores the daily reports of every lighting cabinet in the config DB."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: TelemetryStore, tz: ZoneInfo,
                 alarms: AlarmStore | None = None) -> None:
        self._sessions = sessions
        self._store = store
        self._tz = tz
        self._alarms = alarms

    async def _profile(self, device: Device, day: dt.date) -> list[float]:
        """The cabinet's reported kWh of the PROFILE_DAYS days before `day`."""
        start, _ = day_bounds(day - dt.timedelta(days=PROFILE_DAYS), self._tz)
        end, _ = day_bounds(day, self._tz)
        (series,) = await self._store.query(kind=DeviceKind.LIGHTING_CABINET, device=device.id,
                                            fields=["day_energy_kwh"], start=start, end=end)
        return [v for _, v in series.points if v is not None]

    async def _judge(self, device: Device, report: CabinetDay, now: dt.datetime) -> None:
        """Raise or clear `energy_anomaly` on the cabinet from the day against its own profile."""
        if self._alarms is None:
            return
        try:
            detail = energy_anomaly(report.energy_kwh, await self._profile(device, report.day))
        except StoreError as exc:
            log.warning("energy_profile_unavailable device=%s error=%s", device.id, exc)
            return
        kind = AlarmKind.ENERGY_ANOMALY
        detail = f"{report.day.isoformat()}: {detail}" if detail else None
        await self._alarms.apply(device.site, device.id, Verdict(
            frozenset({kind}) if detail else frozenset(), frozenset({kind}), {kind: detail} if detail else None), now)

    async def run_day(self, day: dt.date) -> list[CabinetDay]:
        """Reports of local `day` for every cabinet, written to the store. A cabinet whose telemetry cannot be
        read is skipped and logged (the next run covers it again); a failed write raises StoreError."""
        async with self._sessions() as session:
            devices = list((await session.execute(select(Device).where(
                Device.kind == DeviceKind.LIGHTING_CABINET.value).order_by(Device.id))).scalars())
        start, end = day_bounds(day, self._tz)
        reports: list[CabinetDay] = []
        samples: list[Sample] = []
        for device in devices:
            circuits = circuit_count(device)
            try:
                series = await self._store.query(kind=DeviceKind.LIGHTING_CABINET, device=device.id,
                                                  fields=raw_fields(circuits), start=start, end=end)
            except StoreError as exc:
                log.warning("energy_day_skipped device=%s day=%s error=%s", device.id, day.isoformat(), exc)
                continue
            report = cabinet_day(device.id, day, {s.field: s.points for s in series}, range(1, circuits + 1),
                                 loads_from_birth(device.birth))
            await self._judge(device, report, end)
            reports.append(report)
            samples.append(Sample(kind=DeviceKind.LIGHTING_CABINET, site=device.site, device=device.id, ts=start,
                                  seq=0, values=dict(report.values())))
        if samples:
            await self._store.write(samples)
        log.info("energy_day_done day=%s cabinets=%d", day.isoformat(), len(reports))
        return reports


async def hold_lease(sessions: async_sessionmaker[AsyncSession], name: str, holder: str, now: dt.datetime,
                     ttl_s: float) -> bool:
    """Take or renew the lease `name` for `holder` until now + ttl_s; False when another holder has it."""
    until = now + dt.timedelta(seconds=ttl_s)
    async with sessions() as session:
        taken = await rows_matched(session, update(SchedulerLease).where(
            SchedulerLease.name == name,
            (SchedulerLease.holder == holder) | (SchedulerLease.expires_at <= now)).values(
            holder=holder, expires_at=until))
        if taken:
            await session.commit()
            return True
        session.add(SchedulerLease(name=name, holder=holder, expires_at=until))
        try:
            await session.commit()
        except IntegrityError:  # it exists and someone else holds it
            await session.rollback()
            return False
        return True
