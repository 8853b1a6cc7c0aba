"""Work orders and citizens' reports in Chromium at 390×844 in Vietnamese, on the API with a fake bus: a cabinet's
door alarm becomes a work order that a crew takes to resolved (with a photo; the alarm stays, the device still
reports it); a citizen's report on the public page (no account) becomes an order in review that a dispatcher
assigns, and the citizen's lookup follows it."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from api.security import Role
from tests.api.served import PASSWORD, Served, serve_api
from tests.browser.conftest import DESKTOP, PHONE, OpenPage
from tests.browser.page_checks import assert_accessible, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CABINET = {"lat": 21.5942, "lon": 105.8482}


def png(width: int = 8, height: int = 8) -> bytes:
    """A real grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("orders")
    with serve_api(f"sqlite+aiosqlite:///{folder / 'orders.db'}", devices=1, door_open=True) as s:
        manifest = {"format": "signalight.manifest/v1", "site": "tn", "devices": [
            {"id": "lc-000", "site": "tn", "kind": "lighting_cabinet", "transport": "mqtt", "location": CABINET}]}
        resp = httpx.post(f"{s.url}/api/v1/devices/import", json=manifest, headers=s.headers(Role.ENGINEER))
        assert resp.status_code == 200, resp.text
        yield s


def sign_in(page: Page, user: str) -> None:
    page.get_by_label("Tên đăng nhập").fill(user)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.locator('[data-conn="live"]').wait_for()


def step(page: Page, action: str) -> None:
    page.locator(f'button[data-action="{action}"]').click()


def test_alarm_to_resolved_work_order(served: Served, open_page: OpenPage) -> None:
    dispatcher = open_page(f"{served.url}/#/alarms", lang="vi", viewport=PHONE)
    sign_in(dispatcher, "operator")
    row = dispatcher.get_by_test_id("alarms").locator("tbody tr").filter(has_text="lc-000")
    expect(row).to_contain_text("Cửa tủ mở")
    row.get_by_role("button", name="Tạo lệnh công tác").click()
    expect(dispatcher).to_have_url(f"{served.url}/#/orders/1")
    expect(dispatcher.get_by_role("heading", level=1)).to_have_text("Lệnh #1 · Cửa tủ mở")
    step(dispatcher, "assign")
    dispatcher.get_by_test_id("wo-assignee").fill("crew")
    dispatcher.locator('button[data-confirm="assign"]').click()
    expect(dispatcher.locator(".wo-head [data-state]")).to_have_text("Đã giao")
    assert_accessible(dispatcher)
    shot(dispatcher, "work-order-assigned-vi-phone")
    dispatcher.goto(f"{served.url}/#/alarms")
    expect(row.get_by_role("link", name="Lệnh #1")).to_be_visible()
    assert_accessible(dispatcher)
    shot(dispatcher, "alarms-with-work-order-vi-phone")

    crew = open_page(f"{served.url}/#/orders", lang="vi", viewport=PHONE)
    sign_in(crew, "crew")
    card = crew.get_by_test_id("work-orders").locator('li[data-order="1"]')
    expect(card).to_contain_text("Đã giao")
    assert_accessible(crew)
    shot(crew, "work-orders-crew-list-vi-phone")
    card.get_by_role("link").click()
    for action, state in (("accept", "Đã nhận"), ("travel", "Đang đến"), ("arrive", "Tại hiện trường")):
        step(crew, action)
        expect(crew.locator(".wo-head [data-state]")).to_have_text(state)
    box = crew.locator('button[data-action="resolve"]').bounding_box()
    assert box is not None and box["height"] >= 48 and box["width"] >= 48
    photo_input = crew.get_by_test_id("wo-photo-input")
    photo_input.set_input_files({"name": "huge.png", "mimeType": "image/png", "buffer": png() + b"\x00" * 5_000_001})
    expect(crew.get_by_role("status").filter(has_text="Ảnh lớn hơn 5 MB")).to_be_visible()
    expect(crew.get_by_text("Chưa có ảnh.")).to_be_visible()
    photo_input.set_input_files({"name": "cua-tu.png", "mimeType": "image/png", "buffer": png()})
    expect(crew.locator("img.wo-photo")).to_have_count(1)
    step(crew, "resolve")
    crew.locator('button[data-confirm="resolve"]').click()
    expect(crew.get_by_role("alert")).to_have_text("Hãy ghi lại đã làm gì.")
    crew.get_by_test_id("wo-text").fill("Thay khoá cửa tủ, cửa đóng được")
    crew.locator('button[data-confirm="resolve"]').click()
    expect(crew.locator(".wo-head [data-state]")).to_have_text("Đã xử lý")
    expect(crew.get_by_test_id("wo-alarm-state")).to_contain_text("Thiết bị vẫn báo cảnh báo này")
    history = crew.get_by_test_id("wo-history").locator("li")
    expect(history).to_have_count(6)
    expect(history.last).to_contain_text("Thay khoá cửa tủ")
    assert_accessible(crew)
    shot(crew, "work-order-resolved-vi-phone")
    alarm = httpx.get(f"{served.url}/api/v1/alarms?device=lc-000&active=true", headers=served.headers(Role.VIEWER))
    assert [a["kind"] for a in alarm.json()] == ["door_open"], "resolving leaves the device's alarm active"


def test_citizen_report_to_a_work_order(served: Served, open_page: OpenPage) -> None:
    citizen = open_page(f"{served.url}/report", lang="vi", viewport=PHONE)
    citizen.context.grant_permissions(["geolocation"], origin=served.url)
    citizen.context.set_geolocation({"latitude": 21.5950, "longitude": 105.8482, "accuracy": 12})
    expect(citizen.get_by_role("heading", level=1)).to_have_text("Báo sự cố chiếu sáng")
    citizen.get_by_test_id("rp-send").click()
    expect(citizen.get_by_role("alert")).to_have_text("Hãy cho biết vị trí (vĩ độ và kinh độ).")
    citizen.get_by_test_id("rp-locate").click()
    expect(citizen.get_by_test_id("rp-lat")).to_have_value("21,595000")
    citizen.get_by_label("Đèn hỏng").check()
    citizen.get_by_test_id("rp-text").fill("Đèn trước số nhà 12 không sáng")
    assert_accessible(citizen)
    shot(citizen, "citizen-report-form-vi-phone")
    citizen.get_by_test_id("rp-photo").set_input_files({"name": "den.png", "mimeType": "image/png", "buffer": png()})
    citizen.get_by_test_id("rp-send").click()
    reference = citizen.get_by_test_id("rp-reference")
    expect(reference).to_have_text(re.compile(r"^PA-[2-9A-Z]{8}$"))
    ref = reference.inner_text()
    expect(citizen.get_by_test_id("rp-done")).to_contain_text("Đã gửi ảnh.")
    citizen.get_by_role("button", name="Tra cứu").click()
    expect(citizen.get_by_test_id("rp-status")).to_have_text("Tình trạng: Đã tiếp nhận, chờ xem xét")
    assert_accessible(citizen)
    shot(citizen, "citizen-report-sent-vi-phone")
    assert citizen.evaluate("() => sessionStorage.length") == 0, "the public page holds no session"

    dispatcher = open_page(f"{served.url}/#/orders?state=review", lang="vi", viewport=PHONE)
    sign_in(dispatcher, "operator")
    card = dispatcher.get_by_test_id("work-orders").locator("li").filter(has_text=ref)
    expect(card).to_contain_text("Chờ duyệt")
    expect(card).to_contain_text("lc-000")
    card.get_by_role("link").click()
    expect(dispatcher.get_by_role("heading", level=1)).to_contain_text("Đèn hỏng")
    expect(dispatcher.locator(".facts")).to_contain_text("Cách tủ 89 m")
    expect(dispatcher.locator(".facts")).to_contain_text("Đèn trước số nhà 12 không sáng")
    expect(dispatcher.locator("img.wo-photo")).to_have_count(1)
    step(dispatcher, "assign")
    dispatcher.get_by_test_id("wo-assignee").fill("crew")
    dispatcher.locator('button[data-confirm="assign"]').click()
    expect(dispatcher.locator(".wo-head [data-state]")).to_have_text("Đã giao")
    assert_accessible(dispatcher)
    shot(dispatcher, "citizen-order-assigned-vi-phone")

    citizen.get_by_role("button", name="Tra cứu").click()
    expect(citizen.get_by_test_id("rp-status")).to_have_text("Tình trạng: Đã chuyển cho đội sửa chữa")


@pytest.mark.parametrize(("lang", "viewport", "size"), [("en", PHONE, "phone"), ("en", DESKTOP, "desktop"),
                                                        ("vi", DESKTOP, "desktop")])
def test_screens_in_each_language_and_size(served: Served, open_page: OpenPage, lang: str,
                                           viewport: dict[str, int], size: str) -> None:
    en = lang == "en"
    made = httpx.post(f"{served.url}/api/v1/work-orders", json={"device_id": "lc-000", "title": "Kiểm tra định kỳ"},
                      headers=served.headers(Role.OPERATOR))
    assert made.status_code == 201, made.text
    citizen = open_page(f"{served.url}/report", lang=lang, viewport=viewport)
    expect(citizen.get_by_role("heading", level=1)).to_have_text(
        "Report a street-lighting problem" if en else "Báo sự cố chiếu sáng")
    expect(citizen.get_by_label("Lamp on by day" if en else "Đèn sáng ban ngày")).to_be_visible()
    assert_accessible(citizen)
    shot(citizen, f"citizen-report-{lang}-{size}")
    orders = open_page(f"{served.url}/#/orders", lang=lang, viewport=viewport)
    orders.get_by_label("User name" if en else "Tên đăng nhập").fill("operator")
    orders.get_by_label("Password" if en else "Mật khẩu").fill(PASSWORD)
    orders.get_by_role("button", name="Sign in" if en else "Đăng nhập").click()
    expect(orders.get_by_role("heading", level=1)).to_have_text("Work orders" if en else "Lệnh công tác")
    orders.get_by_test_id("wo-filter-state").select_option("__open")
    expect(orders.get_by_test_id("work-orders").locator("li").first).to_be_visible()
    assert_accessible(orders)
    shot(orders, f"work-orders-list-{lang}-{size}")


def test_an_open_order_follows_the_stream_not_the_poll(served: Served, open_page: OpenPage) -> None:
    """Another dispatcher assigns the order: the screen shows it at once from the stream's `work_order` event, well
    before its 15 s fallback poll would."""
    made = httpx.post(f"{served.url}/api/v1/work-orders", json={"device_id": "lc-000", "title": "Thay bóng"},
                      headers=served.headers(Role.OPERATOR))
    assert made.status_code == 201, made.text
    order = made.json()["id"]
    page = open_page(f"{served.url}/#/orders/{order}", lang="vi", viewport=PHONE)
    sign_in(page, "operator")
    badge = page.locator(".wo-head [data-state]")
    expect(badge).not_to_have_text("Đã giao")
    page.wait_for_timeout(1000)  # the first load and its timer are behind us
    moved = httpx.post(f"{served.url}/api/v1/work-orders/{order}/transitions",
                       json={"action": "assign", "assignee": "crew"}, headers=served.headers(Role.OPERATOR))
    assert moved.status_code == 200, moved.text
    expect(badge).to_have_text("Đã giao", timeout=5000)
