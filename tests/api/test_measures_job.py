"""The periodic measures job on atspm's sample: bin by bin with atspm's carry-over, the stored bins are those of one
pass over the whole sample (where atspm itself is incremental-exact), nothing counted twice at bin edges; a
recomputation replaces, never doubles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import atspm
from sqlalchemy import func, select

from api.db import create_engine, migrate, session_factory
from api.measures import Detector, compute
from api.measures_service import measures_job, run_window
from api.models import DetectorConfig, Intersection, MeasureBin
from controllers.events import ControllerEvent
from gateways.stores.embedded import EmbeddedStore
from tests.api.fakes import FakeClock

START = datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
FUNCTION_TYPE = {"Presence": "stop_bar", "Advance": "advance", "Yellow_Red": "yellow_red",
                 "stop bar count": "stop_bar_count"}
#: atspm's own incremental runs equal its one pass for these (checked here); `split_failures` agrees on cycles,
#: green times and failures while occupancies at a bin edge differ by a few per cent (atspm's red-occupancy window
#: is cut at the run's end), and `full_ped`'s volume estimate and unique actuations span the whole window.
EXACT = ("has_data", "actuations", "arrival_on_green", "platoon_ratio", "yellow_red", "terminations", "ped_delay")


def _key(measure: str, bin_start: datetime, phase: Any, detector: Any, values: dict[str, Any]) -> tuple[Any, ...]:
    return measure, bin_start.astimezone(UTC), phase, detector, json.dumps(values, sort_keys=True)


async def test_the_job_computes_bin_by_bin_as_one_pass_would(tmp_path: Path) -> None:
    raw = atspm.sample_data.data.df()
    raw = raw[raw.EventId <= 255]
    config = atspm.sample_data.config.df()
    events = [ControllerEvent("tn", "tsc-1136", ts.to_pydatetime().replace(tzinfo=UTC), i % 256, int(c), int(p))
              for i, (ts, c, p) in enumerate(zip(raw.TimeStamp, raw.EventId, raw.Parameter, strict=True))]
    detectors = [Detector(int(r.Parameter), int(r.Phase), FUNCTION_TYPE[r.Function]) for r in config.itertuples()]
    store = EmbeddedStore(tmp_path / "t.sqlite")
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    await migrate(db_url)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    try:
        await store.write_events(events)
        async with sessions() as session, session.begin():
            session.add(Intersection(id="int-1", site="tn", name="x", controller_id="tsc-1136", approaches=[],
                                     created_at=START, updated_at=START))
            for d in detectors:
                session.add(DetectorConfig(intersection_id="int-1", channel=d.channel, phase=d.phase, type=d.type,
                                           lane=None, setback_m=0.0))
        clock = FakeClock(START + timedelta(minutes=1))
        runs = []
        for _ in range(8):  # the job every 15 minutes, each run one finished bin
            await clock.advance(15 * 60)
            runs += await measures_job(sessions, store, clock)
        assert [(r.start, r.end) for r in runs] == [(START + timedelta(minutes=15 * k),
                                                     START + timedelta(minutes=15 * (k + 1))) for k in range(8)]
        assert [r.carried_in for r in runs] == [False] + [True] * 7
        assert sum(r.events for r in runs) == len(events)
        async with sessions() as session:
            stored = [_key(b.measure, b.bin_start, b.phase, b.detector, b.values)
                      for b in (await session.execute(select(MeasureBin))).scalars()]
        one = [_key(r.measure, r.bin_start, r.phase, r.detector, r.values) for r in compute(events, detectors).rows]
        for name in EXACT:
            assert sorted(k for k in stored if k[0] == name) == sorted(k for k in one if k[0] == name), name

        def failures(keys: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            return sorted((k[1], k[2], json.loads(k[4])["Green_Time"], json.loads(k[4])["Split_Failure"])
                          for k in keys if k[0] == "split_failures")

        assert failures(stored) == failures(one) and failures(one)
        # A recomputation of a window replaces the rows of the runs inside it.
        async with sessions() as session:
            before = await session.scalar(select(func.count()).select_from(MeasureBin))
        await run_window(sessions, store, "int-1", "tsc-1136", START, START + timedelta(hours=2))
        async with sessions() as session:
            after = await session.scalar(select(func.count()).select_from(MeasureBin))
            days = (await session.execute(select(MeasureBin.measure, func.count()).where(
                MeasureBin.measure == "actuations").group_by(MeasureBin.measure))).all()
        assert after is not None and before is not None and abs(after - before) < 20
        assert days == [("actuations", len([k for k in one if k[0] == "actuations"]))]
    finally:
        await engine.dispose()
        await store.aclose()


async def test_the_api_schedules_the_job_one_minute_after_each_bin_when_its_store_keeps_events(
        tmp_path: Path) -> None:
    from api.app import ApiDeps, create_app
    from api.config import ApiSettings
    from api.measures_schedule import JOB_ID
    from tests.api.fakes import FakeBus, FakeTelemetry

    store = EmbeddedStore(tmp_path / "t.sqlite")
    settings = ApiSettings(db_url=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}")
    try:
        app = create_app(ApiDeps(settings, FakeBus(), store, FakeClock()))
        async with app.router.lifespan_context(app):
            job = app.state.measures.get_job(JOB_ID)
            assert job.next_run_time.minute in (1, 16, 31, 46) and job.next_run_time.second == 0
            assert job.max_instances == 1
        app = create_app(ApiDeps(settings, FakeBus(), FakeTelemetry(), FakeClock()))
        async with app.router.lifespan_context(app):
            assert app.state.measures is None
    finally:
        await store.aclose()


async def test_one_replica_runs_the_job_the_lease_passes_on_when_its_holder_stops(tmp_path: Path) -> None:
    from api.measures_service import LEASE_TTL

    store = EmbeddedStore(tmp_path / "t.sqlite")
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'api.db'}"
    await migrate(db_url)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    try:
        ts = START + timedelta(minutes=3)
        await store.write_events([ControllerEvent("tn", "tsc-1", ts, 1, 82, 2)])
        async with sessions() as session, session.begin():
            session.add(Intersection(id="int-1", site="tn", name="x", controller_id="tsc-1", approaches=[],
                                     created_at=START, updated_at=START))
        clock = FakeClock(START + timedelta(minutes=16))
        first = await measures_job(sessions, store, clock, holder="api-a")
        second = await measures_job(sessions, store, clock, holder="api-b")
        assert [r.intersection for r in first] == ["int-1"] and second == [], "one replica computes"
        await clock.advance(15 * 60)
        assert len(await measures_job(sessions, store, clock, holder="api-a")) == 1, "its holder keeps it"
        assert await measures_job(sessions, store, clock, holder="api-b") == []
        # api-a stops: after the lease's time the other replica takes over, from the carry-over (no bin twice)
        await clock.advance(LEASE_TTL.total_seconds() + 1)
        took = await measures_job(sessions, store, clock, holder="api-b")
        assert took and took[0].start == START + timedelta(minutes=30) and took[0].carried_in
        assert await measures_job(sessions, store, clock, holder="api-a") == []
    finally:
        await engine.dispose()
        await store.aclose()
