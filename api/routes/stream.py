"""`/api/v1/stream`: Server-Sent Events of device changes, state, alarms and command results.

Authenticate with `Authorization: Bearer` (fetch-streaming, what the status page does) or `?access_token=` (for
EventSource, which cannot set headers). Filter with `site` and `device` (repeatable). A new connection first gets a
`snapshot` event with every matching device; a reconnect with `Last-Event-ID` gets only what it missed, or a new
snapshot when that id is too old or from another API process. A comment line every `keepalive` seconds keeps
proxies and phones' mobile networks from closing an idle stream. The stream ends when the caller's token expires
(checked at each event and keepalive): the client reconnects with a fresh token and its Last-Event-ID, so a revoked
or demoted user stops receiving within the token's lifetime.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import ApiDep, DevicesReader
from api.hub import StreamEvent, StreamFilter
from api.state import ApiState

router = APIRouter(prefix="/api/v1", tags=["stream"])

KEEPALIVE_S = 15.0


def _frame(event_id: str | None, type_: str, data: dict[str, Any]) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {type_}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _snapshot(api: ApiState, flt: StreamFilter) -> dict[str, Any]:
    devices = [d.to_json() for d in api.cache.all() if (not flt.sites or d.site in flt.sites) and (
        not flt.devices or d.id in flt.devices)]
    for d in devices:
        d["alarms"] = sorted(a.value for a in api.alarms.active_kinds(d["id"]))
    return {"devices": devices}


@router.get("/stream", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
async def stream(request: Request, api: ApiDep, user: DevicesReader,
                 site: Annotated[list[str] | None, Query(max_length=100)] = None,
                 device: Annotated[list[str] | None, Query(max_length=1000)] = None,
                 last_event_id: Annotated[str | None, Header(max_length=64)] = None,
                 keepalive: Annotated[float, Query(ge=0.05, le=300)] = KEEPALIVE_S) -> StreamingResponse:
    flt = StreamFilter(frozenset(site or ()), frozenset(device or ()))

    async def frames() -> AsyncIterator[bytes]:
        async with api.hub.subscribe(flt, last_event_id) as sub:
            yield b"retry: 3000\n\n"
            if not sub.resumed:
                yield _frame(api.hub.last_id, "snapshot", _snapshot(api, flt))
            for event in sub.backlog:
                yield _frame(event.id, event.type, {"site": event.site, "device": event.device, "data": event.data})
            while True:
                if user.expires_at is not None and api.clock.now().timestamp() >= user.expires_at:
                    return
                try:
                    async with asyncio.timeout(keepalive):
                        item: StreamEvent | None = await sub.queue.get()
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                if item is None:  # fell behind: end; the client resumes with Last-Event-ID
                    return
                yield _frame(item.id, item.type, {"site": item.site, "device": item.device, "data": item.data})

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
