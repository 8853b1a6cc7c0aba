"""The installable web app's two root files: the service worker at `/sw.js` (at the root so its scope is the whole
app, `/`, and it can serve the shell offline) and the web app manifest. Both are revalidated on every load
(`no-cache`) so a new release reaches the phones.

The worker is `api/static/sw.js` with two constants set above it: SHELL, every file of the shell (found on disk,
so a new screen is cached without anyone keeping a list), and VERSION, a digest of those files, so any change to
the shell installs a new worker with a fresh cache."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parents[1] / "static"
SHELL_SUFFIXES = (".js", ".css", ".svg", ".png", ".html")
NOT_SHELL = ("vendor/swagger-ui/", "sw.js")  # the API docs' assets are not the app; the worker never caches itself


def shell_files(root: Path = STATIC) -> list[Path]:
    """Every file the app shell may load, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in SHELL_SUFFIXES
                  and not p.relative_to(root).as_posix().startswith(NOT_SHELL))


@cache
def worker_source() -> bytes:
    files = shell_files()
    digest = hashlib.sha256()
    for p in [*files, STATIC / "sw.js", STATIC / "manifest.webmanifest"]:
        digest.update(p.relative_to(STATIC).as_posix().encode() + b"\0" + p.read_bytes())
    urls = [f"/static/{p.relative_to(STATIC).as_posix()}" for p in files]
    head = f"const SHELL = {json.dumps(urls)};\nconst VERSION = {json.dumps(digest.hexdigest()[:16])};\n"
    return head.encode() + (STATIC / "sw.js").read_bytes()


@router.get("/sw.js")
async def service_worker() -> Response:
    return Response(worker_source(), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})


@router.get("/manifest.webmanifest")
async def manifest() -> FileResponse:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json",
                        headers={"Cache-Control": "no-cache"})
