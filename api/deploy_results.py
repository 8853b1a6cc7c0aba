"""What a device's answers to a deploy command do to its deployment: the part plan deploys (`api.deploys`) and
lighting deploys (`api.lighting_deploys`) share.

Status: pending → transferring → verifying → activating → active, or failed / rolled_back. Progress never moves
backwards (several API replicas follow the same cmd/res, so transitions must be forward only); a final answer
ends a deployment unless it already ended, except over our own `timeout` verdict (a late final answer still counts:
the device did act).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.listener import PayloadError, decode
from api.models import Base, Command
from controllers.bus import BusMessage
from controllers.commands import CommandResult, DeployStage
from controllers.topics import Suffix, TopicError, parse

PENDING, ACTIVE, FAILED, ROLLED_BACK = "pending", "active", "failed", "rolled_back"
#: Progress order: a report never moves a deployment backwards.
ORDER = {PENDING: 0, DeployStage.TRANSFERRING.value: 1, DeployStage.VERIFYING.value: 2,
         DeployStage.ACTIVATING.value: 3}
TIMEOUT = "timeout"
Row = TypeVar("Row", bound=Base)


@dataclass(frozen=True, slots=True)
class Final:
    """How a final answer ends the deployment."""

    status: str
    error: str | None
    message: str | None


def parse_result(message: BusMessage) -> tuple[str, CommandResult] | None:
    """(device id, result) of a cmd/res message; None for one that is malformed (the bus listener logs and counts
    those; a deploy follower has nothing to update)."""
    try:
        return parse(message.topic).device_id, CommandResult.model_validate(decode(Suffix.CMD_RES, message.payload))
    except (TopicError, PayloadError, ValidationError):
        return None


async def deployment_of(session: AsyncSession, device_id: str, result: CommandResult, command_name: str,
                        model: type[Row]) -> tuple[Command, Row] | None:
    """The command a result answers and the deployment its args name, when it is a `command_name` command of ours
    with a deployment id; None otherwise."""
    cmd = (await session.execute(select(Command).where(
        Command.id == result.id, Command.device_id == device_id))).scalar_one_or_none()
    if cmd is None or cmd.name != command_name or not isinstance(cmd.args.get("deployment_id"), str):
        return None
    row = await session.get(model, cmd.args["deployment_id"])
    return None if row is None else (cmd, row)


def next_stage(status: str, result: CommandResult, terminal: Set[str]) -> str | None:
    """The stage a progress answer moves a deployment in `status` to; None when it would not move it forward."""
    stage = result.stage.value if result.stage else None
    if status in terminal or stage not in ORDER or ORDER[stage] <= ORDER.get(status, 0):
        return None
    return stage


def final(status: str, error: str | None, result: CommandResult, terminal: Set[str]) -> Final | None:
    """How a final answer ends a deployment in `status` (with `error`); None when it has ended already."""
    if status in terminal and error != TIMEOUT:
        return None
    if result.ok:
        return Final(ACTIVE, None, result.message)
    return Final(ROLLED_BACK if result.stage is DeployStage.ROLLED_BACK else FAILED,
                 result.error.value if result.error else "failed", result.message)

