"""`/api/v1/auth`: OAuth2 password flow issuing short-lived access tokens and refresh tokens.

Tokens carry the user's token version (`ver`); a change to the account bumps it and every older token is refused.
Token responses are `Cache-Control: no-store` (RFC 6749 §5.1): no cache or proxy may keep a copy.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit, login_throttle
from api.deps import ApiDep, SessionDep, client_addr
from api.models import RefreshToken, User
from api.problems import Problem
from api.security import ROLE_SCOPES, Role, TokenError, decode_token, issue_token
from api.state import ApiState
from api.users import USER_NAME_RE, LoginRefused, authenticate

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenPair(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str
    refresh_expires_in: int
    role: Role
    scopes: list[str]
    user: str


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=4096)


NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _refused(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer", **NO_STORE})


async def _pair(api: ApiState, session: AsyncSession, user: User, family: str | None = None) -> TokenPair:
    """A new access token and a new refresh token (recorded, in `family` or a new one), committed."""
    now, s = api.clock.now(), api.settings
    name, role, version = user.name, Role(user.role), user.token_version
    access, _ = issue_token(s.secret_key, subject=name, role=role, typ="access", now=now, ttl_s=s.access_token_ttl_s,
                            version=version)
    refresh, jti = issue_token(s.secret_key, subject=name, role=role, typ="refresh", now=now,
                               ttl_s=s.refresh_token_ttl_s, version=version)
    session.add(RefreshToken(jti=jti, family=family or jti, user_name=name, issued_at=now,
                             expires_at=now + timedelta(seconds=s.refresh_token_ttl_s)))
    await session.commit()
    return TokenPair(access_token=access, expires_in=s.access_token_ttl_s, refresh_token=refresh,
                     refresh_expires_in=s.refresh_token_ttl_s, role=role,
                     scopes=sorted(sc.value for sc in ROLE_SCOPES[role]), user=name)


async def _revoke_family(session: AsyncSession, family: str, now: datetime) -> None:
    await session.execute(update(RefreshToken).where(RefreshToken.family == family,
                                                     RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
    await session.commit()


@router.post("/token", response_model=TokenPair, responses={401: {}, 429: {}})
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, response: Response,
                api: ApiDep, session: SessionDep) -> TokenPair:
    """Exchange a user name and password for tokens. 401 on wrong credentials (the same for an unknown user or a
    disabled account); 429 with `Retry-After` while this name must wait from this address after repeated failures
    (`login_max_failures`, then a doubling backoff), or when the address tries too often (`login_rate_per_min`)."""
    now, addr = api.clock.now(), client_addr(request)
    wait_s = api.login_limiter.hit(addr or login_throttle.UNKNOWN_ADDRESS, api.clock.monotonic())
    if wait_s is not None:
        raise Problem(429, "too many login attempts from this address",
                      headers={"Retry-After": str(int(wait_s) + 1), **NO_STORE})
    if not USER_NAME_RE.match(form.username):  # cannot be a user: refuse like a wrong password, skip the DB
        raise _refused("wrong user name or password")
    backoff = await login_throttle.wait_s(session, form.username, addr, now)
    if backoff is not None:
        await audit.record(session, now=now, actor=form.username, source_addr=addr, action="login", target=None,
                           outcome="throttled")
        raise Problem(429, "too many failed logins for this name from this address; wait before trying again",
                      headers={"Retry-After": str(int(backoff) + 1), **NO_STORE})
    try:
        user = await authenticate(session, form.username, form.password)
    except LoginRefused as exc:
        failures = await login_throttle.record_failure(session, form.username, addr, now, api.settings)
        await audit.record(session, now=now, actor=form.username, source_addr=addr, action="login", target=None,
                           outcome="refused", detail={"failures": failures})
        raise _refused(str(exc)) from None
    await login_throttle.clear(session, user.name, addr, now, api.settings)
    await audit.record(session, now=now, actor=user.name, source_addr=addr, action="login", target=None,
                       outcome="ok")
    response.headers.update(NO_STORE)
    return await _pair(api, session, user)


@router.post("/refresh", response_model=TokenPair, responses={401: {}})
async def refresh(body: RefreshRequest, request: Request, response: Response, api: ApiDep,
                  session: SessionDep) -> TokenPair:
    """A new token pair for a refresh token, which is used up (rotation). Presenting a used refresh token again
    revokes every token of that login (it was copied): of two requests racing with one token exactly one wins, the
    database decides. The user must still be active and unchanged since the token was issued (token version)."""
    now = api.clock.now()
    try:
        claims = decode_token(api.settings.secret_key, body.refresh_token, typ="refresh", now=now)
    except TokenError as exc:
        raise _refused(str(exc)) from None
    record = await session.get(RefreshToken, claims.jti)
    if record is None or record.revoked_at is not None:
        raise _refused("refresh token revoked")
    family = record.family
    # Use the token up in one conditional UPDATE: only one of several concurrent requests can match `used_at IS
    # NULL` (PostgreSQL re-checks it after the winner commits; SQLite serialises writers).
    won: CursorResult[Any] = cast("CursorResult[Any]", await session.execute(update(RefreshToken).where(
        RefreshToken.jti == claims.jti, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=now)))  # an UPDATE's result is a CursorResult, which has the row count
    if won.rowcount != 1:
        await session.rollback()
        await _revoke_family(session, family, now)
        await audit.record(session, now=now, actor=claims.sub, source_addr=client_addr(request),
                           action="token.refresh_reuse", target=None, outcome="revoked",
                           detail={"family": family[:12]})
        raise _refused("refresh token already used; this login's tokens are revoked")
    user = (await session.execute(select(User).where(User.name == claims.sub))).scalar_one_or_none()
    if user is None or not user.active or user.token_version != claims.ver:
        await session.commit()
        await _revoke_family(session, family, now)
        raise _refused("the account was disabled or changed since this login")
    response.headers.update(NO_STORE)
    return await _pair(api, session, user, family=family)


@router.post("/logout", status_code=204, responses={401: {}})
async def logout(body: RefreshRequest, api: ApiDep, session: SessionDep) -> Response:
    """Revoke the refresh tokens of this login (access tokens lapse within access_token_ttl_s)."""
    try:
        claims = decode_token(api.settings.secret_key, body.refresh_token, typ="refresh", now=api.clock.now())
    except TokenError as exc:
        raise _refused(str(exc)) from None
    record = await session.get(RefreshToken, claims.jti)
    if record is not None:
        await _revoke_family(session, record.family, api.clock.now())
    return Response(status_code=204)
