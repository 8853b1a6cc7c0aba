"""Manual control in the browser against a live controller: hold pattern 2 for 10 min, see who holds it, until when
and the backup timer counting down; release and stay released (the API no longer renews the hold); a conflict flash
labelled as such, not releasable (the panel says why), reset only by an engineer with a reason, refused while its
cause persists."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CONTROL_BACKUP_S, OpenPage, sign_in
from tests.browser.page_checks import assert_accessible, shot
from tests.browser.site import LiveSite

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

BACKUP_S = CONTROL_BACKUP_S


def _backup_seconds(page: Page) -> int:
    text = page.get_by_test_id("backup").inner_text()
    match = re.search(r"(\d+):(\d\d)", text)
    assert match, text
    return int(match.group(1)) * 60 + int(match.group(2))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_hold_pattern_2_for_10_min_then_release_and_stay_released(site: LiveSite, open_page: OpenPage,
                                                                    lang: str) -> None:
    vi = lang == "vi"
    iid, signal = site.intersections[0], site.signals[0]
    page = open_page(f"{site.url}/#/i/{iid}", lang=lang)
    sign_in(page, "ops", lang)
    panel = page.get_by_role("complementary")
    expect(panel.get_by_test_id("control-state")).to_have_text(
        "Đang chạy theo lịch, không có điều khiển thủ công." if vi else "Running its schedule; no manual control.")
    panel.get_by_label("Giữ kịch bản" if vi else "Hold pattern").check()
    panel.get_by_label("Kịch bản" if vi else "Pattern", exact=True).fill("2")
    panel.get_by_label("Thời lượng" if vi else "Duration").select_option("10")
    start = panel.get_by_role("button", name="Bắt đầu" if vi else "Start")
    expect(start).to_be_disabled()  # no reason yet
    panel.get_by_label("Lý do" if vi else "Reason").fill("Lễ hội đường phố" if vi else "Street festival")
    start.click()
    expect(panel.get_by_role("group", name="Xác nhận" if vi else "Confirm")).to_contain_text(
        "Giữ kịch bản 2" if vi else "Hold pattern 2")
    panel.get_by_role("button", name="Xác nhận" if vi else "Confirm").click()

    holder = re.compile(r"ops giữ quyền điều khiển đến .*\d\d:\d\d" if vi else r"ops holds control until .*\d\d:\d\d")
    expect(panel.get_by_test_id("control-state")).to_have_text(holder)
    expect(page.get_by_test_id("mode")).to_have_text("Giữ kịch bản" if vi else "Pattern hold", timeout=30000)
    expect(page.get_by_test_id("pattern")).to_have_text("Kịch bản 2" if vi else "Pattern 2")
    expect(page.get_by_test_id("source")).to_have_text("Trung tâm" if vi else "Central")
    expect(page.get_by_test_id("holder")).to_have_text(holder)
    expect(page.get_by_test_id("backup")).to_be_visible()
    first = _backup_seconds(page)
    assert 0 < first <= BACKUP_S
    page.wait_for_function("() => true")  # let the next state update land
    seen = {first}
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline and len(seen) < 2:
        page.wait_for_timeout(300)
        seen.add(_backup_seconds(page))
    assert len(seen) >= 2, "the backup timer counts down (and is renewed) on screen"
    assert_accessible(page)
    shot(page, f"control-hold-pattern-2-{lang}-desktop")

    panel.get_by_role("button", name="Trả về lịch" if vi else "Release to schedule").click()
    expect(panel.get_by_test_id("control-result")).to_have_text("Thành công" if vi else "Succeeded")
    expect(panel.get_by_test_id("control-state")).to_have_text(
        "Đang chạy theo lịch, không có điều khiển thủ công." if vi else "Running its schedule; no manual control.")
    expect(page.get_by_test_id("source")).to_have_text("Theo lịch" if vi else "Schedule", timeout=30000)
    expect(page.get_by_test_id("mode")).not_to_have_text("Giữ kịch bản" if vi else "Pattern hold", timeout=30000)
    # several renewal periods later it is still released: nothing put the hold back
    released_at = time.monotonic()
    while time.monotonic() - released_at < 2 * BACKUP_S / 3 + 2:
        assert site.values(signal).get("mode") != "manual_hold"
        page.wait_for_timeout(500)
    expect(page.get_by_test_id("mode")).not_to_have_text("Giữ kịch bản" if vi else "Pattern hold")
    expect(page.get_by_test_id("backup")).to_have_count(0)
    assert site.eng.get(f"/api/v1/intersections/{iid}/control").json() == {"active": None}
    shot(page, f"control-released-{lang}-desktop")


def test_conflict_flash_is_labelled_not_releasable_and_reset_by_an_engineer(site: LiveSite,
                                                                            open_page: OpenPage) -> None:
    iid, signal = site.intersections[1], site.signals[1]
    site.fault(signal, "force_conflict")
    try:
        ops = open_page(f"{site.url}/#/i/{iid}", lang="en")
        sign_in(ops, "ops", "en")
        expect(ops.get_by_test_id("mode")).to_have_text("Conflict flash", timeout=30000)
        expect(ops.get_by_test_id("flash-cause")).to_have_text("Conflict flash")
        expect(ops.get_by_text("Flash 30 min")).to_have_count(0)
        panel = ops.get_by_role("complementary")
        expect(panel.get_by_role("button", name="Release to schedule")).to_be_disabled()
        expect(panel.get_by_test_id("conflict-note")).to_contain_text("cannot be released")
        expect(panel.get_by_text("Only an engineer may reset a conflict.")).to_be_visible()
        ops.goto(f"{site.url}/#/")
        row = ops.locator(f'tr[data-id="{iid}"]')
        expect(row).to_contain_text("Conflict flash")
        expect(row).to_contain_text("Conflict flash")  # the alarm badge names it too
        shot(ops, "control-conflict-list-en-desktop")

        eng = open_page(f"{site.url}/#/i/{iid}", lang="vi")
        sign_in(eng, "eng", "vi")
        expect(eng.get_by_test_id("mode")).to_have_text("Nhấp nháy do xung đột pha", timeout=30000)
        panel = eng.get_by_role("complementary")
        expect(panel.get_by_role("button", name="Trả về lịch")).to_be_disabled()
        reset = panel.get_by_role("button", name="Đặt lại xung đột")
        expect(reset).to_be_disabled()  # a reason first
        panel.get_by_label("Lý do").last.fill("Kiểm tra tủ, rơ-le còn dính")
        reset.click()
        expect(panel.get_by_test_id("control-result")).to_have_text(
            "Thiết bị từ chối đặt lại: nguyên nhân xung đột vẫn còn.", timeout=30000)
        assert_accessible(eng)
        shot(eng, "control-conflict-flash-vi-desktop")
    finally:
        site.fault(signal, "force_conflict", active=False)
    reset.click()
    expect(panel.get_by_test_id("control-result")).to_have_text("Thành công", timeout=30000)
    expect(eng.get_by_test_id("mode")).not_to_have_text("Nhấp nháy do xung đột pha", timeout=30000)
