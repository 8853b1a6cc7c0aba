"""Street lighting: lighting documents (programs, calendars, circuit assignment) as versions, validation, diff,
import/export, deploys to cabinets, circuit overrides, and what a cabinet's circuits do and will do.

Engineers write and deploy documents (scope plans:write); crews and operators override circuits (scope
command:cabinet); whoever may read devices reads the rest. A refused document answers 422 problem+json whose
`errors` list every failed rule (`rule`, `path`, `required`, `found`, `message{vi,en}`) and is never stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import audit
from api.deps import (
    ApiDep,
    CabinetCommander,
    DevicesReader,
    PlansWriter,
    Principal,
    SessionDep,
    TelemetryReader,
    client_addr,
)
from api.lighting_deploys import TERMINAL, deployment_json
from api.lighting_energy import circuit_count, day_bounds
from api.lighting_runtime import LightingDep
from api.lighting_schemas import (
    BatchOut,
    CabinetLightingOut,
    CircuitTonight,
    DeployOut,
    DiffOut,
    DocumentSummary,
    EnergyOut,
    LightingDeploymentOut,
    LightingVersionOut,
    LightingVersionWithDocument,
    MonthTotals,
    OverrideOut,
    ProgramOut,
    ReleaseOut,
    SwitchOut,
    ValidateOut,
    VersionsOut,
)
from api.lighting_store import Refused, check, get_version, list_documents, list_versions, save_version, version_json
from api.models import CircuitOverride, Command, Device, LightingDeployment, LightingVersion
from api.problems import Problem
from api.routes.devices import IdempotencyKey
from api.routes.plans import _read_plan_body
from controllers.clock import to_rfc3339
from controllers.commands import CircuitRelease, CommandStatus, Switch
from controllers.devices import DeviceKind
from controllers.lighting import AstralSun, LightingV1, circuit_night, diff_lighting, night_of
from controllers.lighting import Switch as ProgramSwitch
from controllers.lighting.faults import loads_from_birth, luminaires_out
from controllers.telemetry import StoreError

router = APIRouter(prefix="/api/v1", tags=["lighting"])

MAX_VERSION = 2**31 - 1
Version = Annotated[int, Path(ge=1, le=MAX_VERSION)]
DocumentId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")]
DeviceId = Annotated[str, Path(min_length=1, max_length=64)]
Circuit = Annotated[int, Path(ge=1, le=64)]
_DOC_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description": "a signalight.lighting/v1 document"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary", "description": "a document exported as .json"}}}}}}}


def _deployment(row: LightingDeployment) -> LightingDeploymentOut:
    return LightingDeploymentOut.model_validate(deployment_json(row))


def _refused(errors: list[dict[str, Any]], warnings: list[dict[str, Any]], detail: str) -> Problem:
    return Problem(422, detail, title="Lighting document refused", errors=errors, warnings=warnings)


def _today(api: ApiDep) -> dt.date:
    return api.clock.now().astimezone(api.settings.tz).date()


@router.post("/lighting/validate", response_model=ValidateOut,
             responses={422: {"description": "refused: problem+json with `errors`"}})
async def validate(document: Annotated[Any, Body(description="a signalight.lighting/v1 document")], api: ApiDep,
                   _: DevicesReader) -> ValidateOut:
    """Check a document against every rule (a year of nights from today): 200 `{ok, warnings}` or 422."""
    report = check(document, _today(api))
    data = report.model_dump(mode="json")
    if not report.ok:
        raise _refused(data["errors"], data["warnings"], f"document refused: {len(report.errors)} rule(s) failed")
    return ValidateOut(ok=True, warnings=data["warnings"])


@router.get("/lighting/documents", response_model=list[DocumentSummary])
async def documents(session: SessionDep, _: DevicesReader) -> list[DocumentSummary]:
    """Every lighting document id and its newest version."""
    return [DocumentSummary.model_validate(d) for d in await list_documents(session)]


@router.post("/lighting/documents/{document_id}", status_code=201, response_model=LightingVersionOut,
             openapi_extra=_DOC_BODY,
             responses={422: {"description": "refused, nothing stored"}})
async def create_version(document_id: DocumentId, request: Request, api: ApiDep, session: SessionDep,
                         user: PlansWriter,
                         comment: Annotated[str | None, Query(max_length=512)] = None) -> LightingVersionOut:
    """Store a new version (JSON body, or a .json file as multipart `file` to import). Only documents the
    validator accepts are stored."""
    data = await _read_plan_body(request)
    saved = await save_version(session, document_id, data, author=user.name, comment=comment,
                               now=api.clock.now(), today=_today(api))
    if isinstance(saved, Refused):
        report = saved.report.model_dump(mode="json")
        raise _refused(report["errors"], report["warnings"],
                       f"document refused: {len(saved.report.errors)} rule(s) failed; nothing stored")
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action="lighting.create", target=document_id, outcome="ok",
                       detail={"version": saved.version, "crc32": f"{saved.crc32:08x}"})
    return LightingVersionOut.model_validate(version_json(saved))


@router.get("/lighting/documents/{document_id}/versions", response_model=VersionsOut)
async def versions(document_id: DocumentId, session: SessionDep,
                   _: DevicesReader) -> VersionsOut:
    """Versions, newest first."""
    rows = await list_versions(session, document_id)
    return VersionsOut(document_id=document_id, versions=[LightingVersionOut.model_validate(version_json(r))
                                                          for r in rows])


async def _version(session: SessionDep, document_id: str, version: int) -> LightingVersion:
    row = await get_version(session, document_id, version)
    if row is None:
        raise Problem(404, f"lighting document {document_id!r} has no version {version}")
    return row


@router.get("/lighting/documents/{document_id}/diff", response_model=DiffOut, responses={404: {}})
async def diff(document_id: DocumentId, session: SessionDep,
               _: DevicesReader,
               from_: Annotated[int, Query(alias="from", ge=1, le=MAX_VERSION)],
               to: Annotated[int, Query(ge=1, le=MAX_VERSION)]) -> DiffOut:
    """Every difference from version `from` to version `to`, each with a one-line `text`."""
    old, new = [LightingV1.model_validate((await _version(session, document_id, v)).document) for v in (from_, to)]
    return DiffOut(document_id=document_id, from_=from_, to=to,
                   changes=[c.model_dump(mode="json") for c in diff_lighting(old, new)])


@router.get("/lighting/documents/{document_id}/versions/{version}", response_model=LightingVersionWithDocument,
            responses={404: {}})
async def get_document(document_id: DocumentId, version: Version, session: SessionDep,
                       _: DevicesReader) -> LightingVersionWithDocument:
    row = await _version(session, document_id, version)
    return LightingVersionWithDocument.model_validate(version_json(row, with_document=True))


@router.get("/lighting/documents/{document_id}/versions/{version}/export", responses={404: {}})
async def export(document_id: DocumentId, version: Version, session: SessionDep,
                 _: DevicesReader) -> JSONResponse:
    """The document as a downloadable .json file (import it again with a multipart POST)."""
    row = await _version(session, document_id, version)
    return JSONResponse(row.document, headers={
        "Content-Disposition": f'attachment; filename="{document_id}-v{version}.json"'})


class DeployTargets(BaseModel):
    """Where to deploy: cabinets by id, and/or every cabinet of a site."""

    model_config = ConfigDict(extra="forbid")

    device_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list,
                                                                                  max_length=500)
    site: str | None = Field(default=None, max_length=64)


@router.post("/lighting/documents/{document_id}/versions/{version}/deploy", status_code=202, response_model=DeployOut,
             responses={404: {}, 409: {"description": "a deploy to one of the cabinets is in progress"}, 422: {}})
async def deploy(document_id: DocumentId, version: Version, targets: DeployTargets, request: Request,
                 session: SessionDep, lighting: LightingDep,
                 user: PlansWriter) -> DeployOut:
    """Send the version to each cabinet named or of the site; per-cabinet status at
    `/api/v1/lighting/batches/{batch_id}`. A cabinet where the document fails the rules is `refused` (not sent)."""
    row = await _version(session, document_id, version)
    devices: dict[str, Device] = {}
    for device_id in targets.device_ids:
        device = await session.get(Device, device_id)
        if device is None or device.kind != DeviceKind.LIGHTING_CABINET.value:
            raise Problem(422, f"{device_id!r} is not a known lighting cabinet",
                          errors=[{"path": "device_ids", "message": f"unknown cabinet {device_id!r}"}])
        devices[device.id] = device
    if targets.site is not None:
        for device in (await session.execute(select(Device).where(
                Device.site == targets.site, Device.kind == DeviceKind.LIGHTING_CABINET.value))).scalars():
            devices[device.id] = device
    if not devices:
        raise Problem(422, "no cabinet to deploy to: give device_ids or a site with cabinets")
    running = (await session.execute(select(LightingDeployment.id, LightingDeployment.device_id).where(
        LightingDeployment.device_id.in_(sorted(devices)),
        LightingDeployment.status.not_in(sorted(TERMINAL))))).first()
    if running is not None:  # a cabinet takes one transfer at a time
        raise Problem(409, f"deployment {running[0]} to {running[1]!r} is still in progress",
                      deployment_id=running[0])
    rows = await lighting.deploys.start(session, row, list(devices.values()), requested_by=user.name,
                                        source_addr=client_addr(request))
    return DeployOut(batch_id=rows[0].batch_id, deployments=[_deployment(r) for r in rows])


@router.get("/lighting/batches/{batch_id}", response_model=BatchOut, responses={404: {}})
async def batch(batch_id: str, session: SessionDep, _: DevicesReader) -> BatchOut:
    rows = list((await session.execute(select(LightingDeployment).where(
        LightingDeployment.batch_id == batch_id[:64]).order_by(LightingDeployment.device_id))).scalars())
    if not rows:
        raise Problem(404, f"no lighting deploy batch {batch_id!r}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    return BatchOut(batch_id=batch_id, counts=counts, deployments=[_deployment(r) for r in rows])


@router.get("/lighting/deployments/{deployment_id}", response_model=LightingDeploymentOut, responses={404: {}})
async def deployment(deployment_id: str, session: SessionDep, _: DevicesReader) -> LightingDeploymentOut:
    row = await session.get(LightingDeployment, deployment_id[:64])
    if row is None:
        raise Problem(404, f"no lighting deployment {deployment_id!r}")
    return _deployment(row)


# ----- a cabinet's circuits: overrides and what they do --------------------------------------------------------

class OverrideRequest(BaseModel):
    """Hold a circuit at `level_pct` (0 = off) for `duration_min`, then back to its program."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    level_pct: float = Field(ge=0, le=100)
    duration_min: int = Field(ge=1, le=24 * 60)
    reason: str = Field(min_length=1, max_length=256)


def override_out(row: CircuitOverride) -> OverrideOut:
    return OverrideOut(id=row.id, device_id=row.device_id, circuit=row.circuit, level_pct=row.level_pct,
                       until=to_rfc3339(row.until), reason=row.reason, set_by=row.set_by,
                       set_at=to_rfc3339(row.set_at), status=row.status, command_id=row.command_id,
                       ended_at=to_rfc3339(row.ended_at) if row.ended_at else None)


async def _cabinet(session: SessionDep, device_id: str) -> Device:
    device = await session.get(Device, device_id)
    if device is None or device.kind != DeviceKind.LIGHTING_CABINET.value:
        raise Problem(404, f"no lighting cabinet {device_id!r}")
    return device


async def _active_overrides(session: SessionDep, device_id: str, now: dt.datetime) -> list[CircuitOverride]:
    rows = list((await session.execute(select(CircuitOverride).where(
        CircuitOverride.device_id == device_id, CircuitOverride.status == "active"))).scalars())
    for row in rows:
        if row.until <= now:   # its time is over: the cabinet returned to its program by itself
            row.status, row.ended_at = "expired", row.until
    await session.commit()
    return [r for r in rows if r.status == "active"]


async def _sent_with_key(session: SessionDep, user: Principal, key: str | None, device_id: str,
                         name: str, circuit: int | None) -> Command | None:
    """The command `user` already sent with Idempotency-Key `key` (a phone retrying after a lost answer); 422 when
    the key was used for another device, command or circuit."""
    if key is None:
        return None
    row = (await session.execute(select(Command).where(
        Command.issued_by == user.name, Command.idempotency_key == key))).scalar_one_or_none()
    if row is None:
        return None
    if (row.device_id, row.name, (row.args or {}).get("circuit")) != (device_id, name, circuit):
        raise Problem(422, f"Idempotency-Key {key!r} was used for command {row.id} ({row.name} to "
                           f"{row.device_id}); use a new key for a new command", command_id=row.id,
                      errors=[{"path": "header.Idempotency-Key", "message": "already used for another command",
                               "type": "idempotency_key_reused"}])
    if row.status == CommandStatus.FAILED.value and row.error == "not_sent":
        raise Problem(502, f"the command was not sent: {row.message}", command_id=row.id)
    return row


async def _issue_once(session: SessionDep, api: ApiDep, device: Device, command: Switch | CircuitRelease,
                      user: Principal, request: Request, key: str | None) -> tuple[Command, bool]:
    """Send `command` unless `key` already sent it: (the command, whether it is a replay)."""
    first = await _sent_with_key(session, user, key, device.id, command.name, command.circuit)
    if first is not None:
        return first, True
    device_id = device.id
    try:
        sent = await api.dispatcher.issue(session, device, command, issued_by=user.name,
                                          source_addr=client_addr(request), idempotency_key=key)
    except IntegrityError:  # a concurrent retry with the same key committed first: that one is the command
        await session.rollback()
        first = await _sent_with_key(session, user, key, device_id, command.name, command.circuit)
        if first is None:
            raise
        return first, True
    return sent, False


@router.put("/cabinets/{device_id}/circuits/{circuit}/override", response_model=OverrideOut,
            responses={404: {}, 422: {}, 502: {}})
async def set_override(device_id: DeviceId, circuit: Circuit, body: OverrideRequest, request: Request,
                       response: Response, api: ApiDep, session: SessionDep, user: CabinetCommander,
                       idempotency_key: IdempotencyKey = None) -> OverrideOut:
    """Switch or dim a circuit until now + duration; the override (who, until, why) shows in the cabinet's
    lighting view until it ends or is released. The cabinet returns to its program by itself at `until`. With an
    `Idempotency-Key`, a retry (a phone that lost the answer) returns the first override and sends nothing."""
    device = await _cabinet(session, device_id)
    now = api.clock.now()
    until = now + dt.timedelta(minutes=body.duration_min)
    sent, replayed = await _issue_once(session, api, device, Switch(circuit=circuit, level_pct=body.level_pct,
                                                                    until=until), user, request, idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
        first = (await session.execute(select(CircuitOverride).where(
            CircuitOverride.command_id == sent.id))).scalar_one_or_none()
        if first is not None:
            return override_out(first)
    if sent.status == CommandStatus.FAILED.value:
        raise Problem(502, f"the switch command was not sent: {sent.message}", command_id=sent.id)
    for old in await _active_overrides(session, device_id, now):
        if old.circuit == circuit:
            old.status, old.ended_at = "superseded", now
    row = CircuitOverride(id=str(uuid.uuid4()), device_id=device_id, circuit=circuit, level_pct=body.level_pct,
                          until=until, reason=body.reason, set_by=user.name, source_addr=client_addr(request),
                          set_at=now, command_id=sent.id, status="active")
    session.add(row)
    await session.commit()
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request),
                       action="lighting.override", target=device_id, outcome="requested",
                       detail={"circuit": circuit, "level_pct": body.level_pct, "until": to_rfc3339(until),
                               "reason": body.reason, "command_id": sent.id})
    return override_out(row)


@router.delete("/cabinets/{device_id}/circuits/{circuit}/override", response_model=ReleaseOut,
               responses={404: {}, 422: {}, 502: {}})
async def release_override(device_id: DeviceId, circuit: Circuit, request: Request, response: Response,
                           api: ApiDep, session: SessionDep, user: CabinetCommander,
                           idempotency_key: IdempotencyKey = None) -> ReleaseOut:
    """Return the circuit to its program now (with `Idempotency-Key`, a retry sends nothing again)."""
    device = await _cabinet(session, device_id)
    now = api.clock.now()
    sent, replayed = await _issue_once(session, api, device, CircuitRelease(circuit=circuit), user, request,
                                       idempotency_key)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
        return ReleaseOut(device_id=device_id, circuit=circuit, command_id=sent.id, released=[])
    if sent.status == CommandStatus.FAILED.value:
        raise Problem(502, f"the release command was not sent: {sent.message}", command_id=sent.id)
    ended = [r for r in await _active_overrides(session, device_id, now) if r.circuit == circuit]
    for row in ended:
        row.status, row.ended_at = "released", now
    await session.commit()
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request),
                       action="lighting.release", target=device_id, outcome="requested",
                       detail={"circuit": circuit, "command_id": sent.id})
    return ReleaseOut(device_id=device_id, circuit=circuit, command_id=sent.id,
                      released=[override_out(r) for r in ended])


@router.get("/cabinets/{device_id}/lighting", response_model=CabinetLightingOut, responses={404: {}})
async def cabinet_lighting(device_id: DeviceId, api: ApiDep, session: SessionDep,
                           _: DevicesReader) -> CabinetLightingOut:
    """Each circuit as measured (on/off, level, current, breaker, faults), its active override (who, until, why),
    the running document (last active deploy), tonight's switching times at the cabinet's coordinates and the next
    switches from now (into the next night once this one's are past)."""
    device = await _cabinet(session, device_id)
    now = api.clock.now()
    overrides = {r.circuit: override_out(r) for r in await _active_overrides(session, device_id, now)}
    # Whether the cabinet took each override: an expired or failed command means it never ran (the crew must know).
    ids = [o.command_id for o in overrides.values() if o.command_id]
    statuses: dict[str, str] = {}
    if ids:
        for command_id, status in (await session.execute(select(Command.id, Command.status).where(
                Command.id.in_(ids)))).all():
            statuses[command_id] = status
    for o in overrides.values():
        o.command_status = statuses.get(o.command_id) if o.command_id else None
    live = api.cache.get(device_id)
    values = ((live.state or {}).get("values") or {}) if live else {}
    circuits = [dict(c) for c in values.get("circuits") or [] if isinstance(c, dict)]
    loads = loads_from_birth(live.birth if live else device.birth)
    for c in circuits:
        number = c.get("circuit")
        # Per-luminaire status of a circuit-metered cabinet: its luminaires and how many are out, from the current
        load = loads.get(number) if isinstance(number, int) else None
        c["luminaires"] = load.luminaires if load is not None else None
        c["luminaires_out"] = luminaires_out(c, load)
        held = overrides.get(number) if isinstance(number, int) else None
        c["override"] = held.model_dump() if held is not None else None
        # A circuit is "on" only when it is lit: a tripped breaker is off and faulty, whatever its contactor.
        c["status"] = "fault" if c.get("breaker_tripped") or c.get("faults") else ("on" if c.get("on") else "off")
    active = (await session.execute(select(LightingDeployment).where(
        LightingDeployment.device_id == device_id, LightingDeployment.status == "active").order_by(
        LightingDeployment.finished_at.desc()).limit(1))).scalar_one_or_none()
    program: ProgramOut | None = None
    if active is not None:
        row = await get_version(session, active.document_id, active.version)
        if row is not None:
            doc = LightingV1.model_validate(row.document)
            lat, lon = (device.lat, device.lon) if device.lat is not None and device.lon is not None else (
                doc.site.lat, doc.site.lon)
            sun = AstralSun(lat, lon, doc.site.timezone)
            night = night_of(now.astimezone(ZoneInfo(doc.site.timezone)))
            tonight: list[CircuitTonight] = []
            for assignment in doc.circuits:
                n = circuit_night(doc, assignment.circuit, night, sun)
                following = circuit_night(doc, assignment.circuit, night + dt.timedelta(days=1), sun)
                upcoming = [s for s in (*n.switches, *following.switches) if s.at > now][:4]
                tonight.append(CircuitTonight(circuit=assignment.circuit, rule=n.rule, program=n.program,
                                              switches=[switch_out(s) for s in n.switches],
                                              next_switches=[switch_out(s) for s in upcoming]))
            program = ProgramOut(document_id=active.document_id, version=active.version, crc32=active.crc32,
                                 name=doc.name, night=night.isoformat(), circuits=tonight)
    reported = values.get("lighting") if isinstance(values.get("lighting"), dict) else None
    return CabinetLightingOut(device_id=device_id, site=device.site, circuits=circuits, program=program,
                              reported_program=reported, overrides=list(overrides.values()))


# ----- energy and burning hours ------------------------------------------------------------------------------

MAX_REPORT_DAYS = 400


def _report_fields(circuits: int) -> list[str]:
    fields = ["day_energy_kwh", "day_power_integral_kwh"]
    for n in range(1, circuits + 1):
        fields += [f"circuit{n}_day_{name}" for name in ("energy_kwh", "burning_h", "switches", "full_kwh",
                                                        "savings_kwh")]
    return fields


async def _energy_days(api: ApiDep, device: Device, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The stored daily reports of `device` for local days start..end (inclusive), oldest first."""
    if end < start or (end - start).days >= MAX_REPORT_DAYS:
        raise Problem(422, f"a report covers 1..{MAX_REPORT_DAYS} days, from ≤ to",
                      errors=[{"path": "to", "message": f"from {start} to {end}"}])
    store = api.deps.telemetry
    if store is None:
        raise Problem(503, "no telemetry store is configured for this API")
    circuits = circuit_count(device)
    lo, _ = day_bounds(start, api.settings.tz)
    _, hi = day_bounds(end, api.settings.tz)
    try:
        series = await store.query(kind=DeviceKind.LIGHTING_CABINET, device=device.id,
                                   fields=_report_fields(circuits), start=lo, end=hi)
    except StoreError as exc:
        raise Problem(503, f"telemetry store unavailable: {exc}", headers={"Retry-After": "10"}) from None
    days: dict[str, dict[str, Any]] = {}
    for s in series:
        for ts, value in s.points:
            if value is None:
                continue
            day = ts.astimezone(api.settings.tz).date().isoformat()
            days.setdefault(day, {"day": day, "circuits": {}})
            if s.field.startswith("circuit"):
                number, _, name = s.field.removeprefix("circuit").partition("_day_")
                days[day]["circuits"].setdefault(int(number), {"circuit": int(number)})[name] = value
            else:
                days[day][s.field.removeprefix("day_")] = value
    out = []
    for day in sorted(days):
        row = days[day]
        row["circuits"] = [row["circuits"][n] for n in sorted(row["circuits"])]
        out.append(row)
    return out


@router.get("/cabinets/{device_id}/energy", response_model=EnergyOut, responses={404: {}, 422: {}, 503: {}})
async def cabinet_energy(device_id: DeviceId, api: ApiDep, session: SessionDep,
                         _: TelemetryReader,
                         from_: Annotated[dt.date, Query(alias="from")],
                         to: Annotated[dt.date, Query()]) -> EnergyOut:
    """Energy (kWh, from the meter), the meter's check (∫P dt), burning hours, switchings and dimming savings per
    day and circuit, and per month, from the daily reports the scheduler stores."""
    device = await _cabinet(session, device_id)
    days = await _energy_days(api, device, from_, to)
    months: dict[str, dict[str, float]] = {}
    for day in days:
        month = months.setdefault(day["day"][:7], {"energy_kwh": 0.0, "burning_h": 0.0, "savings_kwh": 0.0})
        month["energy_kwh"] += day.get("energy_kwh", 0.0)
        for c in day["circuits"]:
            month["burning_h"] += c.get("burning_h", 0.0)
            month["savings_kwh"] += c.get("savings_kwh", 0.0)
    return EnergyOut(device_id=device_id, from_=from_.isoformat(), to=to.isoformat(), days=days,
                     months=[MonthTotals(month=m, **{k: round(v, 3) for k, v in totals.items()})
                             for m, totals in sorted(months.items())])


@router.get("/lighting/energy.csv", responses={422: {}, 503: {}},
            response_class=Response)
async def energy_csv(api: ApiDep, session: SessionDep, _: TelemetryReader,
                     from_: Annotated[dt.date, Query(alias="from")], to: Annotated[dt.date, Query()],
                     site: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    """Per cabinet, day and circuit (an empty circuit is the cabinet's meter): kWh, burning hours, switchings,
    full-power kWh and savings, as CSV for the city's accounting."""
    query = select(Device).where(Device.kind == DeviceKind.LIGHTING_CABINET.value)
    if site is not None:
        query = query.where(Device.site == site)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["day", "site", "device_id", "circuit", "energy_kwh", "power_integral_kwh", "burning_h",
                     "switches", "full_kwh", "savings_kwh"])
    for device in (await session.execute(query.order_by(Device.id))).scalars():
        for day in await _energy_days(api, device, from_, to):
            writer.writerow([day["day"], device.site, device.id, "", day.get("energy_kwh", ""),
                             day.get("power_integral_kwh", ""), "", "", "", ""])
            for c in day["circuits"]:
                writer.writerow([day["day"], device.site, device.id, c["circuit"], c.get("energy_kwh", ""), "",
                                 c.get("burning_h", ""), int(c["switches"]) if "switches" in c else "",
                                 c.get("full_kwh", ""), c.get("savings_kwh", "")])
    name = f"lighting-energy-{from_.isoformat()}-{to.isoformat()}.csv"
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def switch_out(s: ProgramSwitch) -> SwitchOut:
    return SwitchOut(at=to_rfc3339(s.at), level_pct=s.level_pct, cause=s.cause)
