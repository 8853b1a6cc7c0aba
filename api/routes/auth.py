"""`/api/v1/auth`: OAuth2 password flow issuing short-lived access tokens and refresh tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select

from api import audit
from api.deps import ApiDep, SessionDep, client_addr
from api.models import User
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


def _pair(api: ApiState, name: str, role: Role) -> TokenPair:
    now, s = api.clock.now(), api.settings
    access, _ = issue_token(s.secret_key, subject=name, role=role, typ="access", now=now, ttl_s=s.access_token_ttl_s)
    refresh, _ = issue_token(s.secret_key, subject=name, role=role, typ="refresh", now=now,
                             ttl_s=s.refresh_token_ttl_s)
    return TokenPair(access_token=access, expires_in=s.access_token_ttl_s, refresh_token=refresh,
                     refresh_expires_in=s.refresh_token_ttl_s, role=role,
                     scopes=sorted(sc.value for sc in ROLE_SCOPES[role]), user=name)


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
    return _pair(api, user.name, Role(user.role))


@router.post("/refresh", response_model=TokenPair, responses={401: {}})
async def refresh(body: RefreshRequest, api: ApiDep, session: SessionDep) -> TokenPair:
    """A new token pair for a valid refresh token of a user who is still active (role re-read from the DB)."""
    try:
        claims = decode_token(api.settings.secret_key, body.refresh_token, typ="refresh", now=api.clock.now())
    except TokenError as exc:
        raise Problem(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    user = (await session.execute(select(User).where(User.name == claims.sub))).scalar_one_or_none()
    if user is None or not user.active:
        raise Problem(401, "user no longer active", headers={"WWW-Authenticate": "Bearer"})
    return _pair(api, user.name, Role(user.role))
