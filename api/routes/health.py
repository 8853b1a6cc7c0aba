"""`/healthz` (the process answers) and `/readyz` (the config DB and the bus subscription work)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ApiDep
from controllers.clock import to_rfc3339

router = APIRouter(tags=["health"])

DB_CHECK_TIMEOUT_S = 2.0


class HealthOut(BaseModel):
    status: Literal["ok"]
    started_at: str
    devices: int = Field(description="devices known live")
    timezone: str


class ReadyOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="`db` and `bus`: `ok`, or what is wrong")


@router.get("/healthz", response_model=HealthOut)
async def healthz(api: ApiDep) -> HealthOut:
    return HealthOut(status="ok", started_at=to_rfc3339(api.started_at), devices=len(api.cache),
                     timezone=api.settings.timezone)


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut, "description": "not ready"}})
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
    out = ReadyOut(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(out.model_dump(), status_code=200 if ready else 503)
