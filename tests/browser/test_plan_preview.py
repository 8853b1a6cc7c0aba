"""The plan preview in the browser: a REAL preview on the twin (SUMO, 600 simulated seconds, one seed) of a new
version of the shared site's first intersection against the version that runs, followed by the stream's events (the
job is read once, when it ends), then the side-by-side comparison per approach and movement at desktop and phone
sizes in vi and en (a reload finds the job); the editor's unsaved draft previewed with the stream down (the slow
poll takes over); and the 501 message, once, in the user's language."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.api.twin_setup import geometry
from tests.browser.conftest import DESKTOP, PHONE, OpenPage, sign_in
from tests.browser.page_checks import SCREENSHOTS, assert_accessible, shot
from tests.browser.site import PASSWORD, LiveSite, example_plan

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

WORDS = {"vi": {"preview": "Xem trước", "run": "Chạy xem trước", "movement": "Theo hướng rẽ",
                "better": "tốt hơn", "worse": "kém hơn", "previous": "so với phiên bản trước đó (1)",
                "enable": "Quản trị viên bật tính năng này bằng: pip install 'signalight[twin]'"},
         "en": {"preview": "Preview", "run": "Run preview", "movement": "By movement",
                "better": "better", "worse": "worse", "previous": "compared with the previous version (1)",
                "enable": "An administrator enables it with: pip install 'signalight[twin]'"}}
#: A GET of one preview job (not the list of an intersection's jobs).
JOB_READ = re.compile(r"/api/v1/previews/[0-9a-f-]{36}$")
#: The API's own 501 detail (English, whatever the user's language).
DETAIL_501 = "SUMO is not installed; enable previews with pip install 'signalight[twin]'"


@pytest.fixture(scope="module")
def candidate(site: LiveSite) -> tuple[str, int]:
    """The first intersection with a geometry (no detectors: default demand) and a version with a shorter cycle."""
    iid = site.intersections[0]
    bare = geometry()
    for a in bare["approaches"]:
        a["detectors"] = []
    put = site.eng.put(f"/api/v1/intersections/{iid}/geometry", json=bare)
    assert put.status_code == 200, put.text
    plan = example_plan(iid)
    for pat in plan["patterns"]:
        if pat["pattern"] == 1:
            pat["cycle_s"] -= 20
            pat["splits_s"]["2"] -= 10
            pat["splits_s"]["6"] -= 10
            pat["splits_s"]["4"] -= 10
            pat["splits_s"]["8"] -= 10
    made = site.eng.post(f"/api/v1/intersections/{iid}/plans", json=plan, params={"comment": "chu kỳ ngắn hơn"})
    assert made.status_code == 201, made.text
    return iid, int(made.json()["version"])


def _open_preview(page: Page, version: int, lang: str) -> None:
    row = page.locator(f'tr[data-version="{version}"]')
    row.get_by_role("button", name=WORDS[lang]["preview"], exact=True).click()
    expect(page.get_by_test_id("preview-panel")).to_be_visible()


def _check_result(page: Page, lang: str, timeout_ms: float = 10000) -> None:
    result = page.get_by_test_id("preview-result")
    expect(result).to_be_visible(timeout=timeout_ms)
    expect(page.get_by_test_id("preview-baseline")).to_contain_text(WORDS[lang]["previous"])
    cards = page.get_by_test_id("preview-card")
    expect(cards).to_have_count(4)
    first = cards.first
    expect(first.locator('tr[data-metric="delay_s"] td')).to_have_count(3)
    # every compared figure has a verdict, and a coloured one says so in words
    verdicts = page.locator(".pv-diff[data-verdict]").evaluate_all("els => els.map(e => e.dataset.verdict)")
    assert verdicts and set(verdicts) <= {"better", "worse", "same", "none"}, verdicts
    if "better" in verdicts:
        expect(page.locator('.pv-diff[data-verdict="better"]').first).to_contain_text(WORDS[lang]["better"])
    if "worse" in verdicts:
        expect(page.locator('.pv-diff[data-verdict="worse"]').first).to_contain_text(WORDS[lang]["worse"])


def test_real_preview_then_comparison(site: LiveSite, candidate: tuple[str, int], open_page: OpenPage) -> None:
    iid, version = candidate
    page = open_page(f"{site.url}/#/i/{iid}/plans", lang="vi")
    sign_in(page, "eng", "vi")
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if r.method == "GET" and JOB_READ.search(r.url) else None)
    _open_preview(page, version, "vi")
    panel = page.get_by_test_id("preview-panel")
    panel.get_by_label("Thời lượng mô phỏng").select_option("10")
    panel.get_by_label("Số lần chạy (hạt giống)").select_option("1")
    panel.get_by_role("button", name=WORDS["vi"]["run"]).click()
    expect(page.get_by_test_id("preview-status")).to_have_attribute("data-state", "running", timeout=30000)
    _check_result(page, "vi", 180000)  # the polled job reaches done: SUMO takes seconds, more on a busy machine
    job: dict[str, Any] = site.eng.get(f"/api/v1/intersections/{iid}/previews", params={"version": version}).json()[0]
    assert job["state"] == "done" and job["request"]["duration_s"] == 600 and job["request"]["seeds"] == [1]
    assert job["result"]["sumo_version"].startswith("1.28")
    took = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["created_at"])
    # the stream said queued, running, progress and done; the job was read once, for its result (a 1 s poll would
    # have read it about once a second of the run)
    assert len(reads) == 1, (reads, took)
    delay = job["result"]["variants"][0]["intersections"][0]["approaches"][0]["delay_s"]["mean"]
    shown = page.get_by_test_id("preview-card").first.locator('tr[data-metric="delay_s"] .pv-mean')
    expect(shown.first).to_be_visible()
    assert delay >= 0
    assert_accessible(page)
    shot(page, "preview-desktop-vi")
    page.get_by_role("button", name=WORDS["vi"]["movement"]).click()
    expect(page.get_by_test_id("preview-card")).to_have_count(12)
    shot(page, "preview-movements-desktop-vi")
    # the stream's preview events are jobs: none became a device named after the intersection
    page.evaluate("() => { location.hash = '#/devices'; }")
    expect(page.get_by_test_id("devices").locator("li").first).to_be_visible()
    expect(page.locator(f'[data-testid="devices"] li[data-id="{iid}"]')).to_have_count(0)


@pytest.mark.parametrize(("lang", "viewport"), [("vi", PHONE), ("en", PHONE), ("en", DESKTOP)])
def test_reload_shows_the_comparison(site: LiveSite, candidate: tuple[str, int], open_page: OpenPage, lang: str,
                                     viewport: dict[str, int]) -> None:
    iid, version = candidate
    if not site.eng.get(f"/api/v1/intersections/{iid}/previews", params={"version": version}).json():
        pytest.fail("test_real_preview_then_comparison runs first and leaves its job")
    page = open_page(f"{site.url}/#/i/{iid}/plans", lang=lang, viewport=viewport)
    sign_in(page, "eng", lang)
    _open_preview(page, version, lang)
    _check_result(page, lang)
    wide = page.evaluate("""w => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > w + 1).slice(0, 8)
        .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""", viewport["width"])
    assert not wide, wide  # nothing sticks out sideways
    assert_accessible(page)
    name = f"preview-{'phone' if viewport == PHONE else 'desktop'}-{lang}"
    shot(page, name)
    page.get_by_test_id("preview-card").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"{name}-card.png"))  # the first card as the eye sees it


def test_editor_previews_its_unsaved_draft_with_the_stream_down(site: LiveSite, candidate: tuple[str, int],
                                                                open_page: OpenPage) -> None:
    """An engineer edits the offset and previews the edit before saving it, on a phone whose event stream cannot
    connect (bad network): the job is read by the slow poll instead, and the comparison shows."""
    iid, version = candidate
    page = open_page(f"{site.url}/#/i/{iid}/plans/edit?from={version}", lang="vi", viewport=PHONE)
    page.route("**/api/v1/stream**", lambda route: route.abort("internetdisconnected"))
    page.get_by_label("Tên đăng nhập").fill("eng")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    offset = page.locator('input[data-path="patterns[0].offset_s"]')
    offset.fill("17")
    expect(page.get_by_test_id("validation")).to_have_text("Hợp lệ")
    page.get_by_role("button", name="Xem trước bản nháp").click()
    panel = page.get_by_test_id("preview-panel")
    expect(panel.get_by_role("heading", level=3)).to_have_text("Xem trước bản nháp (chưa lưu) trên mô phỏng")
    expect(panel.get_by_role("button", name="Triển khai", exact=False)).to_have_count(0)  # a draft is saved first
    panel.get_by_label("Thời lượng mô phỏng").select_option("10")
    panel.get_by_label("Số lần chạy (hạt giống)").select_option("1")
    panel.get_by_role("button", name=WORDS["vi"]["run"]).click()
    expect(page.get_by_test_id("preview-result")).to_be_visible(timeout=180000)
    expect(page.locator('[data-conn="live"]')).to_have_count(0)  # the stream never came up: the poll did it
    job: dict[str, Any] = site.eng.get(f"/api/v1/intersections/{iid}/previews", params={"limit": 1}).json()[0]
    assert job["version"] is None and job["state"] == "done", job
    plans = job["request"]["intersections"][0]["plans"]
    assert plans["candidate"]["patterns"][0]["offset_s"] == 17
    assert plans["running"]["patterns"][0]["offset_s"] != 17
    expect(page.get_by_test_id("preview-card").first.locator("thead th").nth(2)).to_have_text("Bản nháp")
    versions = site.eng.get(f"/api/v1/intersections/{iid}/plans").json()["versions"]
    assert max(v["version"] for v in versions) == version  # nothing was saved
    wide = page.evaluate("""w => [...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.scroll')).slice(0, 8)
        .map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)""", PHONE["width"])
    assert not wide, wide
    assert_accessible(page)
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "preview-draft-phone-vi.png"))


def test_no_twin_installed_says_how_to_enable(site: LiveSite, candidate: tuple[str, int],
                                              open_page: OpenPage) -> None:
    """The 501 says what to do once, in the user's language, not again in the server's English."""
    iid, version = candidate

    def absent(route: Route) -> None:  # the API's own 501 is tested in tests/api; here the screen's answer to it
        route.fulfill(status=501, content_type="application/problem+json", body=json.dumps(
            {"title": "Twin not installed", "status": 501, "detail": DETAIL_501}))
    for lang, viewport in (("en", PHONE), ("vi", DESKTOP)):
        page = open_page(f"{site.url}/#/i/{iid}/plans", lang=lang, viewport=viewport)
        sign_in(page, "eng", lang)
        page.route(f"**/api/v1/intersections/{iid}/plans/{version}/preview", absent)
        _open_preview(page, version, lang)
        # the version's latest preview (the module's first test) is shown until a run is asked for
        expect(page.get_by_test_id("preview-result")).to_be_visible()
        page.get_by_role("button", name=WORDS[lang]["run"]).click()
        error = page.get_by_test_id("preview-error")
        expect(error).to_have_attribute("data-status", "501")
        # ... and then no longer, where it would read as this run's answer
        expect(page.get_by_test_id("preview-result")).to_have_count(0)
        expect(page.get_by_test_id("preview-baseline")).to_have_count(0)
        expect(error).to_contain_text(WORDS[lang]["enable"])
        text = error.inner_text()
        assert text.count("pip install") == 1 and DETAIL_501 not in text, text
        shot(page, f"preview-501-{'phone' if viewport == PHONE else 'desktop'}-{lang}")
    # a worker that finds no SUMO fails its job with `twin_unavailable`: said once too, not again as the message
    failed = {"id": "00000000-0000-4000-8000-000000000501", "kind": "intersection", "intersection_id": iid,
              "version": version, "baseline": "previous", "baseline_version": 1, "state": "failed", "progress": 0.0,
              "demand_sources": {}, "result": None, "error": "twin_unavailable", "message": DETAIL_501,
              "requested_by": "eng", "created_at": "2026-12-02T00:00:00Z", "started_at": None,
              "finished_at": None, "request": {}}
    page.unroute(f"**/api/v1/intersections/{iid}/plans/{version}/preview")
    page.route(f"**/api/v1/intersections/{iid}/plans/{version}/preview",
               lambda route: route.fulfill(status=202, content_type="application/json", body=json.dumps(failed)))
    page.get_by_role("button", name=WORDS["vi"]["run"]).click()
    status = page.get_by_test_id("preview-status")
    expect(status).to_have_attribute("data-error", "twin_unavailable")
    expect(status).to_contain_text(WORDS["vi"]["enable"])
    text = status.inner_text()
    assert text.count("pip install") == 1 and DETAIL_501 not in text, text
