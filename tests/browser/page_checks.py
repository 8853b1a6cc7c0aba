"""What every browser test checks on a page: no console errors or uncaught exceptions, no serious or critical
accessibility violations (axe-core, vendored in tests/browser/vendor), and screenshots kept under var/screenshots."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import ConsoleMessage, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
AXE = Path(__file__).with_name("vendor") / "axe.min.js"
# Chromium logs every non-2xx fetch as a console error naming the status. An expected answer (a refused plan's 422)
# is not an application error; a 5xx is, and so is anything the page itself logs with console.error.
RESOURCE_STATUS = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")
#: 501 is an expected answer too: a feature not installed on this server (the twin without SUMO), which the page
#: explains to the user.
EXPECTED_5XX = frozenset({501})


@dataclass
class PageProblems:
    errors: list[str] = field(default_factory=list)
    http_statuses: list[int] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type != "error":
            return
        match = RESOURCE_STATUS.match(msg.text)
        if match and (int(match.group(1)) < 500 or int(match.group(1)) in EXPECTED_5XX):
            self.http_statuses.append(int(match.group(1)))
            return
        if msg.text.startswith("Failed to load resource: net::ERR_INTERNET_DISCONNECTED"):
            return  # the offline test cuts the network on purpose; the page must cope, which the test checks
        self.errors.append(f"console.error: {msg.text} ({msg.location.get('url', '')})")

    def on_page_error(self, exc: Exception) -> None:
        self.errors.append(f"uncaught: {exc}")


def watch(page: Page) -> PageProblems:
    problems = PageProblems()
    page.on("console", problems.on_console)
    page.on("pageerror", problems.on_page_error)
    return problems


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as var/screenshots/<name>.png (a test artifact, looked at by a person)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")  # else the sticky header is drawn where the page was scrolled
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; the violations of the given impacts, summarised."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "async () => await window.axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"][:5]]}
            for v in result["violations"] if v["impact"] in impacts]


def assert_accessible(page: Page) -> None:
    found = axe_violations(page)
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)
