"""Response headers that make the API safer to expose: no MIME sniffing, no framing, no referrer leaks, and a strict
Content-Security-Policy on the status page and on /docs (their scripts and styles are same-origin files; nothing
inline: Swagger UI is vendored in the package)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
          (b"referrer-policy", b"no-referrer")]
PAGE_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _is_page(path: str) -> bool:
    return path in ("/", "/docs", "/sw.js", "/manifest.webmanifest") or path.startswith(("/static/", "/docs/"))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = COMMON + ([(b"content-security-policy", PAGE_CSP)] if _is_page(path) else [])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
