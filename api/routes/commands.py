"""`/api/v1/commands`: the lifecycle and result of a command."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from api.deps import CommandsReader, SessionDep
from api.dispatch import command_json
from api.models import Command
from api.problems import Problem
from controllers.commands import CommandStatus
from controllers.devices import ID_PATTERN

router = APIRouter(prefix="/api/v1/commands", tags=["commands"])


class CommandOut(BaseModel):
    id: str
    device_id: str
    site: str
    name: str
    args: dict[str, Any]
    status: CommandStatus
    issued_by: str
    created_at: str
    expires_at: str
    finished_at: str | None
    error: str | None
    message: str | None
    result: dict[str, Any] | None


@router.get("/{command_id}", response_model=CommandOut, responses={404: {}})
async def get_command(command_id: str, session: SessionDep, _: CommandsReader) -> CommandOut:
    """pending | succeeded | failed | expired, with the device's result or error."""
    row = await session.get(Command, command_id[:64])
    if row is None:
        raise Problem(404, f"no command {command_id!r}")
    return CommandOut.model_validate(command_json(row))


@router.get("", response_model=list[CommandOut])
async def list_commands(session: SessionDep, _: CommandsReader,
                        device: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
                        status: CommandStatus | None = None,
                        issued_by: Annotated[str | None, Query(max_length=128)] = None,
                        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[CommandOut]:
    """Commands, newest first, filtered by device, status and issuer."""
    query = select(Command)
    if device:
        query = query.where(Command.device_id == device)
    if status:
        query = query.where(Command.status == status.value)
    if issued_by:
        query = query.where(Command.issued_by == issued_by)
    rows = (await session.execute(query.order_by(Command.created_at.desc(), Command.id).limit(limit)
                                  .offset(offset))).scalars()
    return [CommandOut.model_validate(command_json(r)) for r in rows]
