"""The device list and the alarms screen on the API with a fake bus (served in a thread; no simulator needed): the
fleet with why a device is offline (its gateway named), at phone and desktop sizes in vi and en; an alarm
acknowledged with a note stays in its row, marked with who and the note."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api.served import PASSWORD, Served, serve_api
from tests.browser.conftest import DESKTOP, PHONE, OpenPage
from tests.browser.page_checks import assert_accessible, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    with serve_api(f"sqlite+aiosqlite:///{folder / 'ui.db'}", devices=2, gateway_down=True) as s:
        yield s


def _sign_in(page: Page, user: str, lang: str) -> None:
    page.get_by_label("Tên đăng nhập" if lang == "vi" else "User name").fill(user)
    page.get_by_label("Mật khẩu" if lang == "vi" else "Password").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập" if lang == "vi" else "Sign in").click()
    page.locator('[data-conn="live"]').wait_for()


@pytest.mark.parametrize(("lang", "viewport", "size"), [("vi", PHONE, "phone"), ("en", PHONE, "phone"),
                                                        ("en", DESKTOP, "desktop")])
def test_device_list_says_why_a_device_is_offline(served: Served, open_page: OpenPage, lang: str,
                                                  viewport: dict[str, int], size: str) -> None:
    page = open_page(f"{served.url}/#/devices", lang=lang, viewport=viewport)
    _sign_in(page, "operator", lang)
    expect(page.get_by_test_id("device-summary")).to_have_text(
        "5 thiết bị · 4 trực tuyến" if lang == "vi" else "5 devices · 4 online")
    card = page.locator('li[data-id="tsc-gw"]')
    expect(card.get_by_test_id("reason")).to_have_text(
        "gateway mất kết nối (edge01-a)" if lang == "vi" else "gateway offline (edge01-a)")
    expect(card).to_contain_text("Mất liên lạc" if lang == "vi" else "Communication loss")
    assert_accessible(page)
    shot(page, f"devices-{lang}-{size}")


def test_acknowledge_an_alarm_with_a_note(served: Served, open_page: OpenPage) -> None:
    page = open_page(f"{served.url}/#/alarms", lang="vi")
    _sign_in(page, "operator", "vi")
    table = page.get_by_test_id("alarms")
    row = table.locator("tbody tr").filter(has_text="tsc-gw")
    expect(row).to_contain_text("Mất liên lạc")
    order_before = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.alarm)")
    row.get_by_role("button", name="Xác nhận").click()
    row.get_by_label("Ghi chú xác nhận").fill("Đã báo đội gateway")
    row.get_by_role("button", name="Xác nhận").click()
    expect(row).to_contain_text("operator xác nhận lúc")
    expect(row).to_contain_text("Đã báo đội gateway")
    order_after = table.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.alarm)")
    assert order_after == order_before, "acknowledging does not move rows"
    page.get_by_role("tab", name="Lịch sử").click()
    expect(page.get_by_test_id("alarms").locator("tbody tr").filter(has_text="tsc-gw")).to_contain_text(
        "Đã báo đội gateway")
    page.get_by_role("tab", name="Đang hoạt động").click()
    assert_accessible(page)
    shot(page, "alarms-acknowledged-vi-desktop")


def test_the_page_has_its_csp_and_no_cdn(served: Served, open_page: OpenPage) -> None:
    requested: list[str] = []
    page = open_page("about:blank")
    page.on("request", lambda req: requested.append(req.url))
    response = page.goto(served.url)
    assert response is not None
    assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    assert requested and all(url.startswith(served.url) or url.startswith("data:") for url in requested), requested
    root = Path(__file__).resolve().parents[2] / "api" / "static"
    assert (root / "vendor" / "preact" / "LICENSE").is_file() and (root / "vendor" / "htm" / "LICENSE").is_file()
