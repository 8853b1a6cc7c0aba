"""The corridor preview in the browser: two intersections 400 m apart (east–west) picked in order, the link
prefilled from their coordinates, a REAL corridor run on the twin (SUMO, 600 simulated seconds, one seed), then per
intersection the through movements with their arrivals on green marked, at desktop and phone sizes in vi and en
(the shared link refills the form and shows the result), and the 501 message, once, in the user's language."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.api.twin_setup import geometry
from tests.browser.conftest import DESKTOP, PHONE, OpenPage, sign_in
from tests.browser.page_checks import assert_accessible, shot
from tests.browser.site import LiveSite, example_plan

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

#: Two intersections of their own (the site's two are other tests'), ~414 m apart on one latitude: c1 west of c2.
PLACES = {"tn-c1": ("Ngã tư Lương Ngọc Quyến – Bến Oánh", 21.5900, 105.8400),
          "tn-c2": ("Ngã tư Lương Ngọc Quyến – Đội Cấn", 21.5900, 105.8440)}
WORDS = {"vi": {"title": "Xem trước hành lang", "add": "Thêm", "pick": "Thêm nút giao (đã có hình học)",
               "run": "Chạy mô phỏng hành lang", "duration": "Thời lượng mô phỏng",
               "seeds": "Số lần chạy (hạt giống)", "start": "Bắt đầu lúc",
               "enable": "Quản trị viên bật tính năng này bằng: pip install 'signalight[twin]'"},
         "en": {"title": "Corridor preview", "add": "Add", "pick": "Add an intersection (with a geometry)",
               "run": "Run corridor preview", "duration": "Simulated time", "seeds": "Runs (seeds)",
               "start": "Start at",
               "enable": "An administrator enables it with: pip install 'signalight[twin]'"}}
#: A GET of one preview job.
JOB_READ = re.compile(r"/api/v1/previews/[0-9a-f-]{36}$")
DETAIL_501 = "SUMO is not installed; enable previews with pip install 'signalight[twin]'"
#: The elements reaching past the viewport's right edge (nothing may stick out sideways).
WIDE = """w => [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > w + 1)
    .slice(0, 8).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.fixture(scope="module")
def corridor(site: LiveSite) -> list[str]:
    """Both with the bare geometry (default demand) and the example plan; c2 also a version with a 40 s offset."""
    bare = geometry()
    for a in bare["approaches"]:
        a["detectors"] = []
    for iid, (name, lat, lon) in PLACES.items():
        body = {"id": iid, "site": "tn", "name": name, "lat": lat, "lon": lon}
        made = site.eng.post("/api/v1/intersections", json=body)
        assert made.status_code == 201, made.text
        assert site.eng.put(f"/api/v1/intersections/{iid}/geometry", json=bare).status_code == 200
        assert site.eng.post(f"/api/v1/intersections/{iid}/plans", json=example_plan(iid)).status_code == 201
    plan = example_plan("tn-c2")
    plan["patterns"][0]["offset_s"] = 40
    assert site.eng.post("/api/v1/intersections/tn-c2/plans", json=plan).status_code == 201
    return list(PLACES)


def _pick(page: Page, lang: str) -> None:
    page.get_by_role("link", name=WORDS[lang]["title"]).first.click()
    form = page.get_by_test_id("corridor-form")
    for iid in PLACES:
        form.get_by_label(WORDS[lang]["pick"]).select_option(iid)
        form.get_by_role("button", name=WORDS[lang]["add"], exact=True).click()
        expect(form.locator(f'li[data-id="{iid}"]')).to_be_visible()
    expect(page.get_by_test_id("corridor-none")).to_be_visible()  # nothing left to add, and nothing submitted
    assert "job=" not in page.url


def _check_result(page: Page) -> None:
    members = page.get_by_test_id("corridor-member")
    expect(members).to_have_count(2)
    for iid in PLACES:
        cards = page.locator(f'[data-testid="corridor-member"][data-id="{iid}"] [data-testid="preview-card"]')
        expect(cards).to_have_count(4)  # the through movement of each leg
        expect(cards.locator('tr.pv-key[data-metric="arrivals_on_green"]')).to_have_count(4)
        expect(cards.locator("tr.pv-key")).to_have_count(4)  # nothing else marked
    for iid, version in (("tn-c1", 1), ("tn-c2", 2)):  # the candidate column names the version the hash carries
        head = page.locator(f'[data-testid="corridor-member"][data-id="{iid}"] thead th').nth(2)
        expect(head).to_have_text(re.compile(rf"\s{version}$"))


def _check_form(page: Page, lang: str, distance: float, start: str) -> None:
    """The form as the engineer who ran the preview left it: members in order with their versions, the link,
    start, duration and seeds."""
    form = page.get_by_test_id("corridor-form")
    members = form.locator("ol.cor-members > li")
    expect(members).to_have_count(2)
    assert members.evaluate_all("els => els.map(e => e.dataset.id)") == list(PLACES)
    expect(form.locator('li[data-id="tn-c1"] .cor-member-row select')).to_have_value("1")
    expect(form.locator('li[data-id="tn-c2"] .cor-member-row select')).to_have_value("2")
    link = form.get_by_test_id("corridor-link")
    expect(link.locator("select").nth(0)).to_have_value("E")
    expect(link.locator("select").nth(1)).to_have_value("W")
    expect(link.locator("input")).to_have_value(f"{distance:g}")
    expect(form.get_by_label(WORDS[lang]["start"])).to_have_value(start)
    expect(form.get_by_label(WORDS[lang]["duration"])).to_have_value("10")
    expect(form.get_by_label(WORDS[lang]["seeds"])).to_have_value("1")


def test_real_corridor_preview(site: LiveSite, corridor: list[str], open_page: OpenPage) -> None:
    page = open_page(f"{site.url}/#/", lang="vi")
    sign_in(page, "eng", "vi")
    _pick(page, "vi")
    link = page.get_by_test_id("corridor-link")
    expect(link.locator("select").nth(0)).to_have_value("E")  # c1 leaves east, toward c2
    expect(link.locator("select").nth(1)).to_have_value("W")  # and arrives at c2 from the west
    distance = float(link.locator("input").input_value())
    assert 400 <= distance <= 420, distance  # haversine of 0.004° of longitude at 21.59° N
    # the newest version by default
    expect(page.locator('li[data-id="tn-c2"] .cor-member-row select')).to_have_value("2")
    link.locator("input").fill("380")  # the engineer's own measure of the road, not the straight line
    distance = 380.0
    page.get_by_label("Bắt đầu lúc").fill("2026-12-01T17:30")
    start = page.get_by_label("Bắt đầu lúc").input_value()
    page.get_by_label("Thời lượng mô phỏng").select_option("10")
    page.get_by_label("Số lần chạy (hạt giống)").select_option("1")
    reads: list[str] = []
    page.on("request", lambda r: reads.append(r.url) if r.method == "GET" and JOB_READ.search(r.url) else None)
    page.get_by_role("button", name=WORDS["vi"]["run"]).click()
    expect(page.get_by_test_id("preview-status")).to_have_attribute("data-state", "running", timeout=30000)
    expect(page.get_by_test_id("corridor-result")).to_be_visible(timeout=240000)
    _check_result(page)
    # followed by the stream's events: read when the page took the job's link, and once more when it ended (a 1 s
    # poll would have read it about once a second of the run)
    assert len(reads) <= 2, reads
    job_url = page.url
    job = site.eng.get(f"/api/v1/previews/{job_url.split('job=')[1].split('&')[0]}").json()
    assert job["kind"] == "corridor" and job["state"] == "done", job["state"]
    assert job["request"]["links"] == [{"from_id": "tn-c1", "from_leg": "E", "to_id": "tn-c2", "to_leg": "W",
                                        "distance_m": distance}]
    assert_accessible(page)
    shot(page, "corridor-desktop-vi")
    for lang, viewport in (("en", DESKTOP), ("vi", PHONE), ("en", PHONE)):
        again = open_page(job_url, lang=lang, viewport=viewport)
        sign_in(again, "eng", lang)
        _check_result(again)
        _check_form(again, lang, distance, start)
        wide = again.evaluate(WIDE, viewport["width"])
        assert not wide, wide  # nothing sticks out sideways
        assert_accessible(again)
        shot(again, f"corridor-{'phone' if viewport == PHONE else 'desktop'}-{lang}")
    # a run refused from that link (here a twin gone: 501) takes the link's result off the screen, where it would
    # read as this run's answer
    again.route("**/api/v1/corridors/preview", lambda route: route.fulfill(
        status=501, content_type="application/problem+json",
        body=json.dumps({"title": "Twin not installed", "status": 501, "detail": DETAIL_501})))
    again.get_by_role("button", name=WORDS["en"]["run"]).click()
    expect(again.get_by_test_id("preview-error")).to_have_attribute("data-status", "501")
    expect(again.get_by_test_id("corridor-result")).to_have_count(0)
    expect(again.get_by_test_id("preview-status")).to_have_count(0)


def test_no_twin_installed_says_how_to_enable(site: LiveSite, corridor: list[str], open_page: OpenPage) -> None:
    """The 501 says what to do once, in the user's language, not again in the server's English."""
    def absent(route: Route) -> None:  # the API's own 501 is tested in tests/api; here the screen's answer to it
        route.fulfill(status=501, content_type="application/problem+json", body=json.dumps(
            {"title": "Twin not installed", "status": 501, "detail": DETAIL_501}))
    for lang, viewport in (("vi", PHONE), ("en", DESKTOP)):
        page = open_page(f"{site.url}/#/", lang=lang, viewport=viewport)
        sign_in(page, "eng", lang)
        page.route("**/api/v1/corridors/preview", absent)
        _pick(page, lang)
        page.get_by_role("button", name=WORDS[lang]["run"]).click()
        error = page.get_by_test_id("preview-error")
        expect(error).to_have_attribute("data-status", "501")
        expect(error).to_contain_text(WORDS[lang]["enable"])
        text = error.inner_text()
        assert text.count("pip install") == 1 and DETAIL_501 not in text, text
        shot(page, f"corridor-501-{'phone' if viewport == PHONE else 'desktop'}-{lang}")
