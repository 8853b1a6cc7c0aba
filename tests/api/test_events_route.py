"""`/api/v1/intersections/{id}/events` on the real stores: window, code/param filters, paging to the end, bad
input refused with its place, the viewer allowed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controllers.clock import to_rfc3339
from controllers.events import ControllerEvent
from gateways.stores.embedded import EmbeddedStore
from gateways.stores.influx import InfluxStore
from tests.api.events_api import events_api
from tests.api.fakes import FakeClock
from tests.servers import InfluxDB


async def _check(tmp_path: Path, store: Any) -> None:
    clock = FakeClock()
    t0 = clock.now().replace(microsecond=0)
    log = [ControllerEvent("tn", "tsc-001", t0 + timedelta(milliseconds=100 * i), i % 256,
                           [1, 8, 10, 82, 81][i % 5], 1 + i % 4) for i in range(1200)]
    log += [ControllerEvent("tn", "tsc-002", t0, 0, 1, 2)]
    await store.write_events(log)
    mine = log[:-1]
    base = {"start": to_rfc3339(t0), "end": to_rfc3339(t0 + timedelta(hours=1))}
    get: Callable[..., Any]
    async with events_api(tmp_path, store, clock) as client:
        get = client.get
        page = await get("/api/v1/intersections/int-1/events", params=base)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["device"] == "tsc-001" and len(body["events"]) == 1000 and body["next_cursor"]
        assert body["events"][0] == {"ts": to_rfc3339(t0), "seq": 0, "code": 1, "param": 1}
        got: list[dict[str, Any]] = []
        cursor = None
        for _ in range(20):
            r = await get("/api/v1/intersections/int-1/events",
                          params={**base, "limit": 250, **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            got += r.json()["events"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert [(e["ts"], e["seq"], e["code"], e["param"]) for e in got] == [
            (to_rfc3339(e.ts), e.seq, e.code, e.param) for e in mine]
        r = await get("/api/v1/intersections/int-1/events",
                      params=[*base.items(), ("codes", "82"), ("codes", "81"), ("params", "2")])
        assert r.status_code == 200, r.text
        want = [e for e in mine if e.code in (81, 82) and e.param == 2]
        assert [(e["code"], e["param"]) for e in r.json()["events"]] == [(e.code, e.param) for e in want]
        assert r.json()["next_cursor"] is None
        for params, where in [({**base, "end": to_rfc3339(t0 + timedelta(days=8))}, "query.end"),
                              ({**base, "end": base["start"]}, "query.end"),
                              ({**base, "cursor": "x"}, "query.cursor"),
                              ({**base, "codes": "256"}, "codes"),
                              ({**base, "limit": "0"}, "limit")]:
            r = await get("/api/v1/intersections/int-1/events", params=params)
            assert r.status_code == 422, (params, r.text)
            assert where in r.text, r.text
        assert (await get("/api/v1/intersections/int-9/events", params=base)).status_code == 404
        r = await get("/api/v1/intersections/int-2/events", params=base)
        assert r.status_code == 404 and "no controller" in r.text


async def test_events_from_the_embedded_store(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "telemetry.sqlite")
    try:
        await _check(tmp_path, store)
    finally:
        await store.aclose()


@pytest.mark.integration
async def test_events_from_influxdb(tmp_path: Path, influxdb: InfluxDB) -> None:
    store = InfluxStore(influxdb.url, influxdb.database)
    try:
        await _check(tmp_path, store)
    finally:
        await store.aclose()
