"""Energy and burning hours: the daily job over a real embedded telemetry store, the leader lease, the report
route (days and months) and the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from api.lighting_energy import TelemetryStore, day_bounds, hold_lease
from api.lighting_scheduler import LightingScheduler
from controllers.devices import DeviceKind
from controllers.telemetry import Sample
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from tests.api.conftest import Harness
from tests.servers import InfluxDB

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CABINET = "lc-001"
DAY = dt.date(2026, 11, 22)


def night_samples(day: dt.date) -> list[Sample]:
    """A cabinet's telemetry every 10 s for a day: circuit 1 at 2 A from 18:00 to 06:00, circuit 2 off."""
    start, end = day_bounds(day, HCM)
    samples, t, energy, burning, switches = [], start, 50.0, 100.0, 10
    was_on = False
    while t < end:
        local = t.astimezone(HCM)
        on = local.hour >= 18 or local.hour < 6
        amps = 2.0 if on else 0.0
        watts = amps * 230 * 0.95
        if on != was_on:
            switches += 1
            was_on = on
        samples.append(Sample(kind=DeviceKind.LIGHTING_CABINET, site="tn", device=CABINET, ts=t, seq=0,
                              values={"energy_kwh": round(energy, 3), "active_power_w": watts,
                                      "circuit1_current_a": amps, "circuit2_current_a": 0.0,
                                      "circuit1_burning_h": burning, "circuit2_burning_h": 7.0,
                                      "circuit1_switch_count": float(switches), "circuit2_switch_count": 3.0}))
        energy += watts * 10 / 3.6e6
        burning += 10 / 3600 if on else 0.0
        t += dt.timedelta(seconds=10)
    return samples


@pytest.fixture(params=["embedded", pytest.param("influxdb", marks=pytest.mark.integration)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TelemetryStore]:
    """The two real telemetry stores the job runs on: embedded SQLite and InfluxDB (v1 HTTP API)."""
    if request.param == "embedded":
        embedded = EmbeddedStore(tmp_path / "telemetry.sqlite")
        try:
            yield embedded
        finally:
            await embedded.aclose()
        return
    influx: InfluxDB = request.getfixturevalue("influxdb")
    database = f"energy_{uuid.uuid4().hex[:8]}"
    remote = InfluxStore(influx.url, database)
    try:
        await remote.create_database()
        yield remote
    finally:
        await remote.aclose()


async def test_daily_job_equals_the_meter_and_runs_once_across_schedulers(harness: Harness,
                                                                          store: TelemetryStore) -> None:
    samples = night_samples(DAY)
    for i in range(0, len(samples), 1000):
        await store.write(samples[i:i + 1000])
    now = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(0, 20), tzinfo=HCM)
    first = LightingScheduler(harness.state.sessions, store, harness.clock, HCM, holder="a")
    second = LightingScheduler(harness.state.sessions, store, harness.clock, HCM, holder="b")
    assert DAY in await first.run_energy_once(now)
    assert await second.run_energy_once(now) == [], "one runner while the lease is held"
    start, _ = day_bounds(DAY, HCM)
    (energy, integral, burning, switches, savings) = await store.query(
        kind=DeviceKind.LIGHTING_CABINET, device=CABINET, fields=[
            "day_energy_kwh", "day_power_integral_kwh", "circuit1_day_burning_h", "circuit1_day_switches",
            "circuit1_day_savings_kwh"], start=start, end=start + dt.timedelta(seconds=1))
    meter = energy.points[0][1]
    expected = 2.0 * 230 * 0.95 * 12 / 1000      # 12 h at 2 A
    assert meter == pytest.approx(expected, rel=0.01)
    assert integral.points[0][1] == pytest.approx(meter, rel=0.01), "meter and ∫P dt agree within 1 %"
    assert burning.points[0][1] == pytest.approx(12.0, abs=0.01)
    assert switches.points[0][1] == 2.0
    assert savings.points == []       # the fake birth declares no loads: no full-power figure, no savings
    # the lease frees when its holder stops renewing it
    later = now + dt.timedelta(hours=2)
    assert await hold_lease(harness.state.sessions, "lighting_energy", "b", later, 60.0)


async def test_energy_route_days_months_and_csv(harness: Harness) -> None:
    start, _ = day_bounds(DAY, HCM)
    for field, value in {"day_energy_kwh": 5.2, "day_power_integral_kwh": 5.19, "circuit1_day_energy_kwh": 5.2,
                         "circuit1_day_burning_h": 12.0, "circuit1_day_switches": 2.0,
                         "circuit1_day_full_kwh": 7.0, "circuit1_day_savings_kwh": 1.8}.items():
        harness.telemetry.samples[(CABINET, field)] = [(start, value)]
    viewer = harness.token("viewer")
    resp = await harness.client.get(f"/api/v1/cabinets/{CABINET}/energy",
                                    params={"from": "2026-11-01", "to": "2026-11-30"}, headers=viewer)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["device_id"], body["from"], body["to"]) == (CABINET, "2026-11-01", "2026-11-30")
    assert body["days"] == [{"day": "2026-11-22", "energy_kwh": 5.2, "power_integral_kwh": 5.19, "circuits": [
        {"circuit": 1, "energy_kwh": 5.2, "burning_h": 12.0, "switches": 2.0, "full_kwh": 7.0,
         "savings_kwh": 1.8}]}]
    assert body["months"] == [{"month": "2026-11", "energy_kwh": 5.2, "burning_h": 12.0, "savings_kwh": 1.8}]
    export = await harness.client.get("/api/v1/lighting/energy.csv", params={"from": "2026-11-22",
                                                                            "to": "2026-11-22"}, headers=viewer)
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["device_id"], r["circuit"], r["energy_kwh"]) for r in rows] == [(CABINET, "", "5.2"),
                                                                             (CABINET, "1", "5.2")]
    bad = await harness.client.get(f"/api/v1/cabinets/{CABINET}/energy", params={"from": "2026-11-30",
                                                                                "to": "2026-11-01"}, headers=viewer)
    assert bad.status_code == 422


async def test_the_apscheduler_runs_the_job_daily_after_midnight_local(harness: Harness, tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "t.sqlite")
    try:
        jobs = LightingScheduler(harness.state.sessions, store, harness.clock, HCM).build()
        daily = jobs.get_job("lighting_energy")
        assert daily is not None and str(daily.trigger) == "cron[hour='0', minute='20']"
        fire = daily.trigger.get_next_fire_time(None, dt.datetime(2026, 11, 22, 23, 0, tzinfo=HCM))
        assert fire == dt.datetime(2026, 11, 23, 0, 20, tzinfo=HCM)
        assert jobs.get_job("lighting_energy_catch_up") is not None
    finally:
        await store.aclose()


async def test_a_day_far_off_the_cabinets_profile_raises_energy_anomaly(harness: Harness, tmp_path: Path) -> None:
    from sqlalchemy import select

    from api.lighting_energy import EnergyJob
    from api.models import Alarm

    store = EmbeddedStore(tmp_path / "telemetry.sqlite")
    try:
        for back in range(1, 8):       # a week at ~10 kWh a night, then a night at ~5.2 kWh: half the street dark
            start, _ = day_bounds(DAY - dt.timedelta(days=back), HCM)
            await store.write([Sample(kind=DeviceKind.LIGHTING_CABINET, site="tn", device=CABINET, ts=start, seq=0,
                                      values={"day_energy_kwh": 10.0 + back / 10})])
        samples = night_samples(DAY)
        for i in range(0, len(samples), 1000):
            await store.write(samples[i:i + 1000])
        job = EnergyJob(harness.state.sessions, store, HCM, harness.state.alarms)
        (report,) = await job.run_day(DAY)
        assert report.energy_kwh == pytest.approx(5.24, abs=0.01)
        async with harness.state.sessions() as session:
            alarms = list((await session.execute(select(Alarm).where(Alarm.kind == "energy_anomaly"))).scalars())
        assert [(a.device_id, a.active) for a in alarms] == [(CABINET, True)]
        assert alarms[0].detail and alarms[0].detail.startswith("2026-11-22: 5.24 kWh against 10.40 kWh expected")
    finally:
        await store.aclose()
