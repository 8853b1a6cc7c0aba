"""The intersection map (map.js on the intersection list), on the API with a fake bus: without a tile setting the
intersections are drawn to scale on a plain background (equirectangular around the centre latitude); with
`map_tile_url` set, tiles come from that server (the page's CSP allows its origin) under the same markers. Markers
keep the geography's order and proportions; clicking one opens the intersection. vi and en, 1440×900."""

from __future__ import annotations

import math
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from playwright.sync_api import Page, expect

from api.security import Role
from tests.api.served import PASSWORD, Served, serve_api
from tests.browser.conftest import OpenPage
from tests.browser.page_checks import assert_accessible, shot

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Three intersections of Thái Nguyên (lat, lon): west-north, centre, east-south.
PLACES = {"tn-a": ("Ngã tư Đồng Quang", 21.5960, 105.8300), "tn-b": ("Nút Phan Đình Phùng", 21.5930, 105.8480),
          "tn-c": ("Ngã ba Gang Thép", 21.5800, 105.8600)}


def _png(size: int = 256) -> bytes:
    """A light tile with a dark border, so a screenshot shows where tiles are."""
    rows = []
    for y in range(size):
        edge = y in (0, size - 1)
        row = bytes([0]) + b"".join(b"\x55\x66\x77" if edge or x in (0, size - 1) else b"\xd8\xe8\xd0"
                                    for x in range(size))
        rows.append(row)
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


class TileServer:
    def __init__(self) -> None:
        tile, self.requests = _png(), []
        served = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", self.path):
                    self.send_error(404)
                    return
                served.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tiles() -> Iterator[TileServer]:
    server = TileServer()
    yield server
    server.close()


def _seed(served: Served) -> None:
    with httpx.Client(base_url=served.url, headers=served.headers(Role.ENGINEER), timeout=10) as eng:
        for n, (iid, (name, lat, lon)) in enumerate(PLACES.items()):
            body = {"id": iid, "site": "tn", "name": name, "lat": lat, "lon": lon}
            if n == 0:
                body["controller_id"] = "tsc-000"
            resp = eng.post("/api/v1/intersections", json=body)
            assert resp.status_code == 201, resp.text


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("map-plain")
    with serve_api(f"sqlite+aiosqlite:///{folder / 'ui.db'}", devices=1) as s:
        _seed(s)
        yield s


@pytest.fixture(scope="module")
def tiled(tmp_path_factory: pytest.TempPathFactory, tiles: TileServer) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("map-tiles")
    with serve_api(f"sqlite+aiosqlite:///{folder / 'ui.db'}", devices=1,
                   settings={"map_tile_url": f"{tiles.url}/tiles/{{z}}/{{x}}/{{y}}.png",
                             "map_tile_attribution": "© test tiles"}) as s:
        _seed(s)
        yield s


def _open_map(page: Page, lang: str) -> None:
    page.get_by_label("Tên đăng nhập" if lang == "vi" else "User name").fill("engineer")
    page.get_by_label("Mật khẩu" if lang == "vi" else "Password").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập" if lang == "vi" else "Sign in").click()
    page.locator('[data-conn="live"]').wait_for()
    page.get_by_role("button", name="Bản đồ" if lang == "vi" else "Map", exact=True).click()
    expect(page.locator(".map-marker[data-id]")).to_have_count(len(PLACES))
    page.wait_for_timeout(400)  # fitBounds animates the zoom


def _centres(page: Page) -> dict[str, tuple[float, float]]:
    out = {}
    for iid in PLACES:
        dot = page.locator(f'.map-marker[data-id="{iid}"] .map-dot').bounding_box()
        assert dot is not None, iid
        out[iid] = (dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    return out


def _assert_to_scale(centres: dict[str, tuple[float, float]]) -> None:
    """x grows with longitude, y with falling latitude, and the map's x:y proportions are the ground's (the
    east-west metres of a degree of longitude are cos(latitude) of a degree of latitude's)."""
    by_lon = sorted(PLACES, key=lambda i: PLACES[i][2])
    by_lat = sorted(PLACES, key=lambda i: -PLACES[i][1])
    assert sorted(centres, key=lambda i: centres[i][0]) == by_lon
    assert sorted(centres, key=lambda i: centres[i][1]) == by_lat
    (_, lat_a, lon_a), (_, lat_c, lon_c) = PLACES["tn-a"], PLACES["tn-c"]
    ground = (lon_c - lon_a) * math.cos(math.radians((lat_a + lat_c) / 2)) / (lat_a - lat_c)
    drawn = (centres["tn-c"][0] - centres["tn-a"][0]) / (centres["tn-c"][1] - centres["tn-a"][1])
    assert drawn == pytest.approx(ground, rel=0.02), (drawn, ground)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_map_without_tiles_plots_intersections_to_scale(plain: Served, open_page: OpenPage, lang: str) -> None:
    page = open_page(f"{plain.url}/#/", lang=lang)
    _open_map(page, lang)
    view = page.locator(".map-view")
    expect(view).to_have_attribute("data-tiles", "no")
    expect(view).to_contain_text("Không có bản đồ nền" if lang == "vi" else "No base map")
    assert page.locator(".leaflet-tile").count() == 0
    _assert_to_scale(_centres(page))
    expect(page.locator(".leaflet-control-scale-line")).to_have_text(re.compile(r"^\d+ k?m$"))
    marker = page.locator('.map-marker[data-id="tn-a"]')
    expect(marker).to_have_attribute("data-status", "ok")  # tsc-000 is online, no alarm
    expect(page.locator('.map-marker[data-id="tn-b"]')).to_have_attribute("data-status", "unknown")  # no controller
    assert_accessible(page)
    shot(page, f"map-no-tiles-{lang}-desktop")
    marker.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/i/tn-a$"))
    expect(page.locator("h1")).to_have_text(PLACES["tn-a"][0])


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_map_with_tiles_from_the_setting(tiled: Served, tiles: TileServer, open_page: OpenPage, lang: str) -> None:
    page = open_page(f"{tiled.url}/#/", lang=lang)
    _open_map(page, lang)
    expect(page.locator(".map-view")).to_have_attribute("data-tiles", "yes")
    expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
    assert tiles.requests and all(p.startswith("/tiles/") for p in tiles.requests)
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("© test tiles")
    _assert_to_scale(_centres(page))  # Web Mercator is conformal: the same proportions at a city's scale
    assert_accessible(page)
    shot(page, f"map-tiles-{lang}-desktop")
    page.locator('.map-marker[data-id="tn-c"]').click()
    expect(page).to_have_url(re.compile(r"#/i/tn-c$"))

