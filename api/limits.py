"""Request limits: body size (413), NUL characters (422), JSON nesting depth (422), and login attempts per client
address (429).

NUL characters are refused anywhere in a request (raw, `%00` in a URL or form, `\\u0000` in JSON): PostgreSQL
cannot store them in text, no field of this API has a use for them, and refusing them at the door keeps that
database error from surfacing as a 500 deep inside a route.

The body limit is enforced on the declared Content-Length and, for chunked bodies, while reading, so a client
cannot make the API buffer more than `max_bytes`. Login attempts are counted in a sliding window per address, on
the injected clock; the backoff per (account, address) lives in `api.login_throttle`.

A JSON body (`application/json`, `…+json`) nested deeper than `max_json_depth` is refused before any route parses it
(`json.loads` would raise RecursionError, a 500); uploads inside multipart are checked where they are parsed.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.json_depth import json_depth_exceeds
from api.problems import PROBLEM_JSON

_NUL_MARKERS = (b"\x00", b"%00", b"\\u0000")
_NUL_OVERLAP = 6  # longest marker - 1: a marker split across two body chunks is still seen


def has_nul(data: bytes) -> bool:
    lowered = data.lower()
    return any(marker in lowered for marker in _NUL_MARKERS)


async def _send_problem(send: Send, status: int, title: str, detail: str, path: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail,
                       "instance": path}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or media.endswith(b"+json")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int = 64,
                 upload_path: Callable[[str], bool] | None = None, max_upload_bytes: int = 0) -> None:
        """`upload_path(path)` true: the body is a binary upload (a photo), allowed up to `max_upload_bytes` and
        not searched for NUL bytes (images are full of them)."""
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth
        self.upload_path = upload_path
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = self.upload_path is not None and self.upload_path(scope["path"])
        max_bytes = self.max_upload_bytes if upload else self.max_bytes
        detail = f"request body larger than {max_bytes} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or int(value) > max_bytes):
                await _send_problem(send, 413, "Content Too Large", detail, scope["path"])
                return
        if has_nul(scope.get("query_string", b"")) or "\x00" in scope["path"] or b"%00" in scope.get(
                "raw_path", b"").lower():
            await _send_problem(send, 422, "Unprocessable Content", "NUL characters are not accepted in the URL",
                                scope["path"])
            return
        # Read the whole body first (bounded by max_bytes), then hand it on: errors raised while a route reads
        # the body would be turned into a generic 400 by the framework, so the checks happen here.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await _send_problem(send, 413, "Content Too Large", detail, scope["path"])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not upload and has_nul(body):
            await _send_problem(send, 422, "Unprocessable Content", "NUL characters are not accepted in the body",
                                scope["path"])
            return
        content_type = next((v for k, v in scope.get("headers", ()) if k == b"content-type"), b"")
        if _is_json(content_type) and json_depth_exceeds(body, self.max_json_depth):
            await _send_problem(send, 422, "Unprocessable Content",
                                f"JSON body nested deeper than {self.max_json_depth} levels", scope["path"])
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would

        await self.app(scope, replay, send)


class SlidingWindow:
    """At most `limit` events per `window_s` per key. Keys are bounded: the oldest key is forgotten past
    `max_keys` (an attacker rotating addresses gains nothing the per-account lockout does not stop)."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def hit(self, key: str, now: float) -> float | None:
        """Record an attempt; None when allowed, else seconds until the next one is."""
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._events.pop(next(iter(self._events)))
            events = self._events[key] = deque()
        while events and now - events[0] >= self.window_s:
            events.popleft()
        if len(events) >= self.limit:
            return self.window_s - (now - events[0])
        events.append(now)
        return None
