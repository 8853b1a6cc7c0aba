"""`/api/v1/commands`: the lifecycle and result of a command."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import SessionDep, require
from api.dispatch import command_json
from api.models import Command
from api.problems import Problem
from api.security import Scope
from controllers.commands import CommandStatus

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
async def get_command(command_id: str, session: SessionDep,
                      _: require(Scope.COMMANDS_READ)) -> CommandOut:  # type: ignore[valid-type]
    """pending | succeeded | failed | expired, with the device's result or error."""
    row = await session.get(Command, command_id[:64])
    if row is None:
        raise Problem(404, f"no command {command_id!r}")
    return CommandOut.model_validate(command_json(row))
