"""The twin's geometry in the registry: stored, exported, refused with the field named, kept consistent with the
detector configuration; and the demand built from it and the measured counts."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from api.models import AuditEntry, MeasureBin
from api.twin_demand import DEFAULT_MIX, default_lane_veh_per_h, measured_demand
from controllers.twin.model import IntersectionGeometry, Movement, VehicleClass
from tests.api.conftest import Harness
from tests.api.plan_fixtures import INTERSECTION, add_intersection
from tests.api.twin_setup import DETECTORS, geometry, put_detectors_and_geometry

URL = f"/api/v1/intersections/{INTERSECTION}/geometry"


async def test_geometry_round_trip_refusals_and_roles(harness: Harness) -> None:
    h = harness
    await add_intersection(h)
    eng = h.token("engineer")
    assert (await h.client.get(URL, headers=eng)).status_code == 404
    stored = await put_detectors_and_geometry(h)
    got = await h.client.get(URL, headers=h.token("viewer"))
    assert got.status_code == 200 and got.json() == stored
    assert IntersectionGeometry.model_validate(got.json()) == IntersectionGeometry.model_validate(geometry())

    def bad(change: str) -> dict[str, object]:
        g = geometry()
        if change == "unknown_channel":
            g["approaches"][2]["detectors"] = [{"channel": 9, "lane": 0, "setback_m": 0}]
        elif change == "wrong_phase":
            g["approaches"][2]["detectors"] = [{"channel": 3, "lane": 0, "setback_m": 0}]
        elif change == "lane":
            g["approaches"][1]["detectors"] = [{"channel": 3, "lane": 5, "setback_m": 0}]
        elif change == "phase_missing":
            del g["approaches"][3]["phases"]["right"]
        elif change == "nan":
            g["approaches"][0]["speed_kph"] = float("nan")
        return g

    cases = {"unknown_channel": ("approaches.2.detectors.0.channel", "channel 9 is not in"),
             "wrong_phase": ("approaches.2.detectors.0.channel", "calls phase 6, which serves no movement"),
             "lane": ("approaches.1", "detector 3 is on lane 5"),
             "phase_missing": ("approaches.3", "no phase serves movement(s) right"),
             "nan": ("approaches.0.speed_kph", "finite")}
    for change, (path, words) in cases.items():
        raw = json.dumps(bad(change)).encode()  # NaN as the JSON literal a hostile client sends
        r = await h.client.put(URL, content=raw, headers={**eng, "Content-Type": "application/json"})
        assert r.status_code == 422, (change, r.text)
        errors = r.json()["errors"]
        assert any(path in e["path"] and words in e["message"] for e in errors), (change, errors)
    assert (await h.client.get(URL, headers=eng)).json() == stored  # nothing changed

    deep = copy.deepcopy(geometry())
    deep["approaches"] = deep["approaches"] * 2  # 8 legs: more than 6
    r = await h.client.put(URL, json=deep, headers=eng)
    assert r.status_code == 422 and "approaches" in r.json()["errors"][0]["path"]
    r = await h.client.put(URL, json=geometry(), headers=h.token("operator"))
    assert r.status_code == 403
    async with h.state.sessions() as session:
        audits = list((await session.execute(select(AuditEntry).where(
            AuditEntry.action == "intersection.geometry"))).scalars())
    assert [(a.actor, a.target) for a in audits] == [("engineer", INTERSECTION)]


async def test_demand_same_weekday_mean_of_counts_and_default_elsewhere(harness: Harness) -> None:
    h = harness
    await add_intersection(h)
    await put_detectors_and_geometry(h)
    g = IntersectionGeometry.model_validate(geometry())
    tz = h.state.settings.tz
    start = datetime(2026, 12, 2, 7, 0, tzinfo=tz)  # a Wednesday
    async with h.state.sessions() as session:
        def row(ts: datetime, channel: int, total: int) -> MeasureBin:
            return MeasureBin(intersection_id=INTERSECTION, measure="actuations", bin_start=ts.astimezone(UTC),
                              phase=None, detector=channel, values={"Total": total}, run_start=ts.astimezone(UTC))
        session.add_all([row(start - timedelta(weeks=1), 1, 100), row(start - timedelta(weeks=2), 1, 140),
                         row(start - timedelta(weeks=1), 2, 999),  # the advance loop: the count loop wins
                         row(start - timedelta(days=1), 1, 5000),  # yesterday: another weekday, not used
                         row(start - timedelta(weeks=1, minutes=-15), 3, 50)])  # channel 3, second bin only
        await session.commit()
        demand = await measured_demand(session, INTERSECTION, g, start, 1800, weeks=4)
    assert demand.source == "partial" and demand.vehicle_mix == DEFAULT_MIX
    assert DEFAULT_MIX[VehicleClass.MOTORCYCLE] >= 0.5
    first = {(v.leg, v.movement): v.veh_per_h for v in demand.bins[0].volumes}
    peak = default_lane_veh_per_h(start.time())
    # W lane 0 (left+through) counted: mean(100, 140) × 4 = 480 veh/h split 20:65; lane 1 takes the default
    assert first[("W", Movement.LEFT)] == round(480 * 0.2 / 0.85, 1)
    assert first[("W", Movement.THROUGH)] == round(480 * 0.65 / 0.85 + peak * 0.65 / 0.8, 1)
    assert first[("E", Movement.RIGHT)] == round(peak * 0.15 / 0.8, 1)  # channel 3 has no count in bin 0
    second = {(v.leg, v.movement): v.veh_per_h for v in demand.bins[1].volumes}
    assert second[("E", Movement.RIGHT)] == round(200 * 0.15 / 0.8, 1)
    assert len(demand.bins) == 2

    async with h.state.sessions() as session:
        none = await measured_demand(session, INTERSECTION, g, start + timedelta(hours=3), 900, weeks=4)
    assert none.source == "default"
    day = default_lane_veh_per_h((start + timedelta(hours=3)).time())
    assert day < peak
    assert {v.veh_per_h for v in none.bins[0].volumes} == {  # left, through (two lanes), right on every leg
        round(day * 0.2 / 0.85, 1), round(day * 0.65 / 0.85 + day * 0.65 / 0.8, 1), round(day * 0.15 / 0.8, 1)}
    assert DETECTORS  # the configuration the geometry was checked against
