"""Request and response bodies of the work-order and citizen-report routes, so the OpenAPI document says exactly
what goes in and what comes back."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from controllers.devices import ID_PATTERN
from controllers.work_orders import OrderAction, OrderState

#: A user name or crew name as the users table holds them.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
CREW_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
Category = Literal["dark_street", "broken_lamp", "day_burning", "damaged_pole", "other"]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="WGS 84 degrees")]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="WGS 84 degrees")]


class Label(BaseModel):
    vi: str
    en: str


class WorkOrderCreate(BaseModel):
    """A new work order: from an alarm (`alarm_id`: the cabinet and circuit come from it), or for a device."""

    model_config = ConfigDict(extra="forbid")

    alarm_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    device_id: str | None = Field(default=None, pattern=ID_PATTERN, max_length=64)
    circuit: int | None = Field(default=None, ge=1, le=64)
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=1000)
    assignee: str | None = Field(default=None, pattern=NAME_PATTERN)
    crew: str | None = Field(default=None, pattern=CREW_PATTERN)


class TransitionIn(BaseModel):
    """One step of a work order. `note` is required to resolve; `reason` to say it cannot be fixed, to cancel or to
    reopen; `assignee` or `crew` to assign."""

    model_config = ConfigDict(extra="forbid")

    action: OrderAction
    note: str | None = Field(default=None, min_length=1, max_length=1000)
    reason: str | None = Field(default=None, min_length=1, max_length=500)
    assignee: str | None = Field(default=None, pattern=NAME_PATTERN)
    crew: str | None = Field(default=None, pattern=CREW_PATTERN)
    expected_state: OrderState | None = Field(
        default=None, description="the state the client saw: 409 if the order moved on since (two phones)")


class PhotoOut(BaseModel):
    id: int
    content_type: str
    size_bytes: int
    uploaded_by: str
    uploaded_at: str
    href: str


class EventOut(BaseModel):
    ts: str
    actor: str
    action: str
    from_state: OrderState | None
    to_state: OrderState
    note: str | None


class WorkOrderOut(BaseModel):
    id: int
    state: OrderState
    state_label: Label
    label: Label
    source: Literal["alarm", "dispatcher", "citizen"]
    title: str
    device_id: str | None
    site: str | None
    circuit: int | None
    alarm_id: int | None
    alarm_active: bool | None = Field(description="the linked alarm is still reported by the device (None: no alarm)")
    reference: str | None
    category: str | None
    description: str | None
    lat: float | None
    lon: float | None
    distance_m: float | None = Field(description="from the citizen's location to the matched cabinet")
    crew: str | None
    assignee: str | None
    note: str | None
    reason: str | None
    created_by: str
    created_at: str
    updated_at: str
    actions: list[OrderAction] = Field(description="what the caller may do next")


class WorkOrderDetail(WorkOrderOut):
    history: list[EventOut]
    photos: list[PhotoOut]


class ReportIn(BaseModel):
    """A citizen's report: where (a map pin or the phone's location), what, and a few words."""

    model_config = ConfigDict(extra="forbid")

    lat: Latitude
    lon: Longitude
    category: Category
    text: str = Field(default="", max_length=500)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, allow_inf_nan=False)


class ReportCreated(BaseModel):
    reference: str
    status: str
    status_label: Label
    photo_href: str = Field(description="PUT a JPEG, PNG or WebP here (once, before photo_until)")
    photo_until: str


class ReportStatus(BaseModel):
    """What anyone holding the reference may see: the status only, nothing about who reported or works it."""

    reference: str
    status: str
    status_label: Label
    category: Category
    created_at: str
    updated_at: str
