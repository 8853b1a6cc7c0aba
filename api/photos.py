"""Photos sent by crews and citizens: the type is read from the magic bytes (never from the client's
Content-Type or file name), the size is bounded, and only JPEG, PNG and WebP are kept.

A body over the limit is refused by `api.limits.BodyLimitMiddleware` before a route reads it (the photo paths get
`photo_max_bytes` there instead of `max_body_bytes`); `check_photo` is the judge of what is stored.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from api.problems import Problem

#: Request paths whose body is a photo (raw bytes, larger limit, binary allowed).
PHOTO_PATHS = (re.compile(r"^/api/v1/work-orders/[0-9]+/photos$"),
               re.compile(r"^/api/v1/public/reports/[A-Z0-9-]{1,16}/photo$"))


def is_photo_path(path: str) -> bool:
    return any(p.match(path) for p in PHOTO_PATHS)


@dataclass(frozen=True, slots=True)
class Photo:
    content_type: str
    data: bytes
    sha256: str


def sniff(data: bytes) -> str | None:
    """The image type by its first bytes: image/jpeg, image/png, image/webp, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_photo(data: bytes, max_bytes: int) -> Photo:
    """The photo, or a Problem: 413 when larger than `max_bytes`, 415 when not JPEG/PNG/WebP or empty."""
    if len(data) > max_bytes:
        raise Problem(413, f"photo of {len(data)} bytes is larger than {max_bytes} bytes",
                      errors=[{"path": "body", "message": f"at most {max_bytes} bytes", "type": "too_large"}])
    kind = sniff(data)
    if kind is None:
        raise Problem(415, "photo must be a JPEG, PNG or WebP image (judged by its content, not its name)",
                      errors=[{"path": "body", "message": "not a JPEG, PNG or WebP image", "type": "media_type"}])
    return Photo(kind, data, hashlib.sha256(data).hexdigest())
