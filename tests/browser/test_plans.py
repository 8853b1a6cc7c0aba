"""Timing plans in the browser against a live controller (simulator at 10× speed, so a cycle boundary comes
quickly): edit a plan so one rule fails and see the message at that field, in vi and en; fix it, save, deploy with a
confirmation showing the diff against what runs, watch the stages to "active"; a corrupt transfer shows "rolled
back" with the controller's reason; the side-by-side diff of two versions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from hil_tests.rig import eventually
from tests.browser.conftest import OpenPage, sign_in
from tests.browser.page_checks import assert_accessible, shot
from tests.browser.site import LiveSite, example_plan, live_site

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

YELLOW = 'input[data-path="phases[1].yellow_s"]'


def _deploy_and_wait(site: LiveSite, iid: str, version: int) -> dict[str, Any]:
    dep = site.eng.post(f"/api/v1/intersections/{iid}/plans/{version}/deploy")
    assert dep.status_code == 202, dep.text
    url = f"/api/v1/deployments/{dep.json()['id']}"
    done: dict[str, Any] = eventually(
        lambda: (d := site.eng.get(url).json())["status"] in ("active", "rolled_back", "failed") and d,
        120, f"deployment of version {version}", site.rig)
    return done


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """Version 1 deployed and active on the first intersection, so a deploy has something to be compared with."""
    with live_site(tmp_path_factory.mktemp("plans"), speed=10) as s:
        done = _deploy_and_wait(s, s.intersections[0], 1)
        assert done["status"] == "active", done
        yield s


def _expected_message(site: LiveSite, plan: dict[str, Any], rule: str, lang: str) -> str:
    """The validator's own message for `rule` (the API is the one judge; the UI shows its words)."""
    refused = site.eng.post("/api/v1/plans/validate", json=plan)
    assert refused.status_code == 422, refused.text
    issue = next(e for e in refused.json()["errors"] if e["rule"] == rule)
    message: str = issue["message"][lang]
    return message


def _open_editor(page: Page, lang: str) -> None:
    page.get_by_role("link", name="Sửa thành phiên bản mới" if lang == "vi" else "Edit as a new version").click()
    expect(page.get_by_test_id("validation")).to_have_text("Hợp lệ" if lang == "vi" else "Valid", timeout=10000)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_failed_rule_is_shown_at_its_field(site: LiveSite, open_page: OpenPage, lang: str) -> None:
    iid = site.intersections[0]
    page = open_page(f"{site.url}/#/i/{iid}/plans", lang=lang)
    sign_in(page, "eng", lang)
    _open_editor(page, lang)
    yellow = page.locator(YELLOW)
    yellow.fill("2" if lang == "en" else "2,0")
    bad = example_plan(iid)
    bad["phases"][1]["yellow_s"] = 2.0
    message = _expected_message(site, bad, "yellow_min", lang)
    at_field = page.locator('ul.issues.error[data-path="phases[1].yellow_s"]')
    expect(at_field).to_contain_text(message)
    expect(at_field.locator('li[data-rule="yellow_min"]')).to_have_count(1)
    expect(yellow).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("validation")).to_have_text(re.compile(r"^\d+ (lỗi|errors)$"))
    expect(page.get_by_role("button", name="Lưu phiên bản mới" if lang == "vi" else "Save as a new version")
           ).to_be_disabled()
    # no other field claims the yellow error
    expect(page.locator('li[data-rule="yellow_min"]')).to_have_count(1)
    yellow.scroll_into_view_if_needed()
    assert_accessible(page)
    shot(page, f"plans-editor-rule-at-field-{lang}-desktop")
    yellow.fill("4,5" if lang == "vi" else "4.5")
    expect(page.get_by_test_id("validation")).to_have_text("Hợp lệ" if lang == "vi" else "Valid")
    expect(at_field).to_have_count(0)


def test_fix_save_deploy_watch_stages_to_active(site: LiveSite, open_page: OpenPage) -> None:
    iid = site.intersections[0]
    page = open_page(f"{site.url}/#/i/{iid}/plans", lang="vi")
    sign_in(page, "eng")
    _open_editor(page, "vi")
    page.locator(YELLOW).fill("2")
    expect(page.locator('ul.issues.error[data-path="phases[1].yellow_s"]')).to_be_visible()
    page.locator(YELLOW).fill("4,5")
    expect(page.get_by_test_id("validation")).to_have_text("Hợp lệ")
    page.get_by_label("Ghi chú").fill("vàng pha 2: 4,5 s")
    page.get_by_role("button", name="Lưu phiên bản mới").click()

    versions = page.get_by_test_id("versions")
    new_row = versions.locator("tbody tr").first
    expect(new_row).to_contain_text("vàng pha 2: 4,5 s")
    version = int(new_row.get_attribute("data-version") or 0)
    assert version >= 2
    new_row.get_by_role("button", name="Triển khai").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Triển khai phiên bản {version}?")
    diff = dialog.get_by_test_id("diff")
    expect(diff).to_contain_text("yellow_s")
    expect(diff.locator("td.old").first).to_have_text("4")
    expect(diff.locator("td.new").first).to_have_text("4,5")  # a Vietnamese decimal comma
    shot(page, "plans-deploy-confirm-vi-desktop")
    dialog.get_by_role("button", name="Triển khai").click()

    progress = page.get_by_test_id("deploy-progress")
    expect(progress).to_be_visible()
    seen: set[str] = set()

    def stage() -> str | None:
        status = progress.get_attribute("data-status")
        if status:
            seen.add(status)
        return status if status in ("active", "rolled_back", "failed") else None

    final = eventually(stage, 120, "the deployment to finish on screen", site.rig, interval=0.1)
    assert final == "active", (final, seen, page.get_by_test_id("deploy-outcome").inner_text())
    assert seen & {"transferring", "verifying", "activating"}, f"stages seen on the way: {seen}"
    expect(page.get_by_test_id("deploy-outcome")).to_have_text("Đang chạy")
    expect(progress.locator("li.done")).to_have_count(5)
    expect(versions.locator(f'tr[data-version="{version}"]')).to_contain_text("Đang chạy")
    assert_accessible(page)
    shot(page, "plans-deploy-active-vi-desktop")

    page.goto(f"{site.url}/#/i/{iid}")
    diagram = page.locator("figure.ring-barrier")
    expect(diagram).to_be_visible(timeout=15000)
    expect(diagram.locator("g[data-phase]")).to_have_count(8)
    shot(page, "intersection-ring-barrier-vi-desktop")


def test_a_corrupt_transfer_shows_rolled_back_with_the_reason(site: LiveSite, open_page: OpenPage) -> None:
    iid, signal = site.intersections[0], site.signals[0]
    plan = example_plan(iid)
    plan["phases"][1]["yellow_s"] = 5.0
    created = site.eng.post(f"/api/v1/intersections/{iid}/plans", json=plan, params={"comment": "yellow 5 s"})
    assert created.status_code == 201, created.text
    version = created.json()["version"]
    site.fault(signal, "corrupt_plan_transfer", at="write")
    try:
        page = open_page(f"{site.url}/#/i/{iid}/plans", lang="en")
        sign_in(page, "eng", "en")
        page.get_by_test_id("versions").locator(f'tr[data-version="{version}"]').get_by_role(
            "button", name="Deploy").click()
        page.get_by_role("dialog").get_by_role("button", name="Deploy").click()
        progress = page.get_by_test_id("deploy-progress")
        expect(progress).to_have_attribute("data-status", re.compile("rolled_back|failed"), timeout=120000)
        outcome = page.get_by_test_id("deploy-outcome")
        expect(outcome).to_contain_text(re.compile("Rolled back|Failed"))
        expect(outcome).to_contain_text(re.compile("Reason: (readback_mismatch|crc_mismatch)"))
        assert_accessible(page)
        shot(page, "plans-deploy-rolled-back-en-desktop")
    finally:
        site.fault(signal, "corrupt_plan_transfer", active=False)
    running = site.eng.get(f"/api/v1/intersections/{iid}/plans").json()["active_version"]
    assert running != version, "the old plan keeps running"


def test_side_by_side_diff_of_two_versions(site: LiveSite, open_page: OpenPage) -> None:
    iid = site.intersections[0]
    plan = example_plan(iid)
    plan["patterns"][0]["offset_s"] = 12
    created = site.eng.post(f"/api/v1/intersections/{iid}/plans", json=plan, params={"comment": "offset 12"})
    assert created.status_code == 201, created.text
    page = open_page(f"{site.url}/#/i/{iid}/plans", lang="en")
    sign_in(page, "eng", "en")
    page.get_by_label("From version").select_option("1")
    page.get_by_label("To version").select_option(str(created.json()["version"]))
    diff = page.locator("section").get_by_test_id("diff").last
    row = diff.locator("tr", has_text="offset_s")
    expect(row.locator("td.old")).to_have_text("0")
    expect(row.locator("td.new")).to_have_text("12")
    shot(page, "plans-diff-en-desktop")


def test_export_then_import_json_into_the_editor(site: LiveSite, open_page: OpenPage, tmp_path: Path) -> None:
    iid = site.intersections[0]
    page = open_page(f"{site.url}/#/i/{iid}/plans", lang="en")
    sign_in(page, "eng", "en")
    with page.expect_download() as download:
        page.get_by_test_id("versions").locator('tr[data-version="1"]').get_by_role("button",
                                                                                  name="Export JSON").click()
    saved = tmp_path / "exported.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text(encoding="utf-8"))
    assert exported["intersection_id"] == iid and exported["patterns"][0]["cycle_s"] == 120
    exported["patterns"][0]["offset_s"] = 7
    saved.write_text(json.dumps(exported), encoding="utf-8")
    page.get_by_text("Import JSON").set_input_files(str(saved))
    expect(page.get_by_role("heading", name="Plan editor")).to_be_visible()
    expect(page.get_by_test_id("validation")).to_have_text("Valid", timeout=10000)
    expect(page.locator('input[data-path="patterns[0].offset_s"]')).to_have_value("7")
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json", encoding="utf-8")
    page.goto(f"{site.url}/#/i/{iid}/plans")
    page.get_by_text("Import JSON").set_input_files(str(broken))
    expect(page.get_by_role("alert")).to_contain_text("The file is not valid JSON")
