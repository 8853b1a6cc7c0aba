"""`/healthz` (the process answers) and `/readyz` (the config DB and the bus subscription work)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ApiDep
from controllers.clock import to_rfc3339

router = APIRouter(tags=["health"])

DB_CHECK_TIMEOUT_S = 2.0


@router.get("/healthz")
async def healthz(api: ApiDep) -> dict[str, Any]:
    return {"status": "ok", "started_at": to_rfc3339(api.started_at), "devices": len(api.cache),
            "timezone": api.settings.timezone}


@router.get("/readyz", responses={503: {}})
async def readyz(api: ApiDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_S), api.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["db"] = "ok"
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        checks["db"] = f"failed: {type(exc).__name__}"
    # BusPort promises no connection state; a bus that exposes `connected` (the aiomqtt one does) is asked too.
    bus_up = bool(getattr(api.deps.bus, "connected", True))
    checks["bus"] = "not subscribed" if not api.listener.connected else "ok" if bus_up else "disconnected"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)
