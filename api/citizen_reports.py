"""Citizens' reports (a dark street, a broken lamp...): rate limits, the nearest cabinet, the reference.

Nothing here can command a device: a report only becomes a work order in `review`, which a dispatcher approves or
cancels. Limits are counted in the DB from the reports themselves (so every API replica sees the same counts): per
client address (stored only as a keyed hash) and per ~500 m cell, in a sliding window of `report_window_s`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.config import ApiSettings
from api.models import Device, WorkOrder
from api.problems import Problem
from controllers.devices import DeviceKind

#: Crockford-like: no 0/O, 1/I/L, so a reference read over the phone is typed right. 32^8 ≈ 1.1e12 references.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERENCE_PATTERN = r"^[Pp][Aa]-[2-9A-Za-z]{8}$"
CELL_DEG = 0.0045  # ≈ 500 m of latitude
EARTH_RADIUS_M = 6_371_000.0


def new_reference() -> str:
    return "PA-" + "".join(secrets.choice(ALPHABET) for _ in range(8))


def reporter_key(secret: str, addr: str | None) -> str:
    """A keyed hash of the client address: enough to count reports, useless to find the person."""
    return hmac.new(secret.encode(), (addr or "unknown").encode(), hashlib.sha256).hexdigest()[:32]


def area_cell(lat: float, lon: float) -> str:
    """The ~500 m × 500 m cell of a point (longitude cells widen toward the equator's size)."""
    lon_deg = CELL_DEG / max(math.cos(math.radians(lat)), 0.01)
    return f"{math.floor(lat / CELL_DEG)}:{math.floor(lon / lon_deg)}"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Match:
    device_id: str
    site: str
    distance_m: float


async def nearest_cabinet(session: AsyncSession, lat: float, lon: float, radius_m: float) -> Match | None:
    """The lighting cabinet of the registry nearest to the point, if one is within `radius_m`. Cabinets are few
    (thousands): a bounding-box query then exact distances."""
    dlat = radius_m / 111_000.0
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    rows = (await session.execute(select(Device.id, Device.site, Device.lat, Device.lon).where(
        Device.kind == DeviceKind.LIGHTING_CABINET.value, Device.lat.is_not(None), Device.lon.is_not(None),
        Device.lat.between(lat - dlat, lat + dlat), Device.lon.between(lon - dlon, lon + dlon)))).all()
    best: Match | None = None
    for device_id, site, dev_lat, dev_lon in rows:
        if dev_lat is None or dev_lon is None:
            continue
        d = distance_m(lat, lon, dev_lat, dev_lon)
        if d <= radius_m and (best is None or d < best.distance_m):
            best = Match(device_id, site, d)
    return best


async def check_rate(session: AsyncSession, settings: ApiSettings, key: str, cell: str, now: datetime) -> None:
    """429 with Retry-After when this address or this cell has sent its share of reports in the window."""
    since = now - timedelta(seconds=settings.report_window_s)
    for column, value, limit, what in ((WorkOrder.reporter_key, key, settings.report_per_addr, "from this address"),
                                       (WorkOrder.area_cell, cell, settings.report_per_area, "for this area")):
        count, oldest = (await session.execute(select(func.count(), func.min(WorkOrder.created_at)).where(
            column == value, WorkOrder.created_at > since))).one()
        if count >= limit and oldest is not None:
            oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
            retry = max(1, math.ceil(settings.report_window_s - (now - oldest_at).total_seconds()))
            raise Problem(429, f"too many reports {what}: at most {limit} per {int(settings.report_window_s)} s; "
                               f"try again in {retry} s", headers={"Retry-After": str(retry)},
                          message={"vi": f"Đã có quá nhiều báo cáo, hãy thử lại sau {retry} giây",
                                   "en": f"Too many reports, try again in {retry} seconds"})
