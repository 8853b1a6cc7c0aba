"""`GET /api/v1/ui-config` and the map tile setting: the UI learns the tile URL from it, and the page's CSP lets
images come from the tile server's origin only when one is set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.config import ApiSettings, tile_origin
from tests.api.conftest import Harness, open_harness


async def test_no_tiles_by_default(harness: Harness) -> None:
    resp = await harness.client.get("/api/v1/ui-config")
    assert resp.status_code == 200
    assert resp.json() == {"timezone": "Asia/Ho_Chi_Minh", "map_tile_url": "", "map_tile_attribution": ""}
    page = await harness.client.get("/")
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]


async def test_a_tile_url_is_served_and_its_origin_allowed_for_images(tmp_path: Path) -> None:
    url = "https://tiles.example.org/osm/{z}/{x}/{y}.png"
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", map_tile_url=url,
                            map_tile_attribution="© OpenStreetMap") as h:
        got = (await h.client.get("/api/v1/ui-config")).json()
        assert got["map_tile_url"] == url and got["map_tile_attribution"] == "© OpenStreetMap"
        csp = (await h.client.get("/static/app.js")).headers["content-security-policy"]
        assert "img-src 'self' data: https://tiles.example.org;" in csp
        assert "connect-src 'self';" in csp and "script-src 'self';" in csp  # nothing else widened


@pytest.mark.parametrize(("url", "origin"), [
    ("", ""), ("/tiles/{z}/{x}/{y}.png", ""), ("http://127.0.0.1:8088/{z}/{x}/{y}.png", "http://127.0.0.1:8088")])
def test_tile_origin(url: str, origin: str) -> None:
    assert tile_origin(ApiSettings(map_tile_url=url).map_tile_url) == origin


@pytest.mark.parametrize(("url", "says"), [
    ("https://{s}.tile.example.org/{z}/{x}/{y}.png", "fixed host"),
    ("ftp://tiles.example.org/{z}/{x}/{y}.png", "http(s)"),
    ("https://tiles.example.org/{z}/{x}.png", "lacks {y}"),
    ("https://t.example.org/{z}/{x}/{y}.png; script-src *", "not allowed"),
    ("//t.example.org/{z}/{x}/{y}.png", "http(s)"),
])
def test_bad_tile_urls_are_refused_naming_the_setting(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as err:
        ApiSettings(map_tile_url=url)
    assert "map_tile_url" in str(err.value) and says in str(err.value)
