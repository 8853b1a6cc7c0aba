"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, a live site (tests/browser/site.py), and
pages that fail their test on any console error or uncaught exception."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.page_checks import PageProblems, watch
from tests.browser.site import PASSWORD, LiveSite, live_site
from tests.servers import MOSQUITTO

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed; run `make test` (.ci/install-services.sh installs it)",
                    pytrace=False)
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start
        browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield browser
        browser.close()


#: The shared site's API renews manual control every 3 s, so "stays released" is seen over several renewal periods.
CONTROL_BACKUP_S = 9


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSite]:
    """One live site at real speed for the shell and manual-control tests (starting one takes most of a minute)."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("Mosquitto is not installed; run `make test`", pytrace=False)
    with live_site(tmp_path_factory.mktemp("site"),
                   settings={"SIGNALIGHT_API__CONTROL_BACKUP_S": str(CONTROL_BACKUP_S)}) as live:
        yield live


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(browser: Browser) -> Iterator[OpenPage]:
    """`open_page(url, lang="vi", viewport=DESKTOP, heartbeat_s=None)`: a fresh context (own storage) on `url`.
    Every page opened is checked at the end of the test: no console errors, no uncaught exceptions."""
    opened: list[tuple[Page, PageProblems]] = []

    def open_(url: str, lang: str = "vi", viewport: dict[str, int] = DESKTOP, heartbeat_s: float | None = None) -> Page:
        context = browser.new_context(viewport=viewport, locale="vi-VN" if lang == "vi" else "en-GB",
                                      timezone_id="Asia/Ho_Chi_Minh")
        init = f"localStorage.setItem('sl.lang', '{lang}');"
        if heartbeat_s is not None:
            init += f"localStorage.setItem('sl.heartbeat_s', '{heartbeat_s}');"
        context.add_init_script(f"try {{ {init} }} catch (e) {{ /* a page without storage */ }}")
        page = context.new_page()
        page.set_default_timeout(15000)
        opened.append((page, watch(page)))
        page.goto(url)
        return page

    yield open_
    problems = [p for _, watched in opened for p in watched.errors]
    for page, _ in opened:
        page.context.close()
    assert not problems, "\n".join(problems)


def sign_in(page: Page, user: str, lang: str = "vi") -> None:
    """Sign in through the form, then wait until the header says the stream is live."""
    page.get_by_label("Tên đăng nhập" if lang == "vi" else "User name").fill(user)
    page.get_by_label("Mật khẩu" if lang == "vi" else "Password").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập" if lang == "vi" else "Sign in").click()
    page.locator('[data-conn="live"]').wait_for()
