"""`/api/v1/tokens` (admin): API tokens for machines (rigs, scripts). The token is shown once, at creation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from api import audit
from api.deps import ApiDep, SessionDep, client_addr, require
from api.models import ApiToken
from api.problems import Problem
from api.security import Role, Scope, new_api_token, token_digest
from controllers.clock import to_rfc3339

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    role: Role
    ttl_days: int | None = Field(default=None, ge=1, le=3650, description="None: until revoked")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    role: Role
    created_by: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; store it now")


def _out(row: ApiToken) -> dict[str, Any]:
    def ts(v: Any) -> str | None:
        return to_rfc3339(v) if v else None

    return {"id": row.id, "name": row.name, "prefix": row.prefix, "role": row.role, "created_by": row.created_by,
            "created_at": to_rfc3339(row.created_at), "expires_at": ts(row.expires_at),
            "last_used_at": ts(row.last_used_at), "revoked_at": ts(row.revoked_at)}


@router.get("", response_model=list[TokenOut])
async def list_tokens(session: SessionDep, _: require(Scope.USERS_ADMIN)) -> list[dict[str, Any]]:  # type: ignore[valid-type]
    return [_out(r) for r in (await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars()]


@router.post("", response_model=TokenCreated, status_code=201, responses={409: {}})
async def create_token(body: TokenIn, request: Request, api: ApiDep, session: SessionDep,
                       admin: require(Scope.USERS_ADMIN)) -> dict[str, Any]:  # type: ignore[valid-type]
    if (await session.execute(select(ApiToken).where(ApiToken.name == body.name))).scalar_one_or_none():
        raise Problem(409, f"a token named {body.name!r} exists")
    now = api.clock.now()
    token = new_api_token()
    row = ApiToken(name=body.name, token_hash=token_digest(token), prefix=token[:8], role=body.role.value,
                   created_by=admin.name, created_at=now,
                   expires_at=now + timedelta(days=body.ttl_days) if body.ttl_days else None)
    session.add(row)
    await session.commit()
    await audit.record(session, now=now, actor=admin.name, source_addr=client_addr(request), action="token.create",
                       target=body.name, outcome="ok", detail={"role": body.role.value})
    return _out(row) | {"token": token}


@router.delete("/{token_id}", response_model=TokenOut, responses={404: {}})
async def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, api: ApiDep,
                       session: SessionDep, admin: require(Scope.USERS_ADMIN)) -> dict[str, Any]:  # type: ignore[valid-type]
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise Problem(404, f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = api.clock.now()
        await session.commit()
        await audit.record(session, now=api.clock.now(), actor=admin.name, source_addr=client_addr(request),
                           action="token.revoke", target=row.name, outcome="ok")
    return _out(row)
