"""Modbus device profiles: the register maps of contracts/modbus/*.yaml as validated, typed models.

`load_profile("signal-controller-v1")` reads and validates a map once (cached). Errors (`ProfileError`) name the file
and the point or field at fault. Pure apart from reading the YAML file (blocking, done once at start-up).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import contracts
from controllers.devices import DeviceKind

Table = Literal["coil", "discrete", "holding", "input"]
PointType = Literal["u16", "i16", "u32", "i32", "f32", "bool", "str"]
Order = Literal["big", "little"]
Role = Literal["state", "telemetry", "both", "command", "event", "meta"]
#: When a telemetry point is sent: every poll (`period`), only when its value changed (`change`), or when it
#: changed or `report_period_s` passed since it was last sent (`change_or_period`).
Report = Literal["period", "change", "change_or_period"]

#: Registers a point of each type spans (str: `length` characters, 2 a register).
_WIDTH = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "bool": 1}


class ProfileError(ValueError):
    """A register map that cannot be used; the message names the file and what is wrong."""


class PollGroup(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    interval_s: float = Field(gt=0)


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    table: Table
    address: int = Field(ge=0, le=65535)
    type: PointType
    access: Literal["r", "rw"]
    poll_group: str | None = None
    role: Role = "state"
    scale: float | None = None
    unit: str | None = None
    word_order: Order | None = None
    byte_order: Order | None = None
    length: int | None = Field(default=None, ge=1, le=250, description="characters, for type str")
    enum: dict[int, str] | None = None
    bits: dict[int, str] | None = None
    min: float | None = None
    max: float | None = None
    report: Report = "period"
    report_period_s: float | None = Field(default=None, gt=0)
    description: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Point:
        bit_table = self.table in ("coil", "discrete")
        if bit_table != (self.type == "bool"):
            raise ValueError(f"point {self.name}: type {self.type} does not fit table {self.table}")
        if self.type == "str" and self.length is None:
            raise ValueError(f"point {self.name}: type str needs a length")
        if self.report == "change_or_period" and self.report_period_s is None:
            raise ValueError(f"point {self.name}: report change_or_period needs report_period_s")
        return self

    @property
    def width(self) -> int:
        """Registers (or bits) the point spans."""
        if self.type == "str":
            assert self.length is not None
            return (self.length + 1) // 2
        return _WIDTH[self.type]


class CommandSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    writes: dict[str, int | str]


class CommandResultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    token: str
    code: str


class DeviceClockSpec(BaseModel):
    """The device's own clock, read with its samples: the master stamps a poll that read `seconds` with it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seconds: str = Field(description="point holding the device's clock, Unix seconds (0: never set)")
    millis: str | None = Field(default=None, description="point holding its milliseconds")


class Area(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)
    table: Table
    address: int = Field(ge=0, le=65535)
    entries: int | None = None
    entry_registers: int | None = None
    registers: int | None = None


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    profile: str
    kind: DeviceKind
    description: str = ""
    byte_order: Order = "big"
    word_order: Order = "big"
    poll_groups: dict[str, PollGroup]
    points: list[Point]
    areas: dict[str, Area] = Field(default_factory=dict)
    commands: dict[str, CommandSpec] = Field(default_factory=dict)
    command_result: CommandResultSpec | None = None
    device_clock: DeviceClockSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> Profile:
        names: set[str] = set()
        for p in self.points:
            if p.name in names:
                raise ValueError(f"point {p.name} defined twice")
            names.add(p.name)
            if p.poll_group is not None and p.poll_group not in self.poll_groups:
                raise ValueError(f"point {p.name}: unknown poll group {p.poll_group!r}")
        for cname, spec in self.commands.items():
            for target in spec.writes:
                if target not in names:
                    raise ValueError(f"command {cname}: writes unknown point {target!r}")
        if self.command_result and {self.command_result.token, self.command_result.code} - names:
            raise ValueError("command_result names an unknown point")
        if self.device_clock and {self.device_clock.seconds, self.device_clock.millis or self.device_clock.seconds} \
                - names:
            raise ValueError("device_clock names an unknown point")
        return self

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(f"profile {self.profile} has no point {name!r}")

    def polled(self, group: str) -> list[Point]:
        return [p for p in self.points if p.poll_group == group]


def parse_profile(data: Any, source: str) -> Profile:
    """Validate a parsed register map; raises ProfileError naming `source` and every fault."""
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ProfileError(f"{source}: invalid register map: {problems}") from None


def load_profile_file(path: Path) -> Profile:
    """Read and validate one YAML register map. Raises ProfileError (bad YAML or content) or FileNotFoundError."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    return parse_profile(data, str(path))


@functools.cache
def load_profile(name: str) -> Profile:
    """The register map of profile `name` from contracts/modbus (cached). Raises FileNotFoundError, ProfileError."""
    return load_profile_file(contracts.modbus_map_path(name))
