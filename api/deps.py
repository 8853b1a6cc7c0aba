"""Typed dependencies of the routes: the API state, a DB session per request, the current principal and scopes.

Tokens come as `Authorization: Bearer <jwt>`; the SSE stream also accepts `?access_token=` because browsers'
EventSource cannot set headers (the status page itself uses fetch-streaming with the header).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.ext.asyncio import AsyncSession

from api.problems import Problem
from api.security import ROLE_SCOPES, Role, Scope, TokenError, decode_token
from api.state import ApiState

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False,
                              scopes={s.value: s.value for s in Scope})


def get_api(request: Request) -> ApiState:
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

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


async def get_principal(security_scopes: SecurityScopes, request: Request, api: ApiDep,
                        token: Annotated[str | None, Depends(oauth2)]) -> Principal:
    """The authenticated caller holding every scope the route asks. 401 without a valid token, 403 without scope."""
    if token is None and request.url.path.endswith("/stream"):
        token = request.query_params.get("access_token")
    if not token:
        raise Problem(401, "authentication required: send Authorization: Bearer <token>",
                      headers={"WWW-Authenticate": "Bearer"})
    try:
        claims = decode_token(api.settings.secret_key, token, typ="access", now=api.clock.now())
    except TokenError as exc:
        raise Problem(401, str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    principal = Principal(claims.sub, claims.role, ROLE_SCOPES[claims.role])
    missing = [s for s in security_scopes.scopes if Scope(s) not in principal.scopes]
    if missing:
        raise Problem(403, f"role {principal.role.value} lacks scope {', '.join(missing)}",
                      headers={"WWW-Authenticate": f'Bearer scope="{security_scopes.scope_str}"'})
    return principal


def require(*scopes: Scope) -> type[Principal]:
    """`Annotated[Principal, Security(...)]` for a route needing `scopes` (all of them)."""
    return Annotated[Principal, Security(get_principal, scopes=[s.value for s in scopes])]  # type: ignore[return-value]


CurrentUser = Annotated[Principal, Security(get_principal)]
