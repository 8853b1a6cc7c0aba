"""The measures page on the live site: two hours of a simulated controller's events (the simulator's own
controller, stepped offline to a morning two hours back, written into the site's real embedded store) for an
intersection whose detector configuration is the simulator's layout; the engineer computes the measures from the
page (atspm in the API) and sees arrivals on green per phase (the numbers the API serves), split failures, detector
volumes and the Purdue coordination diagram; the before/after section lists the intersection's deploys. vi and en
at 1440×900, axe, no console errors, screenshots."""

from __future__ import annotations

import asyncio
import concurrent.futures
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from controllers.clock import to_rfc3339
from controllers.events import ControllerEvent
from firmware_sim.detectors import default_layout
from firmware_sim.signal_controller import SignalController
from gateways.stores.embedded import EmbeddedStore
from hil_tests.rig import eventually
from tests.browser.conftest import PHONE, OpenPage, sign_in
from tests.browser.page_checks import assert_accessible, shot
from tests.browser.site import LiveSite, example_plan

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ICT = ZoneInfo("Asia/Ho_Chi_Minh")
HOURS = 2


def _num(value: float, vi: bool) -> str:
    """One decimal as the page writes it (fmtNum: no trailing zero; "," in Vietnamese)."""
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if vi else text


def _floor15(ts: datetime) -> datetime:
    return ts - timedelta(minutes=ts.minute % 15, seconds=ts.second, microseconds=ts.microsecond)


@pytest.fixture(scope="module")
def seeded(site: LiveSite) -> Iterator[tuple[LiveSite, str, datetime, datetime]]:
    """The second intersection: its detectors as the simulator wires them, and two hours of its controller's events
    ending three hours ago (before the live site started), written into the site's store."""
    iid, sig = site.intersections[1], site.signals[1]
    put = site.eng.put(f"/api/v1/intersections/{iid}/detectors", json=default_layout(range(1, 9)))
    assert put.status_code == 200, put.text
    # a plan deployed now (it activates at the controller's next cycle boundary, while the events are seeded)
    made = site.eng.post(f"/api/v1/intersections/{iid}/plans", json=example_plan(iid))
    assert made.status_code == 201, made.text
    deploy = site.eng.post(f"/api/v1/intersections/{iid}/plans/{made.json()['version']}/deploy")
    assert deploy.status_code == 202, deploy.text
    start = _floor15(datetime.now(UTC) - timedelta(hours=HOURS + 3))
    ctrl = SignalController(sig, start, random.Random(5), offset_s=70)
    events: list[ControllerEvent] = []

    def sink(code: int, param: int, epoch_ms: int) -> None:
        events.append(ControllerEvent("tn", sig, datetime.fromtimestamp(epoch_ms / 1000, UTC), len(events) % 256,
                                      code, param))
    ctrl.event_sink = sink
    for _ in range(HOURS * 36000):
        ctrl.step()
    assert len(events) > 5000
    store_path = Path(site.rig.env["SIGNALIGHT_DATA_DIR"]) / "telemetry.sqlite"

    async def write() -> None:
        store = EmbeddedStore(store_path)
        try:
            await store.write_events(events)
        finally:
            await store.aclose()
    # Playwright's sync API keeps an event loop in this thread: the store's own loop runs in another one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()
    yield site, iid, start, start + timedelta(hours=HOURS)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_measures_page_computes_and_charts_the_measures(seeded: tuple[LiveSite, str, datetime, datetime],
                                                        open_page: OpenPage, lang: str) -> None:
    site, iid, start, end = seeded
    vi = lang == "vi"
    day_from = start.astimezone(ICT).date().isoformat()
    day_to = (end - timedelta(minutes=1)).astimezone(ICT).date().isoformat()   # the PCD draws the range's last day
    page = open_page(f"{site.url}/#/i/{iid}", lang=lang)
    sign_in(page, "eng", lang)
    page.get_by_role("link", name="Chỉ số hiệu quả" if vi else "Performance measures").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chỉ số hiệu quả tín hiệu" if vi
                                                                  else "Signal performance measures")
    page.get_by_label("Từ ngày" if vi else "From", exact=True).fill(day_from)
    page.get_by_label("Đến ngày" if vi else "To", exact=True).fill(day_to)
    page.get_by_role("button", name="Xem" if vi else "Show", exact=True).click()
    page.get_by_role("button", name="Tính chỉ số cho khoảng này" if vi else "Compute measures for this range").click()
    expect(page.get_by_role("status").filter(has_text="Đã tính" if vi else "Computed")).to_be_visible(timeout=90000)

    # arrivals on green: the page's per-phase mean is the API's bins' mean over the page's whole days (they may
    # also hold live events the site's recorder kept today, beside the seeded hours), in the language's format
    shown_from = datetime.combine(date.fromisoformat(day_from), time(0), tzinfo=ICT)
    shown_to = datetime.combine(date.fromisoformat(day_to) + timedelta(days=1), time(0), tzinfo=ICT)
    seeded_rows = site.eng.get(f"/api/v1/intersections/{iid}/measures/arrival_on_green", params={
        "start": to_rfc3339(start), "end": to_rfc3339(end), "phase": 2}).json()["rows"]
    assert len(seeded_rows) == HOURS * 4, seeded_rows
    rows = site.eng.get(f"/api/v1/intersections/{iid}/measures/arrival_on_green", params={
        "start": to_rfc3339(shown_from), "end": to_rfc3339(shown_to), "phase": 2}).json()["rows"]
    mean = sum(100 * r["values"]["Percent_AOG"] for r in rows) / len(rows)
    aog = page.locator('figure[data-chart="aog"]')
    expect(aog.get_by_role("img")).to_be_visible()
    shown = _num(mean, vi)
    expect(aog.locator(".chart-summary li").filter(has_text="Pha 2" if vi else "Phase 2")).to_contain_text(shown)
    for chart in ("split-failures", "volumes"):
        expect(page.locator(f'figure[data-chart="{chart}"]').get_by_role("img")).to_be_visible()
    expect(page.locator('figure[data-chart="volumes"] .chart-summary li').filter(
        has_text="Đầu dò 10" if vi else "Detector 10")).to_be_visible()
    # the PCD of phase 2 on the last day: cycles and arrivals at its advance detector (channel 10)
    pcd = page.locator('figure[data-chart="pcd"]')
    expect(pcd.get_by_role("img")).to_be_visible()
    expect(page.get_by_test_id("pcd-summary")).to_contain_text("chu kỳ" if vi else "cycles")
    assert int(pcd.get_attribute("data-points") or 0) > 50
    # before / after the deploy: the page's table is the API's comparison, phase by phase
    deployment = eventually(lambda: (d := site.eng.get(f"/api/v1/intersections/{iid}/deployments").json()[0])
                            ["status"] == "active" and d, 300, "the deploy to activate", site.rig, interval=2)
    page.reload()
    expect(page.get_by_role("heading", name="So sánh trước / sau khi triển khai phương án" if vi
                            else "Before / after a plan deploy")).to_be_visible()
    page.get_by_label("Số ngày mỗi bên" if vi else "Days each side").select_option("1")
    page.get_by_role("button", name="So sánh" if vi else "Compare", exact=True).click()
    table = page.get_by_test_id("compare")
    expect(table).to_be_visible()
    api = site.eng.get(f"/api/v1/intersections/{iid}/measures/arrival_on_green/compare",
                       params={"at": deployment["finished_at"], "days": 1}).json()
    before = {s["phase"]: s for s in api["before"]["summary"]}
    assert set(before) >= {2, 4, 6, 8}
    for phase in (2, 6):
        cell = table.locator(f'tr[data-phase="{phase}"] td').nth(1)
        expect(cell).to_have_text(_num(100 * before[phase]["Percent_AOG"], vi))
    assert_accessible(page)
    shot(page, f"measures-{lang}-desktop")

    # a range the API refuses to read is refused on the page, naming why
    page.get_by_label("Từ ngày" if vi else "From", exact=True).fill("2026-01-01")
    expect(page.get_by_role("alert")).to_contain_text("31")
    expect(page.get_by_role("button", name="Xem" if vi else "Show", exact=True)).to_be_disabled()


def test_measures_page_fits_a_phone(seeded: tuple[LiveSite, str, datetime, datetime], open_page: OpenPage) -> None:
    site, iid, start, end = seeded
    run = site.eng.post(f"/api/v1/intersections/{iid}/measures/run",
                        params={"start": to_rfc3339(start), "end": to_rfc3339(end)}, timeout=180)  # run alone too
    assert run.status_code == 200, run.text
    day = (end - timedelta(minutes=1)).astimezone(ICT).date().isoformat()
    page = open_page(f"{site.url}/#/i/{iid}/measures?from={day}&to={day}", lang="vi", viewport=PHONE)
    sign_in(page, "eng", "vi")
    expect(page.locator('figure[data-chart="aog"]').get_by_role("img")).to_be_visible()
    expect(page.locator('figure[data-chart="pcd"]').get_by_role("img")).to_be_visible()
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page scrolls sideways: {width} px"
    assert_accessible(page)
    shot(page, "measures-vi-phone")
