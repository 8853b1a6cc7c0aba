"""Deeply nested JSON is a 422 problem, not a 500 (plan upload as JSON or file, and any JSON body); token answers are
never cached; /docs is Swagger UI from the package under the status page's CSP."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from api.app import STATIC
from api.json_depth import json_depth_exceeds
from api.routes.docs import PAGE
from tests.api.conftest import PASSWORD, Harness
from tests.api.plan_fixtures import BASE_URL, add_intersection
from tests.api.served import serve_api

DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize("path", [BASE_URL, "/api/v1/plans/validate", "/api/v1/devices/tsc-001/commands",
                                  "/api/v1/intersections"])
async def test_deep_json_bodies_are_422(harness: Harness, path: str) -> None:
    await add_intersection(harness)
    resp = await harness.client.post(path, content=DEEP, headers=harness.token("admin") | {
        "Content-Type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json" and "deeper" in resp.json()["detail"]


async def test_a_deep_plan_file_upload_is_422(harness: Harness) -> None:
    await add_intersection(harness)
    resp = await harness.client.post(BASE_URL, headers=harness.token("engineer"),
                                     files={"file": ("plan.json", DEEP, "application/json")})
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["type"] == "json_too_deep"


@pytest.mark.parametrize(("text", "deeper_than_3"), [
    (b'{"a": [1, {"b": 2}]}', False),
    (b'{"a": [1, {"b": [2]}]}', True),
    (b'[[[[1]]]]', True),
    (b'["[[[[[[", "]]]"]', False),  # brackets in strings do not nest
    (b'["\\"[[[[", [[[0]]]]', True),  # an escaped quote does not end the string early
    (b'{"k": "\\\\"}', False),
])
def test_json_depth(text: bytes, deeper_than_3: bool) -> None:
    assert json_depth_exceeds(text, 3) is deeper_than_3


async def test_token_answers_are_not_stored(harness: Harness) -> None:
    login = await harness.client.post("/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD})
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"
    refreshed = await harness.client.post("/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.headers["cache-control"] == "no-store"
    refused = await harness.client.post("/api/v1/auth/token", data={"username": "viewer", "password": "nope-nope"})
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"


async def test_docs_come_from_the_package_under_the_page_csp(harness: Harness) -> None:
    resp = await harness.client.get("/docs")
    assert resp.status_code == 200
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert not re.search(r"https?://", resp.text), "no asset from another origin"
    for asset in re.findall(r'(?:src|href)="([^"]+)"', PAGE):
        got = await harness.client.get(asset)
        assert got.status_code == 200 and got.headers["content-security-policy"] == csp, asset
    assert "Apache License" in (STATIC / "vendor" / "swagger-ui" / "LICENSE").read_text()
    assert "swagger-ui-dist" in (STATIC / "vendor" / "swagger-ui" / "VERSION").read_text()
    assert (await harness.client.get("/redoc")).status_code == 404  # FastAPI's CDN pages are off


CHROMIUM = shutil.which("chromium")


def _csp_violations(url: str, profile: Path) -> tuple[str, list[str]]:
    assert CHROMIUM is not None
    run = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                          "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=False)
    return run.stdout, [line for line in run.stderr.splitlines() if "Content Security Policy" in line]


@pytest.mark.integration
def test_swagger_ui_renders_in_a_browser_with_no_csp_violation(tmp_path: Path) -> None:
    # Missing chromium fails rather than skips: `make services` installs it, and a skipped check proves nothing.
    assert CHROMIUM is not None, "Debian's chromium renders /docs here: run `make services` (apt-get install chromium)"
    with serve_api(f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}") as served:
        dom, violations = _csp_violations(served.url + "/docs", tmp_path / "profile")
    assert violations == []
    assert dom.count("opblock-summary-path") > 50 and "/api/v1/auth/token" in dom, dom[:2000]
