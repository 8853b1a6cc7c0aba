"""`/api/v1/devices`: the fleet, live (from the bus cache) merged with what the config DB knows; and commands."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import audit
from api.command_models import CommandIn, ResetConflictCommand
from api.deps import ApiDep, CommandsReader, DevicesReader, Principal, SessionDep, client_addr
from api.dispatch import NOT_SENT
from api.models import Command, Device
from api.plans_runtime import PlansDep
from api.problems import Problem, field_errors
from api.routes.control import refuse_release_of_conflict_flash
from api.security import Role, Scope
from api.state import ApiState
from controllers.clock import to_rfc3339
from controllers.commands import COMMANDS_BY_KIND, AnyCommand, command_args, parse_command
from controllers.devices import ID_PATTERN, DeviceKind
from controllers.presence import gateway_of

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

DeviceIdPath = Field(pattern=ID_PATTERN)


class DeviceOut(BaseModel):
    id: str
    site: str
    kind: DeviceKind | None
    status: Literal["online", "offline", "unknown"]
    status_reason: str | None = Field(default=None, description="why offline: the device's own reason, or "
                                      "gateway_offline / gateway_restarted when its gateway is (topic contract v1)")
    gateway: str | None = Field(default=None, description="the gateway that speaks for it (Modbus devices)")
    name: str | None = None
    transport: str | None = None
    model: str | None = None
    firmware: str | None = None
    location: dict[str, float] | None = None
    birth: dict[str, Any] | None = None
    state: dict[str, Any] | None = None
    last_seen: str | None = None
    endpoint: str | None = Field(default=None, description="modbus://host:port/unit or mqtt:client_id")
    profile: str | None = Field(default=None, description="Modbus register map")
    gateway_shard: str | None = None
    alarms: list[str] = Field(default_factory=list)


class CommandAccepted(BaseModel):
    id: str
    status: str
    device_id: str
    name: str
    expires_at: str
    href: str


#: Printable ASCII without spaces or commas, as the Idempotency-Key header draft (a structured-field string) allows.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,128}$"
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN,
    description="a key the client makes per command (e.g. a UUID): a retry with the same key returns the first "
                "command and does not send it again")]

#: The longest override the API accepts: a manual hold beyond a month is a schedule change, not an override.
MAX_OVERRIDE = timedelta(days=31)


def command_sense_errors(command: AnyCommand, now: datetime, birth: dict[str, Any]) -> list[dict[str, Any]]:
    """Checks that need the time or the device: `until` in the future (and within MAX_OVERRIDE), a circuit the
    cabinet has (from its birth's `circuits`)."""
    errors: list[dict[str, Any]] = []
    until = getattr(command, "until", None)
    if isinstance(until, datetime) and until <= now:
        errors.append({"path": "body.args.until", "message": f"must be in the future (now {to_rfc3339(now)})",
                       "type": "value_error"})
    elif isinstance(until, datetime) and until - now > MAX_OVERRIDE:
        errors.append({"path": "body.args.until", "message": f"at most {MAX_OVERRIDE.days} days ahead",
                       "type": "value_error"})
    circuit, circuits = getattr(command, "circuit", None), birth.get("circuits")
    if isinstance(circuit, int) and isinstance(circuits, int) and circuit > circuits:
        errors.append({"path": "body.args.circuit", "message": f"this cabinet has circuits 1..{circuits}",
                       "type": "value_error"})
    return errors


def _merge(api: ApiState, row: Device | None, device_id: str) -> DeviceOut | None:
    live = api.cache.get(device_id)
    if live is None and row is None:
        return None
    birth = (live.birth if live else None) or (row.birth if row else None) or {}
    location = birth.get("location") or (
        {"lat": row.lat, "lon": row.lon} if row and row.lat is not None and row.lon is not None else None) or (
        live.location() if live else None)
    last_seen = live.last_seen if live and live.last_seen else (row.last_seen if row else None)
    gateway = live.gateway if live and live.gateway else gateway_of(birth)
    return DeviceOut(
        id=device_id, site=live.site if live else row.site if row else "",
        kind=(live.kind if live and live.kind else row.kind if row else None),
        status=(live.status if live else row.status if row else "unknown"),
        status_reason=live.status_reason if live else None,
        gateway=gateway.id if gateway else None,
        name=birth.get("name") or (live.registry.get("name") if live else None) or (row.name if row else None),
        transport=birth.get("transport") or (
            row.transport if row else None), model=birth.get("model"), firmware=birth.get("firmware"),
        location=location, birth=birth or None, state=live.state if live else None,
        last_seen=to_rfc3339(last_seen) if last_seen else None,
        endpoint=live.registry.get("endpoint") if live else row.endpoint if row else None,
        profile=live.registry.get("profile") if live else row.profile if row else None,
        gateway_shard=live.registry.get("gateway_shard") if live else row.gateway_shard if row else None,
        alarms=sorted(a.value for a in api.alarms.active_kinds(device_id)))


@router.get("", response_model=list[DeviceOut])
async def list_devices(api: ApiDep, _: DevicesReader,
                       kind: DeviceKind | None = None, site: str | None = Query(None, pattern=ID_PATTERN),
                       status: Literal["online", "offline", "unknown"] | None = None) -> list[DeviceOut]:
    """Every device (those of the config DB are seeded at start, the bus adds the rest), live, filtered by kind,
    site and status."""
    out = []
    for live in api.cache.all():
        if (kind and live.kind != kind) or (site and live.site != site) or (status and live.status != status):
            continue
        dev = _merge(api, None, live.id)
        if dev is not None:
            out.append(dev)
    return out


@router.get("/{device_id}", response_model=DeviceOut, responses={404: {}})
async def get_device(device_id: str, api: ApiDep, _: DevicesReader) -> DeviceOut:
    """One device: birth, status, state, last seen, active alarms."""
    live = api.cache.get(device_id)
    row = None
    if live is None or live.kind is None:  # the hot path (a live device) never touches the database
        async with api.sessions() as session:
            row = await session.get(Device, device_id)
    dev = _merge(api, row, device_id)
    if dev is None:
        raise Problem(404, f"no device {device_id!r}")
    return dev


@router.post("/{device_id}/commands", status_code=202, response_model=CommandAccepted,
             responses={403: {}, 404: {}, 409: {}, 422: {}, 503: {}})
async def post_command(device_id: str, body: Annotated[CommandIn, Body()], request: Request, response: Response,
                       api: ApiDep, session: SessionDep, plans: PlansDep, user: CommandsReader,
                       idempotency_key: IdempotencyKey = None) -> CommandAccepted:
    """Send a command: validated for the device's kind, persisted, then published. 202 with the command id; follow
    `href` for the result (pending → succeeded | failed | expired). With `Idempotency-Key`, a retry (same issuer,
    same key) answers the first command (`Idempotent-Replayed: true`) and sends nothing; the same key with another
    command is a 422."""
    device = await session.get(Device, device_id)
    live = api.cache.get(device_id)
    if device is None and live is not None and live.kind is not None and live.last_seen is not None:
        # Live on the bus but its row was not written (the DB was down then): write it now, commands need it.
        device = Device(id=live.id, site=live.site, kind=live.kind, status=live.status, first_seen=live.last_seen,
                        last_seen=live.last_seen, birth=live.birth)
        session.add(device)
        await session.commit()
    if device is None:
        raise Problem(404, f"no device {device_id!r}")
    kind = DeviceKind(device.kind)
    needed = Scope.COMMAND_SIGNAL if kind is DeviceKind.SIGNAL_CONTROLLER else Scope.COMMAND_CABINET
    if not user.has(needed):
        raise Problem(403, f"role {user.role.value} may not command a {kind.value} (needs scope {needed.value})")
    if body.name == "reset_conflict" and user.role not in (Role.ENGINEER, Role.ADMIN):
        # Restarting an intersection the conflict monitor shut down is an engineer's decision.
        raise Problem(403, f"role {user.role.value} may not reset a conflict flash (engineers only)")
    args = body.wire_args()
    if body.name not in COMMANDS_BY_KIND[kind]:
        raise Problem(422, f"unknown command {body.name!r} for a {kind.value}",
                      errors=[{"path": "body.name", "message": f"one of {', '.join(COMMANDS_BY_KIND[kind])}",
                               "type": "enum"}])
    try:
        command = parse_command(kind, body.name, args)
    except ValidationError as exc:
        # The discriminated union puts the tag (the command name) first in each error's location: drop it.
        raw = [{**e, "loc": e["loc"][1:] if e["loc"][:1] == (body.name,) else e["loc"]}
               for e in exc.errors(include_url=False)]
        errors = [e for e in field_errors(raw, ("body", "args")) if e["path"] != "body.args.name"]
        raise Problem(422, f"invalid arguments for {body.name}: {errors[0]['path'] if errors else 'args'}",
                      errors=errors) from None
    problems = command_sense_errors(command, api.clock.now(), (live.birth if live else None) or device.birth or {})
    if problems:
        raise Problem(422, f"invalid arguments for {body.name}: {problems[0]['path']}", errors=problems)
    if idempotency_key is not None:
        first = await _first_with_key(session, user, idempotency_key, device.id, command)
        if first is not None:
            response.headers["Idempotent-Replayed"] = "true"
            return _accepted(first)
    if kind is DeviceKind.SIGNAL_CONTROLLER and body.name in ("release", "hold_pattern", "flash", "free"):
        # Manual control belongs to its owner, whichever route a command takes: else a session's renewals would
        # put a released hold back within seconds.
        if body.name == "release":
            refuse_release_of_conflict_flash(api, device)
        await plans.control.end_for_device(session, device.id, released=body.name == "release", user=user.name,
                                           source_addr=client_addr(request))
    try:
        row = await api.dispatcher.issue(session, device, command, issued_by=user.name,
                                         source_addr=client_addr(request), ttl_s=body.ttl_s,
                                         idempotency_key=idempotency_key)
    except IntegrityError:  # a concurrent retry with the same key committed first: that one is the command
        await session.rollback()  # expires `device`: use the path's id, which is its id
        first = await _first_with_key(session, user, idempotency_key or "", device_id, command)
        if first is None:
            raise
        response.headers["Idempotent-Replayed"] = "true"
        return _accepted(first)
    outcome = "not_sent" if row.error == NOT_SENT else "sent"
    await audit.record(session, now=api.clock.now(), actor=user.name, source_addr=client_addr(request),
                       action=f"command.{row.name}", target=device.id, outcome=outcome,
                       detail={"command_id": row.id, "args": row.args,
                               **({"reason": body.reason} if isinstance(body, ResetConflictCommand) else {})})
    if row.error == NOT_SENT:
        raise Problem(503, f"command {row.id} was stored but the bus is unavailable; it was not sent",
                      command_id=row.id, headers={"Retry-After": "5"})
    return _accepted(row)


def _accepted(row: Command) -> CommandAccepted:
    if row.error == NOT_SENT:
        raise Problem(503, f"command {row.id} was stored but the bus is unavailable; it was not sent",
                      command_id=row.id, headers={"Retry-After": "5"})
    return CommandAccepted(id=row.id, status=row.status, device_id=row.device_id, name=row.name,
                           expires_at=to_rfc3339(row.expires_at), href=f"/api/v1/commands/{row.id}")


async def _first_with_key(session: SessionDep, user: Principal, key: str, device_id: str,
                          command: AnyCommand) -> Command | None:
    """The command `user` already issued with `key`; 422 when that was another command (key reused)."""
    row = (await session.execute(select(Command).where(
        Command.issued_by == user.name, Command.idempotency_key == key))).scalar_one_or_none()
    if row is None:
        return None
    if (row.device_id, row.name, row.args) != (device_id, command.name, command_args(command)):
        raise Problem(422, f"Idempotency-Key {key!r} was used for command {row.id} ({row.name} to "
                           f"{row.device_id}); use a new key for a new command", command_id=row.id,
                      errors=[{"path": "header.Idempotency-Key", "message": "already used for another command",
                               "type": "idempotency_key_reused"}])
    return row
