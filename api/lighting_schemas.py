"""Response bodies of the lighting routes (`api/routes/lighting.py`), as the OpenAPI document shows them.

A cabinet's measured circuits and its reported program are the device's own `state.values` (per-circuit fields
grow with the firmware), so they stay open objects; everything the center itself keeps is typed here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ValidateOut(BaseModel):
    ok: bool
    warnings: list[dict[str, Any]]


class DocumentSummary(BaseModel):
    document_id: str
    latest_version: int


class LightingVersionOut(BaseModel):
    document_id: str
    version: int
    name: str
    crc32: int
    crc32_hex: str
    author: str
    comment: str | None
    created_at: str
    warnings: list[dict[str, Any]]


class LightingVersionWithDocument(LightingVersionOut):
    document: dict[str, Any]


class VersionsOut(BaseModel):
    document_id: str
    versions: list[LightingVersionOut]


class DiffOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    document_id: str
    from_: int = Field(alias="from", serialization_alias="from")
    to: int
    changes: list[dict[str, Any]]


class LightingDeploymentOut(BaseModel):
    id: str
    batch_id: str
    document_id: str
    version: int
    device_id: str
    crc32: int
    command_id: str | None
    status: str
    error: str | None
    message: str | None
    attempts: int
    requested_by: str
    created_at: str
    updated_at: str
    finished_at: str | None


class DeployOut(BaseModel):
    batch_id: str
    deployments: list[LightingDeploymentOut]


class BatchOut(DeployOut):
    counts: dict[str, int]


class OverrideOut(BaseModel):
    id: str
    device_id: str
    circuit: int
    level_pct: float
    until: str
    reason: str
    set_by: str
    set_at: str
    status: str
    command_id: str | None
    ended_at: str | None
    # the override's command as the center last saw it (succeeded, expired, ...): only in the cabinet's lighting view
    command_status: str | None = None


class ReleaseOut(BaseModel):
    device_id: str
    circuit: int
    command_id: str
    released: list[OverrideOut]


class SwitchOut(BaseModel):
    at: str
    level_pct: float
    cause: str


class CircuitTonight(BaseModel):
    circuit: int
    rule: str | None
    program: str | None
    switches: list[SwitchOut] = Field(description="the switches of the current lighting night (noon to noon, local)")
    next_switches: list[SwitchOut] = Field(description="the next switches from now (at most 4), this night's and the "
                                           "next night's: after the morning switch-off, this evening's")


class ProgramOut(BaseModel):
    document_id: str
    version: int
    crc32: int
    name: str
    night: str
    circuits: list[CircuitTonight]


class CabinetLightingOut(BaseModel):
    device_id: str
    site: str
    circuits: list[dict[str, Any]] = Field(description="each circuit as the cabinet measures it (its `state`), "
                                           "plus `status` (on/off/fault), its active `override` or null, "
                                           "`luminaires` (declared) and `luminaires_out` (estimated from the "
                                           "current against the level's expected load; null when not judged)")
    program: ProgramOut | None
    reported_program: dict[str, Any] | None
    overrides: list[OverrideOut]


class MonthTotals(BaseModel):
    month: str
    energy_kwh: float
    burning_h: float
    savings_kwh: float


class EnergyOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    device_id: str
    from_: str = Field(alias="from", serialization_alias="from")
    to: str
    days: list[dict[str, Any]] = Field(description="per local day: energy_kwh, power_integral_kwh and `circuits` "
                                       "(energy_kwh, burning_h, switches, full_kwh, savings_kwh)")
    months: list[MonthTotals]
