"""`GET /api/v1/ui-config`: the settings the web UI needs before anyone signs in (site time zone, map tiles).
Nothing secret: the same for every visitor."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import ApiDep

router = APIRouter(prefix="/api/v1", tags=["health"])


class UiConfigOut(BaseModel):
    timezone: str
    map_tile_url: str
    map_tile_attribution: str


@router.get("/ui-config", response_model=UiConfigOut)
async def ui_config(api: ApiDep) -> UiConfigOut:
    """Time zone of the site and the map's tile URL template ('' = no base map: the UI draws devices to scale)."""
    s = api.settings
    return UiConfigOut(timezone=s.timezone, map_tile_url=s.map_tile_url, map_tile_attribution=s.map_tile_attribution)
