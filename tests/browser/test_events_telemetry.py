"""The event log and the telemetry charts on the live site (simulator, gateway, recorder, API as processes, the
embedded telemetry store): the phase events of the last minute, filtered by phase; a device's charts drawn from
the store's downsampled answer; an intersection without a deployed plan says its running plan is unknown. vi and
en at 1440×900, axe, no console errors."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from hil_tests.rig import eventually
from tests.browser.conftest import OpenPage, sign_in
from tests.browser.page_checks import assert_accessible, shot
from tests.browser.site import LiveSite

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Indiana codes the simulator emits for every phase change (begin green, begin yellow, begin red clearance)
PHASE_CHANGES = {1: ("Bắt đầu xanh", "Phase begin green"), 8: ("Bắt đầu vàng", "Phase begin yellow clearance"),
                 10: ("Bắt đầu đỏ giải toả", "Phase begin red clearance")}


#: 10 s intervals with samples before the charts are opened: a volume chart of at least 3 points needs 4
CHART_INTERVALS = 5
#: the detector counters the volume chart draws from
COUNTS = [f"det{n}_count" for n in range(1, 9)]


def _vehicles(readings: list[float | None]) -> float:
    """Vehicles counted between consecutive readings of one interval's last counter value (no wrap in a test)."""
    return sum(b - a for a, b in pairwise(readings) if a is not None and b is not None and b > a)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _events(site: LiveSite, iid: str, seconds: float, **params: Any) -> list[dict[str, Any]]:
    end = datetime.now(UTC)
    # a connection of its own: the shared client's idle keep-alive connection may be closed under it
    resp = httpx.get(f"{site.url}/api/v1/intersections/{iid}/events", headers=site.eng.headers, timeout=10,
                        params={"start": _iso(end - timedelta(seconds=seconds)), "end": _iso(end), "limit": 1000,
                                **params})
    assert resp.status_code == 200, resp.text
    events: list[dict[str, Any]] = resp.json()["events"]
    return events


@pytest.fixture(scope="module")
def recorded(site: LiveSite) -> Iterator[LiveSite]:
    """The shared site with its recorder running, once the store holds a minute's phase events and telemetry."""
    site.rig.start("recorder", "recorder")
    try:
        iid, sig = site.intersections[0], site.signals[0]
        eventually(lambda: len({e["param"] for e in _events(site, iid, 60, codes=1)}) >= 2, 90,
                   "begin-green events of two phases in the store", site.rig)

        def intervals() -> bool:
            # the charts draw one point per 10 s and a volume is the increase from the interval before: raw
            # samples can all fall in one interval (CI once drew an empty volume chart from three such samples),
            # and at night (the simulator's traffic follows the local hour) a minute can pass without a vehicle
            # (CI once drew a volume chart of zeros at 02:50 local): wait for a counted vehicle too
            end = datetime.now(UTC)
            resp = httpx.get(f"{site.url}/api/v1/devices/{sig}/telemetry", headers=site.eng.headers, timeout=10,
                             params={"field": ["cycle_s", *COUNTS], "start": _iso(end - timedelta(minutes=5)),
                                     "end": _iso(end), "interval_s": 10, "aggregate": "last"})
            if resp.status_code != 200:
                return False
            series = {s["field"]: [v for _, v in s["points"]] for s in resp.json()["series"]}
            return (sum(v is not None for v in series.get("cycle_s", [])) >= CHART_INTERVALS
                    and any(_vehicles(series.get(f, [])) > 0 for f in COUNTS))
        eventually(intervals, 300, f"telemetry in {CHART_INTERVALS} 10 s intervals and a counted vehicle in the "
                   "store", site.rig, interval=2)
        yield site
    finally:
        site.rig.stop("recorder")
        del site.rig.procs["recorder"]  # stopped on purpose: later modules' checks must not take it for a crash


def _rows(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.get_by_test_id("events").locator("tbody tr").evaluate_all(
        "rows => rows.map(r => ({code: r.dataset.code, param: r.dataset.param, text: r.innerText}))")
    return rows


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_event_log_shows_the_last_minutes_phase_events_and_filters_by_phase(recorded: LiveSite,
                                                                           open_page: OpenPage, lang: str) -> None:
    site = recorded
    iid = site.intersections[0]
    vi = lang == "vi"
    page = open_page(f"{site.url}/#/i/{iid}", lang=lang)
    sign_in(page, "eng", lang)
    page.get_by_role("link", name="Nhật ký sự kiện" if vi else "Event log").click()
    expect(page).to_have_url(re.compile(rf"#/i/{iid}/events$"))
    page.get_by_label("Khoảng thời gian" if vi else "Window").select_option(label="1 phút qua" if vi else "Last minute")
    page.get_by_label("Nhóm sự kiện" if vi else "Event group").select_option(label="Pha" if vi else "Phase")
    page.get_by_role("button", name="Tải" if vi else "Load").click()
    expect(page.locator('[data-testid="events"][data-group="phase"] tbody tr').first).to_be_visible()
    rows = _rows(page)
    codes = {int(r["code"]) for r in rows}
    assert codes & set(PHASE_CHANGES), codes
    assert codes <= {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 31, 32, 33, 41, 42, 43, 44, 46, 47, 151}
    for code, names in PHASE_CHANGES.items():
        row = next((r for r in rows if int(r["code"]) == code), None)
        if row is not None:
            assert names[0 if vi else 1] in row["text"]
            assert (f"pha {row['param']}" if vi else f"phase {row['param']}") in row["text"]
    # the page shows the store's events of that minute, in order: its phase-change events are the API's
    api_begin_green = [e for e in _events(site, iid, 75, codes=1)]
    shown_green = [r for r in rows if r["code"] == "1"]
    assert 0 < len(shown_green) <= len(api_begin_green)
    assert_accessible(page)
    shot(page, f"event-log-{lang}-desktop")

    phase = sorted({r["param"] for r in rows if r["code"] == "1"})[0]
    page.get_by_label("Pha / tham số" if vi else "Phase / parameter").fill(phase)
    page.get_by_role("button", name="Tải" if vi else "Load").click()
    expect(page.locator(f'[data-testid="events"][data-params="{phase}"]')).to_be_visible()
    expect(page.get_by_test_id("events").locator(f'tbody tr:not([data-param="{phase}"])')).to_have_count(0)
    filtered = _rows(page)
    assert filtered and {r["param"] for r in filtered} == {phase}
    assert any(r["code"] == "1" for r in filtered)

    page.get_by_label("Pha / tham số" if vi else "Phase / parameter").fill("2x")
    expect(page.get_by_role("alert")).to_contain_text("2x")
    expect(page.get_by_role("button", name="Tải" if vi else "Load")).to_be_disabled()


def test_event_log_pages_with_the_cursor(recorded: LiveSite, open_page: OpenPage) -> None:
    site = recorded
    iid = site.intersections[0]
    total = len(_events(site, iid, 300))
    assert total > 20, "a 5-minute window holds more than a page of 20 events"
    page = open_page(f"{site.url}/#/i/{iid}/events?limit=20", lang="en")
    sign_in(page, "eng", "en")
    expect(page.get_by_test_id("events").locator("tbody tr")).to_have_count(20)
    first_page = _rows(page)
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text(re.compile(r"^Page 2 · "))).to_be_visible()
    second_page = _rows(page)
    assert second_page and second_page[0] != first_page[0]
    page.get_by_role("button", name="Previous page").click()
    expect(page.get_by_text(re.compile(r"^Page 1 · 20 events"))).to_be_visible()
    assert _rows(page)[0] == first_page[0]


def _table(page: Page, chart: str) -> list[list[str]]:
    fig = page.locator(f'figure[data-chart="{chart}"]')
    fig.locator("summary").click()
    rows: list[list[str]] = fig.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.children].map(c => c.innerText))")
    return rows


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_telemetry_charts_come_from_the_store(recorded: LiveSite, open_page: OpenPage, lang: str) -> None:
    site = recorded
    iid, sig = site.intersections[0], site.signals[0]
    vi = lang == "vi"
    page = open_page(f"{site.url}/#/i/{iid}", lang=lang)
    sign_in(page, "eng", lang)
    page.get_by_role("link", name="Biểu đồ đo đạc" if vi else "Telemetry charts").click()
    expect(page).to_have_url(re.compile(rf"#/d/{sig}/telemetry$"))
    page.get_by_label("Khoảng thời gian" if vi else "Window").select_option(
        label="15 phút qua" if vi else "Last 15 minutes")
    expect(page.get_by_test_id("tel-interval")).to_have_text("Mỗi điểm là 10 s" if vi else "One point per 10 s")
    for chart in ("volume", "occupancy", "cycle"):
        fig = page.locator(f'figure[data-chart="{chart}"]')
        expect(fig.locator("canvas").first).to_be_visible()
        assert int(fig.get_attribute("data-points") or 0) >= 3
    assert_accessible(page)
    shot(page, f"telemetry-{lang}-desktop")
    # the cycle chart's table holds the store's 10 s maxima of cycle_s: the controller's cycle length
    cycle_s = site.values(sig)["cycle_s"]
    cycles = [r[1] for r in _table(page, "cycle") if r[1] != "—"]
    assert cycles and set(cycles) == {str(cycle_s)}, (cycles, cycle_s)
    # volumes: differences of a counter, whole vehicles, never negative; at least one vehicle was counted
    volumes = [int(v.replace(".", "").replace(",", "")) for row in _table(page, "volume") for v in row[1:] if v != "—"]
    assert volumes and min(volumes) >= 0 and sum(volumes) > 0
    expect(page.locator('figure[data-chart="cycle"] figcaption')).to_have_text("Chu kỳ" if vi else "Cycle")
    assert_accessible(page)  # with the data tables open


def test_a_lighting_cabinets_charts(recorded: LiveSite, open_page: OpenPage) -> None:
    site = recorded
    cab = next(d["id"] for d in site.eng.get("/api/v1/devices").json() if d["kind"] == "lighting_cabinet")
    page = open_page(f"{site.url}/#/devices", lang="vi")
    sign_in(page, "eng", "vi")
    page.locator(f'li[data-id="{cab}"]').get_by_role("link", name="Biểu đồ đo đạc").click()
    expect(page).to_have_url(re.compile(rf"#/d/{cab}/telemetry$"))
    page.get_by_label("Khoảng thời gian").select_option(label="15 phút qua")
    for chart, caption in (("current", "Dòng điện các mạch"), ("power", "Công suất"),
                           ("energy", "Điện năng dùng (mỗi 10 s)")):
        fig = page.locator(f'figure[data-chart="{chart}"]')
        expect(fig.locator("figcaption")).to_have_text(caption)
        expect(fig.locator("canvas, [data-testid=chart-empty]").first).to_be_visible()
    # the power chart holds the store's 10 s means: at least one interval with a value
    expect(page.locator('figure[data-chart="power"] canvas').first).to_be_visible()
    assert_accessible(page)
    shot(page, "telemetry-cabinet-vi-desktop")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_without_a_deployed_plan_the_running_plan_is_unknown(site: LiveSite, open_page: OpenPage, lang: str) -> None:
    iid = site.intersections[1]  # the site never makes a plan version for it
    assert site.eng.get(f"/api/v1/intersections/{iid}/plans").json()["versions"] == []
    page = open_page(f"{site.url}/#/i/{iid}", lang=lang)
    sign_in(page, "eng", lang)
    expect(page.get_by_test_id("plan-unknown")).to_contain_text(
        "Chưa biết kế hoạch đang chạy" if lang == "vi" else "Running plan unknown")
    expect(page.locator(".ring-barrier")).to_have_count(0)
    assert_accessible(page)
    shot(page, f"intersection-plan-unknown-{lang}-desktop")
