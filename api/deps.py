"""Typed dependencies of the routes: the API state, a DB session per request, the current principal and scopes.

Tokens come as `Authorization: Bearer <token>`: a JWT from the password flow, or an API token (`slt_...`) for
machines; the SSE stream also accepts `?access_token=` because browsers'
EventSource cannot set headers (the status page itself uses fetch-streaming with the header).

Every token is checked against its account on every request (`api.accounts`): a JWT only while its user is active
and the token's version is the user's current one; an API token only while its creator is, with the scopes both
hold. Routes name what they need with the aliases at the end (`user: SignalCommander`), FastAPI's own pattern, so
signatures type-check.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import ApiToken
from api.problems import Problem
from api.security import API_TOKEN_PREFIX, ROLE_SCOPES, Role, Scope, TokenError, lower_role, token_digest
from api.state import ApiState

TOKEN_USE_RESOLUTION_S = 60.0

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False,
                              scopes={s.value: s.value for s in Scope})


async def get_api(request: Request) -> ApiState:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, which costs more than the lookup.
    state: ApiState = request.app.state.api
    return state


ApiDep = Annotated[ApiState, Depends(get_api)]


async def get_session(api: ApiDep) -> AsyncIterator[AsyncSession]:
    async with api.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user (password login) or a machine (API token), with the scopes of its role."""

    name: str
    role: Role
    scopes: frozenset[Scope]
    expires_at: float | None = None  # POSIX seconds; None for API tokens without expiry

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


def _is_trusted(addr: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(p, strict=False) for p in proxies)


def forwarded_client(peer: str | None, forwarded_for: str | None, proxies: list[str]) -> str | None:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the right-most address of
    `X-Forwarded-For` that is not itself a trusted proxy (a client can prepend anything; proxies append)."""
    if peer is None or not forwarded_for or not proxies or not _is_trusted(peer, proxies):
        return peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # a malformed chain names no one we can believe
        if not _is_trusted(hop, proxies):
            return hop[:64]
    return peer


def client_addr(request: Request) -> str | None:
    """Where the request comes from, for throttling and the audit log (`X-Forwarded-For` only via trusted_proxies)."""
    peer = request.client.host if request.client else None
    api: ApiState | None = getattr(request.app.state, "api", None)
    proxies = api.settings.trusted_proxies if api is not None else []
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), proxies)


def _invalid_token(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


async def _machine_principal(api: ApiState, token: str) -> Principal:
    """The principal of an API token; 401 when unknown, revoked, expired, or when its creator is disabled, gone or
    changed since (the token never outlives nor outranks its creator's account)."""
    now = api.clock.now()
    async with api.sessions() as session:
        row = (await session.execute(select(ApiToken).where(
            ApiToken.token_hash == token_digest(token)))).scalar_one_or_none()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            raise _invalid_token("API token unknown, revoked or expired")
        creator = await api.accounts.get(row.created_by)
        if creator is None or not creator.active or creator.token_version != row.creator_version:
            raise _invalid_token("API token of an account that was disabled or changed since it was made")
        # Record use at most once a minute: a busy rig must not turn every read into a write.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOKEN_USE_RESOLUTION_S:
            row.last_used_at = now
            await session.commit()
        role = lower_role(Role(row.role), creator.role)
        return Principal(f"token:{row.name}", role, ROLE_SCOPES[role],
                         row.expires_at.timestamp() if row.expires_at else None)


async def get_principal(security_scopes: SecurityScopes, request: Request, api: ApiDep,
                        token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The authenticated caller holding every scope the route asks. 401 without a valid token, 403 without scope."""
    if token is None and request.url.path.endswith("/stream"):
        token = request.query_params.get("access_token")
    if not token:
        raise Problem(401, "authentication required: send Authorization: Bearer <token>",
                      headers={"WWW-Authenticate": "Bearer"})
    if token.startswith(API_TOKEN_PREFIX):
        principal = await _machine_principal(api, token)
    else:
        try:
            claims = api.token_cache.decode(api.settings.secret_key, token, now=api.clock.now())
        except TokenError as exc:
            raise _invalid_token(str(exc)) from None
        account = await api.accounts.get(claims.sub)
        if account is None or not account.active or account.token_version != claims.ver:
            raise _invalid_token("token of an account that is unknown, disabled or changed since it was issued")
        principal = Principal(account.name, account.role, ROLE_SCOPES[account.role], float(claims.exp))
    missing = [s for s in security_scopes.scopes if Scope(s) not in principal.scopes]
    if missing:
        raise Problem(403, f"role {principal.role.value} lacks scope {', '.join(missing)}",
                      headers={"WWW-Authenticate": f'Bearer scope="{security_scopes.scope_str}"'})
    return principal


CurrentUser = Annotated[Principal, Security(get_principal)]

# A principal holding one scope, as a parameter annotation: `user: SignalCommander`.
DevicesReader = Annotated[Principal, Security(get_principal, scopes=[Scope.DEVICES_READ.value])]
DevicesWriter = Annotated[Principal, Security(get_principal, scopes=[Scope.DEVICES_WRITE.value])]
CommandsReader = Annotated[Principal, Security(get_principal, scopes=[Scope.COMMANDS_READ.value])]
SignalCommander = Annotated[Principal, Security(get_principal, scopes=[Scope.COMMAND_SIGNAL.value])]
CabinetCommander = Annotated[Principal, Security(get_principal, scopes=[Scope.COMMAND_CABINET.value])]
AlarmsReader = Annotated[Principal, Security(get_principal, scopes=[Scope.ALARMS_READ.value])]
AlarmsAcknowledger = Annotated[Principal, Security(get_principal, scopes=[Scope.ALARMS_ACK.value])]
TelemetryReader = Annotated[Principal, Security(get_principal, scopes=[Scope.TELEMETRY_READ.value])]
IntersectionsWriter = Annotated[Principal, Security(get_principal, scopes=[Scope.INTERSECTIONS_WRITE.value])]
PlansWriter = Annotated[Principal, Security(get_principal, scopes=[Scope.PLANS_WRITE.value])]
AuditReader = Annotated[Principal, Security(get_principal, scopes=[Scope.AUDIT_READ.value])]
UsersAdmin = Annotated[Principal, Security(get_principal, scopes=[Scope.USERS_ADMIN.value])]
WorkOrderWorker = Annotated[Principal, Security(get_principal, scopes=[Scope.WORKORDERS_WORK.value])]
WorkOrderManager = Annotated[Principal, Security(get_principal, scopes=[Scope.WORKORDERS_MANAGE.value])]
