"""atspm's own shipped sample event log (its Indiana-coded part, the first hour) through the real intake — MQTT on a
real Mosquitto, the recorder — into the store, its sample detector configuration imported through the API, the
measures computed and read back through the API: the same bins as atspm run directly on the sample."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import atspm
import pytest

from api.measures import MEASURES, measure_row, run_atspm
from api.measures_service import fetch_events
from api.security import Role, issue_token
from controllers.clock import SystemClock, to_rfc3339
from gateways.mqtt import BusConfig
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from tests.api.events_api import TEST_SECRET, events_api
from tests.api.fakes import FakeClock
from tests.gateways.helpers import eventually
from tests.servers import InfluxDB, Mosquitto

START = datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
FUNCTION_TYPE = {"Presence": "stop_bar", "Advance": "advance", "Yellow_Red": "yellow_red",
                 "stop bar count": "stop_bar_count"}


def sample_slice() -> tuple[Any, Any]:
    """The sample's events with Indiana codes (0..255; the rest are vendor codes our contract does not carry) in
    the first hour, and its detector configuration."""
    raw = atspm.sample_data.data.df()
    raw = raw[(raw.EventId <= 255) & (raw.TimeStamp < END.replace(tzinfo=None))].reset_index(drop=True)
    return raw, atspm.sample_data.config.df()


def direct(raw: Any, config: Any) -> dict[str, list[tuple[Any, ...]]]:
    tables = run_atspm(raw, config, incremental=False)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for name in MEASURES:
        rows = [measure_row(name, r) for r in tables[name].to_dict("records")] if name in tables else []
        out[name] = sorted((to_rfc3339(r.bin_start), r.phase, r.detector, json.dumps(r.values, sort_keys=True))
                           for r in rows)
    return out


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["influxdb", "embedded"])
async def test_the_api_serves_the_bins_atspm_computes_on_its_own_sample(
        backend: str, mosquitto: Mosquitto, tmp_path: Path, request: pytest.FixtureRequest,
        caplog: pytest.LogCaptureFixture) -> None:
    raw, config = sample_slice()
    store: InfluxStore | EmbeddedStore
    if backend == "influxdb":
        influx: InfluxDB = request.getfixturevalue("influxdb")
        store = InfluxStore(influx.url, influx.database)
    else:
        store = EmbeddedStore(tmp_path / "telemetry.sqlite")
    try:  # the store is closed whatever fails, so that no connection outlives the test
        caplog.set_level("INFO")
        cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="rec-sample", clean_session=False)
        recorder = asyncio.create_task(run_recorder(bus=cfg, store=store, spool_dir=tmp_path / "spool",
                                                    clock=SystemClock(), batch_size=2000, flush_interval_s=0.2))
        try:
            await eventually(lambda: "recorder_start" in caplog.text)
            async with aiomqtt.Client(mosquitto.host, mosquitto.port, max_queued_outgoing_messages=0) as pub:
                bodies = [json.dumps({"ts": to_rfc3339(ts.to_pydatetime().replace(tzinfo=UTC)), "seq": i % 256,
                                      "code": int(code), "param": int(param)})
                          for i, (ts, code, param) in enumerate(zip(raw.TimeStamp, raw.EventId, raw.Parameter,
                                                                    strict=True))]
                # 100 in flight at a time: aiomqtt's publish costs grow with the messages in flight (9.2 M calls for
                # 18 k publishes at 500), which made this the suite's slowest API test without testing more
                for i in range(0, len(bodies), 100):
                    await asyncio.gather(*(pub.publish("sl/v1/tn/tsc-1136/event", b, qos=1)
                                           for b in bodies[i:i + 100]))
            async with asyncio.timeout(60):
                for _ in iter(int, 1):  # polls the store: the recorder writes in batches
                    if len(await fetch_events(store, "tsc-1136", START, END)) >= len(raw):
                        break
                    await asyncio.sleep(0.2)
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
        clock = FakeClock()
        async with events_api(tmp_path, store, clock, controller="tsc-1136") as client:
            engineer, _ = issue_token(TEST_SECRET, subject="e", role=Role.ENGINEER, typ="access",
                                      now=clock.now(), ttl_s=600)
            as_engineer = {"Authorization": f"Bearer {engineer}"}
            detectors = [{"channel": int(r.Parameter), "phase": int(r.Phase), "type": FUNCTION_TYPE[r.Function]}
                         for r in config.itertuples()]
            r = await client.put("/api/v1/intersections/int-1/detectors", json=detectors, headers=as_engineer)
            assert r.status_code == 200, r.text
            exported = (await client.get("/api/v1/intersections/int-1/detectors")).json()
            assert sorted((d["channel"], d["phase"], d["type"]) for d in exported) == sorted(
                (d["channel"], d["phase"], d["type"]) for d in detectors)
            r = await client.post("/api/v1/intersections/int-1/measures/run", headers=as_engineer,
                                  params={"start": to_rfc3339(START), "end": to_rfc3339(END)})
            assert r.status_code == 200, r.text
            assert r.json()["events"] == len(raw)
            want = direct(raw, config)
            assert sum(len(v) for v in want.values()) > 100  # the sample gives real bins
            for name in MEASURES:
                r = await client.get(f"/api/v1/intersections/int-1/measures/{name}",
                                     params={"start": to_rfc3339(START - timedelta(hours=1)),
                                             "end": to_rfc3339(END)})
                assert r.status_code == 200, r.text
                got = sorted((row["bin_start"], row["phase"], row["detector"],
                              json.dumps(row["values"], sort_keys=True)) for row in r.json()["rows"])
                assert got == want[name], name
    finally:
        await store.aclose()
