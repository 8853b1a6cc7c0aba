"""Commands to devices: typed arguments per device kind, the wire envelope, results and lifecycle.

The wire form is contracts/mqtt/schemas/cmd.schema.json and cmd_res.schema.json. Pure: times are arguments.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from controllers.clock import to_rfc3339
from controllers.devices import DeviceKind

#: The bounds of command arguments, written once: the API's request models (api/command_models.py) use them too.
PatternNumber = Annotated[int, Field(ge=1, le=255)]
CircuitNumber = Annotated[int, Field(ge=1, le=16)]
LevelPct = Annotated[float, Field(ge=0, le=100, description="0 switches the circuit off")]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HoldPattern(_Args):
    name: Literal["hold_pattern"] = "hold_pattern"
    pattern: PatternNumber
    until: AwareDatetime


class Flash(_Args):
    name: Literal["flash"] = "flash"
    until: AwareDatetime


class Free(_Args):
    name: Literal["free"] = "free"
    until: AwareDatetime


class SignalRelease(_Args):
    name: Literal["release"] = "release"


class ResetConflict(_Args):
    name: Literal["reset_conflict"] = "reset_conflict"


class DeployPlan(_Args):
    """Download a timing plan (contracts/plans, format signalight.plan/v1). Only the plan-deploy path sends it,
    after the validator accepted the plan; the generic command route refuses it."""

    name: Literal["deploy_plan"] = "deploy_plan"
    plan: dict[str, Any]
    crc32: int = Field(ge=0, le=0xFFFFFFFF, description="CRC-32 of the plan's transfer encoding")
    deployment_id: str | None = Field(default=None, max_length=64)


class DeployProgram(_Args):
    """Download a lighting document (contracts/lighting, format signalight.lighting/v1) to a cabinet. Only the
    lighting-deploy path sends it, after the validator accepted the document; the generic command route refuses
    it."""

    name: Literal["deploy_program"] = "deploy_program"
    document: dict[str, Any]
    crc32: int = Field(ge=0, le=0xFFFFFFFF, description="CRC-32 of the document's transfer encoding")
    deployment_id: str | None = Field(default=None, max_length=64)


class Switch(_Args):
    name: Literal["switch"] = "switch"
    circuit: CircuitNumber
    level_pct: LevelPct
    until: AwareDatetime


class CircuitRelease(_Args):
    name: Literal["release"] = "release"
    circuit: CircuitNumber | None = Field(default=None, description="None releases every circuit")


SignalCommand = Annotated[HoldPattern | Flash | Free | SignalRelease | ResetConflict | DeployPlan,
                          Field(discriminator="name")]
CabinetCommand = Annotated[Switch | CircuitRelease | DeployProgram, Field(discriminator="name")]
AnyCommand = (HoldPattern | Flash | Free | SignalRelease | ResetConflict | DeployPlan | Switch | CircuitRelease
              | DeployProgram)

_ADAPTERS: dict[DeviceKind, TypeAdapter[Any]] = {
    DeviceKind.SIGNAL_CONTROLLER: TypeAdapter(SignalCommand),
    DeviceKind.LIGHTING_CABINET: TypeAdapter(CabinetCommand),
}

#: Commands an operator may send through the generic command route. `deploy_plan` is not among them: only the
#: plan-deploy path sends it, after the validator accepted the plan.
COMMANDS_BY_KIND: dict[DeviceKind, tuple[str, ...]] = {
    DeviceKind.SIGNAL_CONTROLLER: ("hold_pattern", "flash", "free", "release", "reset_conflict"),
    DeviceKind.LIGHTING_CABINET: ("switch", "release"),
}


def parse_command(kind: DeviceKind, name: str, args: dict[str, Any]) -> AnyCommand:
    """Typed command for a device kind. Raises pydantic.ValidationError naming the bad field."""
    command: AnyCommand = _ADAPTERS[kind].validate_python({**args, "name": name})
    return command


def command_args(command: AnyCommand) -> dict[str, Any]:
    """The `args` object of the wire envelope (RFC 3339 times, no `name`)."""
    out: dict[str, Any] = {}
    for key, value in command.model_dump(exclude={"name"}, exclude_none=True).items():
        out[key] = to_rfc3339(value) if isinstance(value, datetime) else value
    return out


class CommandStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


class ErrorCode(StrEnum):
    """`error` of cmd/res (contracts/mqtt/schemas/cmd_res.schema.json)."""

    EXPIRED = "expired"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_ARGS = "invalid_args"
    BUSY = "busy"
    REFUSED = "refused"
    DEVICE_FAULT = "device_fault"
    TIMEOUT = "timeout"
    WRITE_FAILED = "write_failed"
    VERIFY_FAILED = "verify_failed"
    MALFORMED = "malformed"
    CRC_MISMATCH = "crc_mismatch"
    INVALID_PLAN = "invalid_plan"
    READBACK_MISMATCH = "readback_mismatch"
    ACTIVATION_TIMEOUT = "activation_timeout"
    INVALID_PROGRAM = "invalid_program"
    UNAUTHENTICATED = "unauthenticated"
    REPLAYED = "replayed"


class DeployStage(StrEnum):
    """Progress of a deploy_plan command (cmd/res `stage`)."""

    TRANSFERRING = "transferring"
    VERIFYING = "verifying"
    ACTIVATING = "activating"
    ACTIVE = "active"
    ROLLED_BACK = "rolled_back"


class CommandEnvelope(BaseModel):
    """The `cmd` payload. `target`, `kid` and `sig` are set by the signer (`controllers.command_auth`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    name: str
    args: dict[str, Any]
    issued_by: str = Field(min_length=1, max_length=128)
    expires_at: AwareDatetime
    issued_at: AwareDatetime | None = Field(
        default=None, description="the center's clock when it signed the command: executors judge expiry in the "
                                  "center's time (contracts/mqtt/topics-v1.md, 'Command time')")
    target: str | None = Field(default=None, max_length=129, description="{site}/{device_id} it is signed for")
    kid: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$", description="signing key id")
    sig: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{86}==$",
                            description="Ed25519 signature, base64 (command_auth.signing_input)")

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "args": self.args, "issued_by": self.issued_by,
                               "expires_at": to_rfc3339(self.expires_at)}
        if self.issued_at is not None:
            out["issued_at"] = to_rfc3339(self.issued_at)
        for key in ("target", "kid", "sig"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


class CommandResult(BaseModel):
    """The `cmd/res` payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=8, max_length=64)
    ok: bool
    error: ErrorCode | None = None
    message: str | None = Field(default=None, max_length=1024)
    ts: AwareDatetime | None = None
    state: dict[str, Any] | None = None
    final: bool = True
    stage: DeployStage | None = None

    def to_payload(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "ok": self.ok}
        if not self.final:
            out["final"] = False
        if self.stage is not None:
            out["stage"] = self.stage.value
        if self.error is not None:
            out["error"] = self.error.value
        if self.message is not None:
            out["message"] = self.message
        if self.ts is not None:
            out["ts"] = to_rfc3339(self.ts)
        if self.state is not None:
            out["state"] = self.state
        return out
