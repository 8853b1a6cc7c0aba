"""`/api/v1/tokens` (admin): API tokens for machines (rigs, scripts). The token is shown once, at creation.

A token never outranks nor outlives its creator's account: its role is at most the creator's, it is refused once the
creator is disabled or changed (token version), and it expires (`api_token_ttl_days` unless `ttl_days` says).
Tokens are made by people, not by other tokens, so every token has an account to answer to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api import audit
from api.deps import ApiDep, SessionDep, UsersAdmin, client_addr
from api.models import ApiToken
from api.problems import Problem
from api.security import ROLE_RANK, Role, new_api_token, token_digest
from controllers.clock import to_rfc3339

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])

class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    role: Role
    ttl_days: int | None = Field(default=None, ge=1, le=365, description="days until it expires; default: the "
                                 "API's api_token_ttl_days (90)")

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

    @classmethod
    def of(cls, row: ApiToken) -> TokenOut:
        def ts(v: datetime | None) -> str | None:
            return to_rfc3339(v) if v else None

        return cls(id=row.id, name=row.name, prefix=row.prefix, role=Role(row.role), created_by=row.created_by,
                   created_at=to_rfc3339(row.created_at), expires_at=ts(row.expires_at),
                   last_used_at=ts(row.last_used_at), revoked_at=ts(row.revoked_at))

class TokenCreated(TokenOut):
    token: str = Field(description="shown once; store it now")

@router.get("", response_model=list[TokenOut])
async def list_tokens(session: SessionDep, _: UsersAdmin) -> list[TokenOut]:
    return [TokenOut.of(r) for r in (await session.execute(select(ApiToken).order_by(ApiToken.id))).scalars()]

@router.post("", response_model=TokenCreated, status_code=201,
             responses={403: {"description": "a token cannot make tokens, nor one above its creator's role"},
                        409: {"description": "the name is taken"}})
async def create_token(body: TokenIn, request: Request, api: ApiDep, session: SessionDep,
                       admin: UsersAdmin) -> TokenCreated:
    """A new token (its secret in the answer, once). 409 when the name is taken, also when two requests race."""
    if admin.name.startswith("token:"):
        raise Problem(403, "API tokens are made by people: log in to make one")
    creator = await api.accounts.get(admin.name)
    if creator is None:  # get_principal checked it a moment ago; gone since
        raise Problem(401, "your account no longer exists")
    if ROLE_RANK[body.role] > ROLE_RANK[creator.role]:
        raise Problem(403, f"a token may not outrank its creator (role {creator.role.value})")
    if (await session.execute(select(ApiToken.id).where(ApiToken.name == body.name))).first() is not None:
        raise Problem(409, f"a token named {body.name!r} exists")
    now = api.clock.now()
    token = new_api_token()
    ttl_days = body.ttl_days or api.settings.api_token_ttl_days
    row = ApiToken(name=body.name, token_hash=token_digest(token), prefix=token[:8], role=body.role.value,
                   created_by=admin.name, created_at=now, expires_at=now + timedelta(days=ttl_days),
                   creator_version=creator.token_version)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Problem(409, f"a token named {body.name!r} exists") from None
    await audit.record(session, now=now, actor=admin.name, source_addr=client_addr(request), action="token.create",
                       target=body.name, outcome="ok", detail={"role": body.role.value, "ttl_days": ttl_days})
    return TokenCreated(**TokenOut.of(row).model_dump(), token=token)

@router.delete("/{token_id}", response_model=TokenOut, responses={404: {}})
async def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, api: ApiDep,
                       session: SessionDep, admin: UsersAdmin) -> TokenOut:
    row = await session.get(ApiToken, token_id)
    if row is None:
        raise Problem(404, f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = api.clock.now()
        await session.commit()
        await audit.record(session, now=api.clock.now(), actor=admin.name, source_addr=client_addr(request),
                           action="token.revoke", target=row.name, outcome="ok")
    return TokenOut.of(row)
