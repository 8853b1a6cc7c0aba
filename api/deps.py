"""Typed dependencies of the routes: the API state, a DB session per request, the current principal and scopes.

Tokens come as `Authorization: Bearer <token>`: a JWT from the password flow, or an API token (`slt_...`) for
machines; the SSE stream also accepts `?access_token=` because browsers'
EventSource cannot set headers (the status page itself uses fetch-streaming with the header).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import ApiToken
from api.problems import Problem
from api.security import API_TOKEN_PREFIX, ROLE_SCOPES, Role, Scope, TokenError, token_digest
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


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _machine_principal(api: ApiState, token: str) -> Principal:
    """The principal of an API token; 401 when unknown, revoked or expired."""
    now = api.clock.now()
    async with api.sessions() as session:
        row = (await session.execute(select(ApiToken).where(
            ApiToken.token_hash == token_digest(token)))).scalar_one_or_none()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            raise Problem(401, "API token unknown, revoked or expired",
                          headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        # Record use at most once a minute: a busy rig must not turn every read into a write.
        if row.last_used_at is None or (now - row.last_used_at).total_seconds() > TOKEN_USE_RESOLUTION_S:
            row.last_used_at = now
            await session.commit()
        role = Role(row.role)
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
            raise Problem(401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        principal = Principal(claims.sub, claims.role, ROLE_SCOPES[claims.role], float(claims.exp))
    missing = [s for s in security_scopes.scopes if Scope(s) not in principal.scopes]
    if missing:
        raise Problem(403, f"role {principal.role.value} lacks scope {', '.join(missing)}",
                      headers={"WWW-Authenticate": f'Bearer scope="{security_scopes.scope_str}"'})
    return principal


def require(*scopes: Scope) -> type[Principal]:
    """`Annotated[Principal, Security(...)]` for a route needing `scopes` (all of them)."""
    return Annotated[Principal, Security(get_principal, scopes=[s.value for s in scopes])]  # type: ignore[return-value]


CurrentUser = Annotated[Principal, Security(get_principal)]
