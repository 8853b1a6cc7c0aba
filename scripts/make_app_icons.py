"""Draw the phone app's PNG icons (api/static/icons/icon-192.png, icon-512.png) from the same shapes as icon.svg:
a lamp on the header's navy, with the safe zone a maskable icon needs. Standard library only (zlib PNG writer).
Run: python scripts/make_app_icons.py"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "api" / "static" / "icons"
NAVY, YELLOW, GREY = (0x10, 0x2A, 0x43), (0xFA, 0xCC, 0x15), (0x9F, 0xB3, 0xC8)


def pixel(x: float, y: float) -> tuple[int, int, int]:
    """Colour at (x, y) in a 512-unit square."""
    if (x - 256) ** 2 + (y - 280) ** 2 <= 118**2:     # the lamp's globe
        return YELLOW
    if 200 <= x <= 312 and 380 <= y <= 420:           # its neck
        return YELLOW
    if 176 <= x <= 336 and 120 <= y <= 150:           # the fitting above
        return GREY
    if 208 <= x <= 304 and 428 <= y <= 456:           # the base
        return GREY
    return NAVY


def png(size: int) -> bytes:
    scale = 512 / size
    rows = b"".join(b"\x00" + b"".join(bytes(pixel((i + 0.5) * scale, (j + 0.5) * scale)) for i in range(size))
                    for j in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


if __name__ == "__main__":
    for size in (192, 512):
        (ICONS / f"icon-{size}.png").write_bytes(png(size))
