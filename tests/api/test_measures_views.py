"""The cycle-level views and the before/after comparison on atspm's sample, through the API: the PCD's arrivals on
green agree with atspm's arrivals on green, the cycle-by-cycle greens with atspm's green seconds, and the
comparison sums the stored bins on each side of the deploy time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import atspm

from api.security import Role, issue_token
from controllers.clock import to_rfc3339
from controllers.events import ControllerEvent
from gateways.stores.embedded import EmbeddedStore
from tests.api.events_api import TEST_SECRET, events_api
from tests.api.fakes import FakeClock

START = datetime(2024, 4, 15, 12, 0, tzinfo=UTC)
MID = START + timedelta(hours=1)
END = START + timedelta(hours=2)
FUNCTION_TYPE = {"Presence": "stop_bar", "Advance": "advance", "Yellow_Red": "yellow_red",
                 "stop bar count": "stop_bar_count"}


async def test_pcd_splits_and_before_after(tmp_path: Path) -> None:
    raw = atspm.sample_data.data.df()
    raw = raw[raw.EventId <= 255]
    config = atspm.sample_data.config.df()
    store = EmbeddedStore(tmp_path / "t.sqlite")
    await store.write_events([ControllerEvent("tn", "tsc-1136", ts.to_pydatetime().replace(tzinfo=UTC), i % 256,
                                              int(c), int(p))
                              for i, (ts, c, p) in enumerate(zip(raw.TimeStamp, raw.EventId, raw.Parameter,
                                                                 strict=True))])
    clock = FakeClock()
    engineer, _ = issue_token(TEST_SECRET, subject="e", role=Role.ENGINEER, typ="access",
                              now=clock.now(), ttl_s=600)
    as_engineer = {"Authorization": f"Bearer {engineer}"}
    window = {"start": to_rfc3339(START), "end": to_rfc3339(MID)}
    try:
        async with events_api(tmp_path, store, clock, controller="tsc-1136") as client:
            r = await client.put("/api/v1/intersections/int-1/detectors", headers=as_engineer, json=[
                {"channel": int(d.Parameter), "phase": int(d.Phase), "type": FUNCTION_TYPE[d.Function]}
                for d in config.itertuples()])
            assert r.status_code == 200, r.text
            for a, b in ((START, MID), (MID, END)):
                r = await client.post("/api/v1/intersections/int-1/measures/run", headers=as_engineer,
                                      params={"start": to_rfc3339(a), "end": to_rfc3339(b)})
                assert r.status_code == 200, r.text
            aog = (await client.get("/api/v1/intersections/int-1/measures/platoon_ratio",
                                    params={**window, "phase": 2})).json()["rows"]
            total = sum(row["values"]["Total_Actuations"] for row in aog)
            green = sum(row["values"]["Green_Actuations"] for row in aog)
            green_seconds = sum(row["values"]["Green_Seconds"] for row in aog)

            pcd = await client.get("/api/v1/intersections/int-1/pcd", params={**window, "phase": 2})
            assert pcd.status_code == 200, pcd.text
            body: dict[str, Any] = pcd.json()
            assert body["detectors"] == [{"channel": 2}] and len(body["cycles"]) > 20
            for c in body["cycles"]:
                assert c["green_start_s"] is None or 0 <= c["green_start_s"] < c["length_s"]
            arrivals = body["arrivals"]
            assert all(0 <= a["t_s"] < body["cycles"][a["cycle"]]["length_s"] for a in arrivals)
            # atspm's own count of arrivals and of those on green, within the first and last partial cycles
            assert total - 30 <= len(arrivals) <= total
            on_green = sum(a["on_green"] for a in arrivals)
            assert abs(on_green / len(arrivals) - green / total) < 0.03

            splits = await client.get("/api/v1/intersections/int-1/splits", params=window)
            assert splits.status_code == 200, splits.text
            phase2 = splits.json()["phases"]["2"]
            assert all(abs(s["split_s"] - s["green_s"] - s["yellow_s"] - s["red_clearance_s"]) < 1e-6
                       for s in phase2)
            assert abs(sum(s["green_s"] for s in phase2) - green_seconds) < 0.1 * green_seconds

            r = await client.get("/api/v1/intersections/int-1/measures/actuations/compare",
                                 params={"at": to_rfc3339(MID), "days": 1 / 24})
            assert r.status_code == 200, r.text
            both = r.json()
            for side, (a, b) in (("before", (START, MID)), ("after", (MID, END))):
                rows = (await client.get("/api/v1/intersections/int-1/measures/actuations",
                                         params={"start": to_rfc3339(a), "end": to_rfc3339(b)})).json()["rows"]
                want = {}
                for row in rows:
                    want[row["detector"]] = want.get(row["detector"], 0) + row["values"]["Total"]
                assert {s["detector"]: s["Total"] for s in both[side]["summary"]} == want and want

            r = await client.get("/api/v1/intersections/int-1/pcd", params={**window, "phase": 4})
            assert r.status_code == 422 and "no advance detector" in r.text
    finally:
        await store.aclose()
