"""Response headers that make the API safer to expose: no MIME sniffing, no framing, no referrer leaks, and a strict
Content-Security-Policy on the status page and on /docs (their scripts and styles are same-origin files; nothing
inline: Swagger UI is vendored in the package)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
          (b"referrer-policy", b"no-referrer")]
PAGE_CSP = (b"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
            b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def page_csp(img_origin: str = "") -> bytes:
    """The page CSP; `img_origin` (the map tile server's, e.g. https://tile.example.org) may serve images too."""
    if not img_origin:
        return PAGE_CSP
    return PAGE_CSP.replace(b"img-src 'self' data:;", b"img-src 'self' data: " + img_origin.encode("ascii") + b";")


def _is_page(path: str) -> bool:
    return path in ("/", "/docs") or path.startswith(("/static/", "/docs/"))


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, img_origin: str = "") -> None:
        self.app = app
        self.csp = page_csp(img_origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = COMMON + ([(b"content-security-policy", self.csp)] if _is_page(path) else [])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
