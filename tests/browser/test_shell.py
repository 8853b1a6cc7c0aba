"""The shell against a live site: sign-in (says "Đăng nhập", not "Connecting…"), the intersection list with live
data in vi and en at desktop and phone sizes, no rebuild under the pointer (focus kept), the heartbeat-driven
staleness indicator under a stalled stream and offline, and no "Live" after the session is lost."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, OpenPage, sign_in
from tests.browser.page_checks import assert_accessible, shot
from tests.browser.site import PASSWORD, LiveSite

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize(("lang", "viewport", "size"), [("vi", DESKTOP, "desktop"), ("en", DESKTOP, "desktop"),
                                                        ("vi", PHONE, "phone"), ("en", PHONE, "phone")])
def test_sign_in_and_the_intersection_list(site: LiveSite, open_page: OpenPage, lang: str,
                                           viewport: dict[str, int], size: str) -> None:
    page = open_page(site.url, lang=lang, viewport=viewport)
    heading = page.get_by_role("heading", name="Đăng nhập" if lang == "vi" else "Sign in")
    expect(heading).to_be_visible()
    expect(page.get_by_text(re.compile("Connecting|Đang kết nối"))).to_have_count(0)
    expect(page.locator("[data-conn]")).to_have_attribute("data-conn", "signed_out")
    assert_accessible(page)
    shot(page, f"shell-sign-in-{lang}-{size}")

    page.get_by_label("Tên đăng nhập" if lang == "vi" else "User name").fill("eng")
    page.get_by_label("Mật khẩu" if lang == "vi" else "Password").fill("not the password")
    page.get_by_role("button", name="Đăng nhập" if lang == "vi" else "Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Sai tên đăng nhập hoặc mật khẩu" if lang == "vi" else "Wrong user name or password")

    sign_in(page, "eng", lang)
    table = page.get_by_test_id("intersections")
    for iid in site.intersections:
        expect(table.locator(f'tr[data-id="{iid}"]')).to_be_visible()
    first = table.locator(f'tr[data-id="{site.intersections[0]}"]')
    expect(first.locator("td").nth(0)).not_to_have_text(re.compile("Chưa rõ|Unknown"))  # a live mode
    expect(first).to_contain_text("trực tuyến" if lang == "vi" else "online")
    expect(page.locator('[data-conn="live"]')).to_have_text("Trực tiếp" if lang == "vi" else "Live")
    assert_accessible(page)
    shot(page, f"shell-intersections-{lang}-{size}")


def test_live_updates_patch_in_place_and_keep_focus(site: LiveSite, open_page: OpenPage) -> None:
    page = open_page(site.url)
    sign_in(page, "ops")
    row = page.locator(f'tr[data-id="{site.intersections[0]}"]')
    expect(row).to_be_visible()
    row.evaluate("el => { el.dataset.marker = 'kept'; }")
    search = page.get_by_role("searchbox")
    search.focus()
    search.press_sequentially("tn-i")
    updated = row.locator("td").last
    first = updated.inner_text()
    # the controller publishes state about twice a second: wait until updates have reached this row
    expect(updated).not_to_have_text(first, timeout=10000)
    assert row.get_attribute("data-marker") == "kept", "the row element was rebuilt"
    assert page.evaluate("() => document.activeElement && document.activeElement.type") == "search"
    assert search.input_value() == "tn-i"


def test_stale_within_two_heartbeats_of_a_stall_and_offline(site: LiveSite, open_page: OpenPage) -> None:
    heartbeat_s = 1.0
    page = open_page(site.url, heartbeat_s=heartbeat_s)
    sign_in(page, "view")
    conn = page.locator("[data-conn]")
    expect(conn).to_have_attribute("data-conn", "live")
    # Stall: the stream's next connections never answer, and the current one is cut (as a dead mobile link does)
    page.route("**/api/v1/stream*", lambda route: None)
    page.context.set_offline(True)
    expect(conn).to_have_attribute("data-conn", "offline", timeout=2 * heartbeat_s * 1000 + 1000)
    expect(conn).to_contain_text("Mất mạng")
    shot(page, "shell-offline-vi-desktop")
    page.context.set_offline(False)
    stalled_at = time.monotonic()
    expect(conn).to_have_attribute("data-conn", "stale", timeout=2 * heartbeat_s * 1000 + 1000)
    assert time.monotonic() - stalled_at <= 2 * heartbeat_s + 1.0
    expect(conn).to_contain_text(re.compile(r"Dữ liệu cũ · dữ liệu lúc \d\d:\d\d:\d\d"))
    shot(page, "shell-stale-vi-desktop")
    page.unroute("**/api/v1/stream*")
    expect(conn).to_have_attribute("data-conn", "live", timeout=20000)


def test_after_a_session_loss_the_header_is_not_live(site: LiveSite, open_page: OpenPage) -> None:
    page = open_page(site.url, lang="en", heartbeat_s=1.0)
    sign_in(page, "view", "en")
    # the session ends on the server's side: every token refused (as after a revoke or an expired refresh)
    page.route("**/api/v1/**", lambda route: route.fulfill(status=401, content_type="application/problem+json",
                                                          body='{"title":"Unauthorized","status":401}'))
    page.evaluate("() => sessionStorage.setItem('sl.access', 'revoked')")
    page.context.set_offline(True)
    page.context.set_offline(False)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=15000)
    conn = page.locator("[data-conn]")
    expect(conn).to_have_attribute("data-conn", "signed_out")
    expect(conn).not_to_have_text("Live")
    expect(page.get_by_text("Your session ended; please sign in again.")).to_be_visible()
    shot(page, "shell-session-lost-en-desktop")



def test_keyboard_only_sign_in_and_open_an_intersection(site: LiveSite, open_page: OpenPage) -> None:
    page = open_page(site.url, lang="en")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("view")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.locator('[data-conn="live"]')).to_be_visible()
    link = page.get_by_role("link", name="Ngã tư Hoàng Văn Thụ – Lương Ngọc Quyến")
    expect(link).to_be_visible()
    for _ in range(40):
        if link.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("the intersection link cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ngã tư Hoàng Văn Thụ – Lương Ngọc Quyến")).to_be_visible()
    expect(page.get_by_text("You may only watch.")).to_be_visible()  # a viewer gets no control buttons
