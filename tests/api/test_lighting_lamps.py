"""`/api/v1/lighting/lamp-life`: hours burnt (the cabinet's newest counter) against the rated life its birth
declares, the circuits nearing their end of life, role and store failures."""

from __future__ import annotations

import datetime as dt

from tests.api.conftest import Harness

CABINET = "lc-001"


async def test_lamp_life_reports_circuits_nearing_end_of_life(harness: Harness) -> None:
    birth = {"ts": "2026-11-23T07:00:00.000Z", "bd_seq": 2, "kind": "lighting_cabinet", "model": "sim-lc",
             "firmware": "1.0", "capabilities": ["switch"], "transport": "modbus", "circuits": 3,
             "loads": [{"circuit": 1, "luminaires": 20, "rated_w": 100, "rated_life_h": 50000},
                       {"circuit": 2, "luminaires": 12, "rated_w": 150, "rated_life_h": 50000},
                       {"circuit": 3, "luminaires": 8, "rated_w": 60}]}
    await harness.bus.publish(f"sl/v1/tn/{CABINET}/birth", birth, retain=True)
    await harness.settle()
    now = harness.clock.now()
    old, new = now - dt.timedelta(hours=30), now - dt.timedelta(minutes=5)
    harness.telemetry.samples[(CABINET, "circuit1_burning_h")] = [(old, 12_000.0), (new, 12_010.5)]
    harness.telemetry.samples[(CABINET, "circuit2_burning_h")] = [(new, 45_500.0)]
    harness.telemetry.samples[(CABINET, "circuit3_burning_h")] = [(new, 30_000.0)]
    viewer = harness.token("viewer")

    resp = await harness.client.get("/api/v1/lighting/lamp-life", headers=viewer)
    assert resp.status_code == 200, resp.text
    (cabinet,) = resp.json()["cabinets"]
    one, two, three = cabinet["circuits"]
    assert (one["burning_h"], one["used_pct"], one["remaining_h"], one["status"]) == (12_010.5, 24.02, 37_989.5,
                                                                                    "ok")
    assert (two["used_pct"], two["status"], two["luminaires"]) == (91.0, "nearing_eol", 12)
    assert two["burning_h_at"] is not None
    assert (three["rated_life_h"], three["status"]) == (None, "unknown")   # no rated life declared

    nearing = (await harness.client.get("/api/v1/lighting/lamp-life", headers=viewer,
                                        params={"nearing_only": "true"})).json()
    assert [(c["device_id"], [x["circuit"] for x in c["circuits"]]) for c in nearing["cabinets"]] == [(CABINET, [2])]
    stricter = (await harness.client.get("/api/v1/lighting/lamp-life", headers=viewer,
                                         params={"nearing_only": "true", "nearing_pct": 95})).json()
    assert stricter["cabinets"] == []
    assert (await harness.client.get("/api/v1/lighting/lamp-life", headers=viewer,
                                     params={"nearing_pct": 0})).status_code == 422
    assert (await harness.client.get("/api/v1/lighting/lamp-life")).status_code == 401
    harness.telemetry.fail = True
    down = await harness.client.get("/api/v1/lighting/lamp-life", headers=viewer)
    assert down.status_code == 503 and "telemetry store" in down.text


async def test_a_cabinet_silent_for_a_week_has_no_reading(harness: Harness) -> None:
    now = harness.clock.now()
    harness.telemetry.samples[(CABINET, "circuit1_burning_h")] = [(now - dt.timedelta(days=8), 100.0)]
    resp = await harness.client.get("/api/v1/lighting/lamp-life", headers=harness.token("viewer"),
                                    params={"device": CABINET})
    first = resp.json()["cabinets"][0]["circuits"][0]
    assert (first["burning_h"], first["burning_h_at"], first["status"]) == (None, None, "unknown")


async def test_relamping_restarts_a_circuits_lamp_life_with_who_and_why(harness: Harness) -> None:
    await harness.register({CABINET: "lighting_cabinet"})
    birth = {"ts": "2026-11-23T07:00:00.000Z", "bd_seq": 2, "kind": "lighting_cabinet", "model": "sim-lc",
             "firmware": "1.0", "capabilities": ["switch"], "transport": "mqtt", "circuits": 2,
             "loads": [{"circuit": 1, "luminaires": 20, "rated_w": 100, "rated_life_h": 50000},
                       {"circuit": 2, "luminaires": 12, "rated_w": 150, "rated_life_h": 50000}]}
    await harness.bus.publish(f"sl/v1/tn/{CABINET}/birth", birth, retain=True)
    await harness.settle()
    now = harness.clock.now()
    samples = harness.telemetry.samples
    samples[(CABINET, "circuit1_burning_h")] = [(now - dt.timedelta(minutes=5), 49_000.0)]
    samples[(CABINET, "circuit2_burning_h")] = [(now - dt.timedelta(minutes=5), 100.0)]
    crew = harness.token("crew")
    url = f"/api/v1/lighting/cabinets/{CABINET}/circuits/1/relamp"
    assert (await harness.client.post(url, json={"reason": ""}, headers=crew)).status_code == 422
    assert (await harness.client.post(url.replace("/1/", "/3/"), json={"reason": "x"},
                                      headers=crew)).status_code == 422
    assert (await harness.client.post(url, json={"reason": "x"},
                                      headers=harness.token("viewer"))).status_code == 403
    done = await harness.client.post(url, json={"reason": "hết tuổi thọ"}, headers=crew)
    assert done.status_code == 201, done.text
    assert (done.json()["burning_h"], done.json()["done_by"]) == (49_000.0, "crew")
    # 12 h later the cabinet's counter reads 49,012: the new luminaires have burnt 12 h
    samples[(CABINET, "circuit1_burning_h")].append((now + dt.timedelta(hours=12), 49_012.0))
    await harness.clock.advance(12 * 3600 + 60)
    life = (await harness.client.get("/api/v1/lighting/lamp-life", headers=harness.token("crew"),
                                     params={"device": CABINET})).json()["cabinets"][0]["circuits"]
    assert (life[0]["burning_h"], life[0]["status"], life[0]["relamped_on"]) == (
        12.0, "ok", done.json()["relamped_on"])
    assert (life[1]["burning_h"], life[1]["relamped_on"]) == (100.0, None)
    audit = (await harness.client.get("/api/v1/audit", headers=harness.token("admin"),
                                      params={"action": "lighting.relamp"})).json()
    entries = audit if isinstance(audit, list) else audit.get("entries", audit.get("items", []))
    assert [(e["actor"], e["detail"]["reason"]) for e in entries if e["action"] == "lighting.relamp"] == [
        ("crew", "hết tuổi thọ")]
