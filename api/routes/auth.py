"""`/api/v1/auth`: OAuth2 password flow issuing short-lived access tokens and refresh tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import audit
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


async def _pair(api: ApiState, session: AsyncSession, name: str, role: Role, family: str | None = None) -> TokenPair:
    """A new access token and a new refresh token (recorded, in `family` or a new one), committed."""
    now, s = api.clock.now(), api.settings
    access, _ = issue_token(s.secret_key, subject=name, role=role, typ="access", now=now, ttl_s=s.access_token_ttl_s)
    refresh, jti = issue_token(s.secret_key, subject=name, role=role, typ="refresh", now=now,
                               ttl_s=s.refresh_token_ttl_s)
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
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, api: ApiDep,
                session: SessionDep) -> TokenPair:
    """Exchange a user name and password for tokens. 401 on wrong credentials, 429 while the account is locked."""
    now = api.clock.now()
    wait_s = api.login_limiter.hit(client_addr(request) or "unknown", api.clock.monotonic())
    if wait_s is not None:
        raise Problem(429, "too many login attempts from this address", headers={"Retry-After": str(int(wait_s) + 1)})
    if not USER_NAME_RE.match(form.username):  # cannot be a user: refuse like a wrong password, skip the DB
        raise Problem(401, "wrong user name or password", headers={"WWW-Authenticate": "Bearer"})
    try:
        user = await authenticate(session, form.username, form.password, now,
                                  max_failures=api.settings.login_max_failures,
                                  lockout_s=api.settings.login_lockout_s)
    except LoginRefused as exc:
        await audit.record(session, now=now, actor=form.username[:128], source_addr=client_addr(request),
                           action="login", target=None, outcome="locked" if exc.retry_after_s else "refused")
        if exc.retry_after_s:
            raise Problem(429, str(exc), headers={"Retry-After": str(int(exc.retry_after_s) + 1)}) from None
        raise Problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    await audit.record(session, now=now, actor=user.name, source_addr=client_addr(request), action="login",
                       target=None, outcome="ok")
    return await _pair(api, session, user.name, Role(user.role))


@router.post("/refresh", response_model=TokenPair, responses={401: {}})
async def refresh(body: RefreshRequest, request: Request, api: ApiDep, session: SessionDep) -> TokenPair:
    """A new token pair for a refresh token, which is used up (rotation). Presenting a used refresh token again
    revokes every token of that login (it was copied); the user must still be active (role re-read)."""
    now = api.clock.now()
    try:
        claims = decode_token(api.settings.secret_key, body.refresh_token, typ="refresh", now=now)
    except TokenError as exc:
        raise Problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    record = await session.get(RefreshToken, claims.jti)
    if record is None or record.revoked_at is not None:
        raise Problem(401, "refresh token revoked", headers={"WWW-Authenticate": "Bearer"})
    if record.used_at is not None:
        await _revoke_family(session, record.family, now)
        await audit.record(session, now=now, actor=claims.sub, source_addr=client_addr(request),
                           action="token.refresh_reuse", target=None, outcome="revoked",
                           detail={"family": record.family[:12]})
        raise Problem(401, "refresh token already used; this login's tokens are revoked",
                      headers={"WWW-Authenticate": "Bearer"})
    record.used_at = now
    user = (await session.execute(select(User).where(User.name == claims.sub))).scalar_one_or_none()
    if user is None or not user.active:
        await session.commit()
        raise Problem(401, "user no longer active", headers={"WWW-Authenticate": "Bearer"})
    return await _pair(api, session, user.name, Role(user.role), family=record.family)


@router.post("/logout", status_code=204, responses={401: {}})
async def logout(body: RefreshRequest, api: ApiDep, session: SessionDep) -> Response:
    """Revoke the refresh tokens of this login (access tokens lapse within access_token_ttl_s)."""
    try:
        claims = decode_token(api.settings.secret_key, body.refresh_token, typ="refresh", now=api.clock.now())
    except TokenError as exc:
        raise Problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    record = await session.get(RefreshToken, claims.jti)
    if record is not None:
        await _revoke_family(session, record.family, api.clock.now())
    return Response(status_code=204)
