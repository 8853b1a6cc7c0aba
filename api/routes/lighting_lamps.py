"""`GET /api/v1/lighting/lamp-life`: each cabinet circuit's luminaires against their rated life (hours burnt,
% used, hours left), and which circuits near their end of life, for planning relamping.

Burning hours are the cabinet's own per-circuit counter, the newest reading in the telemetry store (within
`LOOKBACK`); the rated life comes from what the circuit feeds (`loads[].rated_life_h` of the birth, which for a
Modbus cabinet is its registry entry). Per-luminaire status: the cabinets here (the simulated ones included) meter
each circuit, not each luminaire, so a failed luminaire shows as a circuit drawing less than its level needs: the
`lamp_failure` alarm and the cabinet's lighting view (`luminaires_out`) give the estimated number out.

`POST /api/v1/lighting/cabinets/{id}/circuits/{n}/relamp` records that a crew replaced a circuit's luminaires (when,
who, why; audited `lighting.relamp`): the circuit's lamp life counts from there on, the cabinet's counter at that
moment subtracted from later readings (the cabinet's own counter keeps counting: it is also the energy reports').
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import audit
from api.deps import ApiDep, CabinetCommander, SessionDep, TelemetryReader, client_addr
from api.lighting_energy import circuit_count
from api.models import CircuitRelamping, Device
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
    burning_h: float | None = Field(description="hours burnt since the last relamping (the cabinet's counter)")
    burning_h_at: str | None
    relamped_on: str | None = Field(default=None, description="when the circuit was last relamped (null: never "
                                                                "recorded)")
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
    out: list[CabinetLifeOut] = []
    for cabinet in (await session.execute(query.order_by(Device.id).limit(MAX_CABINETS))).scalars():
        loads = loads_from_birth(cabinet.birth)
        counters = await _counters(api, cabinet)
        relamped = await _last_relampings(session, cabinet.id)
        circuits = []
        for n, latest in counters.items():
            last = relamped.get(n)
            burnt = latest[1] if latest else None
            if burnt is not None and last is not None:
                if last.burning_h is None:      # relamped before the cabinet's counter was ever read
                    burnt = None
                elif burnt >= last.burning_h:   # counted from the relamping
                    burnt -= last.burning_h
                # else: the cabinet's counter restarted since the relamping (a new controller): it counts from then
            life = circuit_life(n, loads.get(n), burnt, nearing_pct)
            if nearing_only and life.status not in ("nearing_eol", "past_eol"):
                continue
            circuits.append(CircuitLifeOut(circuit=n, luminaires=life.luminaires, rated_life_h=life.rated_life_h,
                                           burning_h=life.burning_h,
                                           burning_h_at=to_rfc3339(latest[0]) if latest else None,
                                           used_pct=life.used_pct, remaining_h=life.remaining_h,
                                           status=life.status,
                                           relamped_on=to_rfc3339(last.relamped_on) if last else None))
        if circuits or not nearing_only:
            out.append(CabinetLifeOut(device_id=cabinet.id, site=cabinet.site, circuits=circuits))
    return LampLifeOut(nearing_pct=nearing_pct, cabinets=out)


async def _counters(api: ApiDep, cabinet: Device) -> dict[int, tuple[dt.datetime, float] | None]:
    """Each circuit's newest burning-hours counter reading (within LOOKBACK) and when, or None."""
    store = api.deps.telemetry
    if store is None:
        raise Problem(503, "no telemetry store is configured for this API")
    now = api.clock.now()
    fields = [f"circuit{n}_burning_h" for n in range(1, circuit_count(cabinet) + 1)]
    try:
        series = await store.query(kind=DeviceKind.LIGHTING_CABINET, device=cabinet.id, fields=fields,
                                   start=now - LOOKBACK, end=now, interval_s=LOOKBACK.total_seconds(),
                                   aggregate=Aggregate.LAST)
    except StoreError as exc:
        raise Problem(503, f"telemetry store unavailable: {exc}", headers={"Retry-After": "10"}) from None
    return {n: next(((ts, v) for ts, v in reversed(s.points) if v is not None), None)
            for n, s in enumerate(series, start=1)}


async def _last_relampings(session: SessionDep, device_id: str) -> dict[int, CircuitRelamping]:
    rows = (await session.execute(select(CircuitRelamping).where(CircuitRelamping.device_id == device_id)
                                  .order_by(CircuitRelamping.relamped_on, CircuitRelamping.id))).scalars()
    return {r.circuit: r for r in rows}


class RelampRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=256, description="why (e.g. end of life, vandalism, upgrade)")


class RelampOut(BaseModel):
    id: int
    device_id: str
    circuit: int
    relamped_on: str
    burning_h: float | None = Field(description="the cabinet's counter at the relamping (null: no reading yet; "
                                                "lamp life is unknown until the next relamping)")
    reason: str
    done_by: str


@router.post("/cabinets/{device_id}/circuits/{circuit}/relamp", response_model=RelampOut, status_code=201,
             responses={404: {}, 422: {}, 503: {}})
async def relamp(device_id: Annotated[str, Path(pattern=ID_PATTERN)], circuit: Annotated[int, Path(ge=1, le=16)],
                 body: RelampRequest, request: Request, api: ApiDep, session: SessionDep,
                 user: CabinetCommander) -> RelampOut:
    """The circuit's luminaires were replaced now: its lamp life restarts (audited `lighting.relamp`)."""
    cabinet = await session.get(Device, device_id)
    if cabinet is None or cabinet.kind != DeviceKind.LIGHTING_CABINET.value:
        raise Problem(404, f"no lighting cabinet {device_id!r}")
    if circuit > circuit_count(cabinet):
        raise Problem(422, f"circuit {circuit}: cabinet {device_id} has circuits 1..{circuit_count(cabinet)}")
    latest = (await _counters(api, cabinet)).get(circuit)
    now = api.clock.now()
    row = CircuitRelamping(device_id=device_id, circuit=circuit, relamped_on=now,
                           burning_h=latest[1] if latest else None, reason=body.reason, done_by=user.name,
                           source_addr=client_addr(request), recorded_at=now)
    session.add(row)
    await session.commit()
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request), action="lighting.relamp",
                       target=device_id, outcome="done", detail={"circuit": circuit, "reason": body.reason,
                                                                 "burning_h": row.burning_h})
    return RelampOut(id=row.id, device_id=device_id, circuit=circuit, relamped_on=to_rfc3339(now),
                     burning_h=row.burning_h, reason=row.reason, done_by=row.done_by)
