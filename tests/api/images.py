"""Small real images for upload tests."""

from __future__ import annotations

import struct
import zlib


def png_bytes(extra: int = 0) -> bytes:
    """A real 1×1 PNG, padded with a text chunk of `extra` bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
    if extra:
        body += chunk(b"tEXt", b"c\x00" + b"x" * extra)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")
