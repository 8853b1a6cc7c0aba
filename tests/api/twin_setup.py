"""A small four-leg geometry of the plan tests' intersection tn-001, and its detector configuration."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Harness
from tests.api.plan_fixtures import INTERSECTION

#: NEMA: 2/6 the main street's throughs, 1/5 its lefts; 4/8 the side street's throughs, 3/7 its lefts.
LEGS = (("W", 270, 2, 5), ("E", 90, 6, 1), ("N", 0, 4, 7), ("S", 180, 8, 3))
DETECTORS = [{"channel": 1, "phase": 2, "type": "stop_bar_count"}, {"channel": 2, "phase": 2, "type": "advance"},
             {"channel": 3, "phase": 6, "type": "stop_bar_count"}]


def geometry() -> dict[str, Any]:
    approaches = []
    for leg, bearing, through, left in LEGS:
        detectors = []
        if leg == "W":
            detectors = [{"channel": 1, "lane": 0, "setback_m": 0, "length_m": 6},
                         {"channel": 2, "lane": 0, "setback_m": 60, "length_m": 2}]
        elif leg == "E":
            detectors = [{"channel": 3, "lane": 1, "setback_m": 0}]
        approaches.append({"leg": leg, "bearing_deg": bearing, "length_m": 200, "speed_kph": 40,
                           "lanes": [{"movements": ["left", "through"]}, {"movements": ["through", "right"]}],
                           "phases": {"left": left, "through": through, "right": through}, "detectors": detectors})
    return {"approaches": approaches}


async def put_detectors_and_geometry(h: Harness) -> dict[str, Any]:
    eng = h.token("engineer")
    r = await h.client.put(f"/api/v1/intersections/{INTERSECTION}/detectors", json=DETECTORS, headers=eng)
    assert r.status_code == 200, r.text
    r = await h.client.put(f"/api/v1/intersections/{INTERSECTION}/geometry", json=geometry(), headers=eng)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body
