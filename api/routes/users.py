"""`/api/v1/users` (admin): people's accounts and roles. Passwords are set here, never returned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import audit
from api.deps import ApiDep, SessionDep, client_addr, require
from api.models import User
from api.problems import Problem
from api.security import Role, Scope
from api.users import MIN_PASSWORD_LEN_API, USER_NAME_RE, upsert_user
from controllers.clock import to_rfc3339

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserName = Annotated[str, Path(pattern=USER_NAME_RE.pattern)]


class UserOut(BaseModel):
    name: str
    role: Role
    active: bool
    created_at: str
    locked_until: str | None


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


def _out(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "active": user.active, "created_at": to_rfc3339(user.created_at),
            "locked_until": to_rfc3339(user.locked_until) if user.locked_until else None}


@router.get("", response_model=list[UserOut])
async def list_users(session: SessionDep, _: require(Scope.USERS_ADMIN)) -> list[dict[str, Any]]:  # type: ignore[valid-type]
    return [_out(u) for u in (await session.execute(select(User).order_by(User.name))).scalars()]


@router.post("", response_model=UserOut, status_code=201, responses={409: {}})
async def create_user(body: UserIn, request: Request, api: ApiDep, session: SessionDep,
                      admin: require(Scope.USERS_ADMIN)) -> dict[str, Any]:  # type: ignore[valid-type]
    if (await session.execute(select(User).where(User.name == body.name))).scalar_one_or_none() is not None:
        raise Problem(409, f"user {body.name!r} exists")
    await upsert_user(session, body.name, body.password, body.role, api.clock.now())
    await session.commit()
    await audit.record(session, now=api.clock.now(), actor=admin.name, source_addr=client_addr(request),
                       action="user.create", target=body.name, outcome="ok", detail={"role": body.role.value})
    user = (await session.execute(select(User).where(User.name == body.name))).scalar_one()
    return _out(user)


@router.patch("/{name}", response_model=UserOut, responses={404: {}, 409: {}})
async def update_user(name: UserName, body: UserPatch, request: Request, api: ApiDep, session: SessionDep,
                      admin: require(Scope.USERS_ADMIN)) -> dict[str, Any]:  # type: ignore[valid-type]
    """Change role, password or active; a password change also unlocks. An admin cannot demote or disable
    themself (409), so the last admin cannot lock everyone out by mistake."""
    user = (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()
    if user is None:
        raise Problem(404, f"no user {name!r}")
    if name == admin.name and (body.active is False or (body.role and body.role is not Role.ADMIN)):
        raise Problem(409, "an admin cannot demote or disable themself")
    if body.password is not None:
        await upsert_user(session, name, body.password, Role(body.role or user.role), api.clock.now())
    if body.role is not None:
        user.role = body.role.value
    if body.active is not None:
        user.active = body.active
    await session.commit()
    await audit.record(session, now=api.clock.now(), actor=admin.name, source_addr=client_addr(request),
                       action="user.update", target=name, outcome="ok",
                       detail=body.model_dump(exclude={"password"}, exclude_none=True, mode="json")
                       | ({"password": "changed"} if body.password else {}))
    return _out(user)
