"""A real preview through the API: the real runner (SUMO) in the worker process, on the small four-leg geometry,
600 simulated seconds, one seed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.api.conftest import open_harness
from tests.api.plan_fixtures import BASE_URL, add_intersection, example_plan, with_cycle
from tests.api.twin_setup import geometry, put_detectors_and_geometry


async def test_real_preview_end_to_end(tmp_path: Path) -> None:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}") as h:
        await add_intersection(h)
        await put_detectors_and_geometry(h)
        eng = h.token("engineer")
        # The geometry as stored: a stop-bar count loop and an advance loop on one lane (a normal layout; SUMO's
        # NEMA controller reads one detector per lane, so the stop-bar one calls and the advance one measures)
        assert len(geometry()["approaches"][0]["detectors"]) > 1
        for cycle in (120, 100):
            r = await h.client.post(BASE_URL, json=with_cycle(example_plan(), 1, cycle), headers=eng)
            assert r.status_code == 201, r.text
        r = await h.client.post(f"{BASE_URL}/2/preview", headers=eng,
                                json={"start": "2026-12-02T07:00:00", "duration_s": 600, "warmup_s": 60,
                                      "seeds": [7]})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        async with asyncio.timeout(300):
            while True:  # waits for SUMO in the worker process
                job = (await h.client.get(f"/api/v1/previews/{job_id}", headers=eng)).json()
                if job["state"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.2)
        assert job["state"] == "done", (job["error"], job["message"])
        result = job["result"]
        assert result["sumo_version"].startswith("1.28") and result["seeds"] == [7]
        variants = {v["variant"]: v["intersections"][0] for v in result["variants"]}
        assert sorted(variants) == ["candidate", "running"]
        for figures in variants.values():
            legs = {a["leg"] for a in figures["approaches"]}
            assert legs == {"N", "E", "S", "W"}
            assert sum(a["vehicles"]["mean"] for a in figures["approaches"]) > 100
            assert all(a["delay_s"]["mean"] >= 0 for a in figures["approaches"])
