"""The request body of `POST /api/v1/devices/{id}/commands`: a discriminated union on `name`, so the OpenAPI
document shows every command with its arguments. Which commands a device accepts depends on its kind (signals:
hold_pattern, flash, free, release, reset_conflict; cabinets: switch, release); the route checks that with
`controllers.commands.parse_command`, the one authority on command arguments."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.problems import UNION_TAGS
from controllers.commands import CircuitNumber, LevelPct, PatternNumber


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldPatternArgs(_Strict):
    pattern: PatternNumber
    until: AwareDatetime = Field(description="backup timer: the controller returns to its schedule at this time")


class UntilArgs(_Strict):
    until: AwareDatetime = Field(description="backup timer: the device returns to its schedule at this time")


class NoArgs(_Strict):
    pass


class SwitchArgs(_Strict):
    circuit: CircuitNumber
    level_pct: LevelPct
    until: AwareDatetime = Field(description="the circuit returns to its lighting program at this time")


class ReleaseArgs(_Strict):
    circuit: CircuitNumber | None = Field(default=None, description="cabinets: the circuit to release (none: all); "
                                                                     "signals: leave out")


class _Command(_Strict):
    ttl_s: float | None = Field(default=None, gt=0, le=3600, description="expiry; default: the API's command_ttl_s")

    def wire_args(self) -> dict[str, Any]:
        args: BaseModel = getattr(self, "args")  # noqa: B009 - every subclass declares args
        return args.model_dump(mode="json", exclude_none=True)


class HoldPatternCommand(_Command):
    """Signals: hold a coordination pattern until `until`."""

    name: Literal["hold_pattern"]
    args: HoldPatternArgs


class FlashCommand(_Command):
    """Signals: yellow/red flash until `until`."""

    name: Literal["flash"]
    args: UntilArgs


class FreeCommand(_Command):
    """Signals: run free (uncoordinated) until `until`."""

    name: Literal["free"]
    args: UntilArgs


class ReleaseCommand(_Command):
    """Signals: back to the time-of-day schedule. Cabinets: a circuit (or all) back to the lighting program."""

    name: Literal["release"]
    args: ReleaseArgs = Field(default_factory=ReleaseArgs)


class ResetConflictCommand(_Command):
    """Signals: reset a latched conflict monitor (the controller refuses while the cause persists, or when its
    cabinet forbids a remote reset). Engineers only, with a reason, which goes into the audit trail."""

    name: Literal["reset_conflict"]
    args: NoArgs = Field(default_factory=NoArgs)
    reason: str = Field(min_length=3, max_length=500, description="why it is safe to reset remotely (audited)")


class SwitchCommand(_Command):
    """Cabinets: set a circuit's level (0 = off) until `until`."""

    name: Literal["switch"]
    args: SwitchArgs


CommandIn = Annotated[HoldPatternCommand | FlashCommand | FreeCommand | ReleaseCommand | ResetConflictCommand
                      | SwitchCommand, Field(discriminator="name")]

#: The discriminator values: validation errors carry them in their location, and the API drops them from paths.
COMMAND_NAMES = frozenset({"hold_pattern", "flash", "free", "release", "reset_conflict", "switch"})
UNION_TAGS.update(COMMAND_NAMES)
