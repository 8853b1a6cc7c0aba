"""`GET /api/v1/lighting/lamp-life`: each cabinet circuit's luminaires against their rated life (hours burnt,
% used, hours left), and which circuits near their end of life, for planning relamping.

Burning hours are the cabinet's own per-circuit counter, the newest reading in the telemetry store (within
`LOOKBACK`); the rated life comes from what the circuit feeds (`loads[].rated_life_h` of the birth, which for a
Modbus cabinet is its registry entry). Per-luminaire status: the cabinets here (the simulated ones included) meter
each circuit, not each luminaire, so a failed luminaire shows only as a circuit drawing less than its level needs
(the `lamp_failure` alarm, with the estimated number failed); no per-luminaire hours or states are reported.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import ApiDep, SessionDep, TelemetryReader
from api.lighting_energy import circuit_count
from api.models import Device
from api.problems import Problem
from controllers.clock import to_rfc3339
from controllers.devices import ID_PATTERN, DeviceKind
from controllers.lighting.faults import loads_from_birth
from controllers.lighting.lamp_life import NEARING_EOL_PCT, LifeStatus, circuit_life
from controllers.telemetry import Aggregate, StoreError

router = APIRouter(prefix="/api/v1/lighting", tags=["lighting"])

LOOKBACK = dt.timedelta(days=7)   # a counter older than this is not "now"; the cabinet has been silent a week
MAX_CABINETS = 2000


class CircuitLifeOut(BaseModel):
    circuit: int
    luminaires: int | None
    rated_life_h: float | None
    burning_h: float | None
    burning_h_at: str | None
    used_pct: float | None
    remaining_h: float | None
    status: LifeStatus


class CabinetLifeOut(BaseModel):
    device_id: str
    site: str
    circuits: list[CircuitLifeOut]


class LampLifeOut(BaseModel):
    nearing_pct: float
    cabinets: list[CabinetLifeOut]


@router.get("/lamp-life", response_model=LampLifeOut, responses={503: {}})
async def lamp_life(api: ApiDep, session: SessionDep, _: TelemetryReader,
                    site: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                    device: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                    nearing_pct: Annotated[float, Query(gt=0, le=100)] = NEARING_EOL_PCT,
                    nearing_only: bool = False) -> LampLifeOut:
    """Per cabinet and circuit: rated life (h), hours burnt (the cabinet's counter, and when it was read), % used,
    hours left and `status` (`ok`, `nearing_eol` from `nearing_pct` % of the rated life, `past_eol`, `unknown`
    when the rated life is not declared or the cabinet has not reported its counter for a week). With
    `nearing_only`, only the circuits nearing or past their end of life (and their cabinets)."""
    store = api.deps.telemetry
    if store is None:
        raise Problem(503, "no telemetry store is configured for this API")
    query = select(Device).where(Device.kind == DeviceKind.LIGHTING_CABINET.value)
    if site is not None:
        query = query.where(Device.site == site)
    if device is not None:
        query = query.where(Device.id == device)
    now = api.clock.now()
    out: list[CabinetLifeOut] = []
    for cabinet in (await session.execute(query.order_by(Device.id).limit(MAX_CABINETS))).scalars():
        loads = loads_from_birth(cabinet.birth)
        fields = [f"circuit{n}_burning_h" for n in range(1, circuit_count(cabinet) + 1)]
        try:
            series = await store.query(kind=DeviceKind.LIGHTING_CABINET, device=cabinet.id, fields=fields,
                                       start=now - LOOKBACK, end=now, interval_s=LOOKBACK.total_seconds(),
                                       aggregate=Aggregate.LAST)
        except StoreError as exc:
            raise Problem(503, f"telemetry store unavailable: {exc}", headers={"Retry-After": "10"}) from None
        circuits = []
        for n, s in enumerate(series, start=1):
            latest = next(((ts, v) for ts, v in reversed(s.points) if v is not None), None)
            life = circuit_life(n, loads.get(n), latest[1] if latest else None, nearing_pct)
            if nearing_only and life.status not in ("nearing_eol", "past_eol"):
                continue
            circuits.append(CircuitLifeOut(circuit=n, luminaires=life.luminaires, rated_life_h=life.rated_life_h,
                                           burning_h=life.burning_h,
                                           burning_h_at=to_rfc3339(latest[0]) if latest else None,
                                           used_pct=life.used_pct, remaining_h=life.remaining_h,
                                           status=life.status))
        if circuits or not nearing_only:
            out.append(CabinetLifeOut(device_id=cabinet.id, site=cabinet.site, circuits=circuits))
    return LampLifeOut(nearing_pct=nearing_pct, cabinets=out)
