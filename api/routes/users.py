"""`/api/v1/users` (admin): people's accounts and roles. Passwords are set here, never returned.

Disabling a user, changing their role or resetting their password bumps their token version: their access and
refresh tokens and the API tokens they made are refused from the next request on (this replica at once, others
within `account_cache_s`), and their refresh tokens are revoked. A password reset leaves `active` as it is.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from api import audit
from api.deps import ApiDep, SessionDep, UsersAdmin, client_addr
from api.models import RefreshToken, User
from api.problems import Problem
from api.security import Role, hash_password
from api.users import MIN_PASSWORD_LEN_API, USER_NAME_RE
from controllers.clock import to_rfc3339

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserName = Annotated[str, Path(pattern=USER_NAME_RE.pattern)]


class UserOut(BaseModel):
    name: str
    role: Role
    active: bool
    created_at: str

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, role=Role(user.role), active=user.active, created_at=to_rfc3339(user.created_at))


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=USER_NAME_RE.pattern)
    password: str = Field(min_length=MIN_PASSWORD_LEN_API, max_length=256)
    role: Role


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=MIN_PASSWORD_LEN_API, max_length=256)
    role: Role | None = None
    active: bool | None = None


@router.get("", response_model=list[UserOut])
async def list_users(session: SessionDep, _: UsersAdmin) -> list[UserOut]:
    return [UserOut.of(u) for u in (await session.execute(select(User).order_by(User.name))).scalars()]


@router.post("", response_model=UserOut, status_code=201, responses={409: {"description": "the name is taken"}})
async def create_user(body: UserIn, request: Request, api: ApiDep, session: SessionDep,
                      admin: UsersAdmin) -> UserOut:
    """A new account. 409 when the name is taken (never an overwrite of the existing account), also when two
    requests race for one name: the database's unique name decides."""
    if (await session.execute(select(User.id).where(User.name == body.name))).first() is not None:
        raise Problem(409, f"user {body.name!r} exists")
    password_hash = await asyncio.to_thread(hash_password, body.password)
    now = api.clock.now()
    user = User(name=body.name, password_hash=password_hash, role=body.role.value, active=True, created_at=now,
                failed_logins=0, token_version=0)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Problem(409, f"user {body.name!r} exists") from None
    api.accounts.invalidate(body.name)
    await audit.record(session, now=now, actor=admin.name, source_addr=client_addr(request),
                       action="user.create", target=body.name, outcome="ok", detail={"role": body.role.value})
    return UserOut.of(user)


@router.patch("/{name}", response_model=UserOut, responses={404: {}, 409: {}})
async def update_user(name: UserName, body: UserPatch, request: Request, api: ApiDep, session: SessionDep,
                      admin: UsersAdmin) -> UserOut:
    """Change role, password or active. Any change ends every token the user holds or made. An admin cannot
    demote or disable themself (409), so the last admin cannot lock everyone out by mistake."""
    user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
    if user is None:
        raise Problem(404, f"no user {name!r}")
    if name == admin.name and (body.active is False or (body.role and body.role is not Role.ADMIN)):
        raise Problem(409, "an admin cannot demote or disable themself")
    now = api.clock.now()
    changed = False
    if body.password is not None:
        user.password_hash = await asyncio.to_thread(hash_password, body.password)
        changed = True
    if body.role is not None and body.role.value != user.role:
        user.role, changed = body.role.value, True
    if body.active is not None and body.active != user.active:
        user.active, changed = body.active, True
    if changed:
        user.token_version += 1
        await _revoke_refresh_tokens(session, name, now)
    await session.commit()
    api.accounts.invalidate(name)
    await audit.record(session, now=now, actor=admin.name, source_addr=client_addr(request),
                       action="user.update", target=name, outcome="ok",
                       detail=body.model_dump(exclude={"password"}, exclude_none=True, mode="json")
                       | ({"password": "changed"} if body.password else {}))
    return UserOut.of(user)


async def _revoke_refresh_tokens(session: SessionDep, name: str, now: datetime) -> None:
    await session.execute(update(RefreshToken).where(RefreshToken.user_name == name,
                                                     RefreshToken.revoked_at.is_(None)).values(revoked_at=now))
