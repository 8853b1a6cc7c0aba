"""Alarms, derived purely from what devices report: kinds, severity, bilingual labels, raise and clear rules.

No I/O and no clock: callers pass the device's status, state values or event payload and the set of alarms they
currently hold active, and get back which alarms to raise and which to clear. Keeping an alarm active until its
condition ends (and raising it once) is the caller's bookkeeping over these verdicts; acknowledgement is the API's.

Sources, in the topic contract's terms:
- `status` offline → `comm_loss` (online clears it); a device behind a gateway that is offline is offline
  (`controllers.presence`);
- `state.values`: the device's own `alarms` list (the full current set, so absence clears), and conditions read from
  the state itself (a conflict or local flash cause, an open door, mains lost, a tripped breaker);
- `event`: alarm events `{alarm, active}` and the Indiana hi-res codes 182 power failure / 184 power restored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controllers.devices import DeviceKind


class AlarmKind(StrEnum):
    COMM_LOSS = "comm_loss"
    CONFLICT_FLASH = "conflict_flash"
    LOCAL_FLASH = "local_flash"
    COORDINATION_FAILURE = "coordination_failure"
    DETECTOR_FAULT = "detector_fault"
    DOOR_OPEN = "door_open"
    POWER_FAIL = "power_fail"
    LAMP_FAILURE = "lamp_failure"
    BREAKER_TRIP = "breaker_trip"
    DAY_BURNER = "day_burner"
    DARK_LAMP = "dark_lamp"
    PLAN_DEPLOY_FAILED = "plan_deploy_failed"
    CLOCK_DRIFT = "clock_drift"
    CONTACTOR_STUCK = "contactor_stuck"
    PATTERN_MISMATCH = "pattern_mismatch"
    PROGRAM_DEPLOY_FAILED = "program_deploy_failed"
    ENERGY_ANOMALY = "energy_anomaly"
    UNKNOWN_DEVICE = "unknown_device"
    REGISTRY_MISMATCH = "registry_mismatch"


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"


@dataclass(frozen=True, slots=True)
class AlarmInfo:
    severity: Severity
    label_vi: str
    label_en: str


ALARMS: dict[AlarmKind, AlarmInfo] = {
    AlarmKind.COMM_LOSS: AlarmInfo(Severity.MAJOR, "Mất liên lạc", "Communication loss"),
    AlarmKind.CONFLICT_FLASH: AlarmInfo(Severity.CRITICAL, "Nhấp nháy do xung đột pha", "Conflict flash"),
    AlarmKind.LOCAL_FLASH: AlarmInfo(Severity.MAJOR, "Nhấp nháy tại tủ", "Local flash"),
    AlarmKind.COORDINATION_FAILURE: AlarmInfo(Severity.MINOR, "Lỗi phối hợp", "Coordination failure"),
    AlarmKind.DETECTOR_FAULT: AlarmInfo(Severity.MINOR, "Lỗi đầu dò", "Detector fault"),
    AlarmKind.DOOR_OPEN: AlarmInfo(Severity.MAJOR, "Cửa tủ mở", "Cabinet door open"),
    AlarmKind.POWER_FAIL: AlarmInfo(Severity.CRITICAL, "Mất điện lưới", "Power failure"),
    AlarmKind.LAMP_FAILURE: AlarmInfo(Severity.MAJOR, "Hỏng đèn", "Lamp failure"),
    AlarmKind.BREAKER_TRIP: AlarmInfo(Severity.MAJOR, "Nhảy aptomat", "Breaker trip"),
    AlarmKind.DAY_BURNER: AlarmInfo(Severity.MINOR, "Đèn sáng ban ngày", "Day burner"),
    AlarmKind.DARK_LAMP: AlarmInfo(Severity.MAJOR, "Đèn tắt ban đêm", "Dark lamp"),
    AlarmKind.PLAN_DEPLOY_FAILED: AlarmInfo(Severity.MAJOR, "Nạp kế hoạch thất bại", "Plan deploy failed"),
    AlarmKind.CLOCK_DRIFT: AlarmInfo(Severity.MINOR, "Lệch đồng hồ", "Clock drift"),
    AlarmKind.CONTACTOR_STUCK: AlarmInfo(Severity.MAJOR, "Kẹt công tắc tơ", "Contactor stuck"),
    AlarmKind.PATTERN_MISMATCH: AlarmInfo(Severity.MINOR, "Chạy khác lịch", "Pattern differs from schedule"),
    AlarmKind.PROGRAM_DEPLOY_FAILED: AlarmInfo(Severity.MAJOR, "Nạp chương trình chiếu sáng thất bại",
                                               "Lighting program deploy failed"),
    AlarmKind.ENERGY_ANOMALY: AlarmInfo(Severity.MINOR, "Tiêu thụ điện bất thường", "Energy anomaly"),
    AlarmKind.UNKNOWN_DEVICE: AlarmInfo(Severity.MAJOR, "Thiết bị lạ không có trong danh mục",
                                        "Unknown device (not in the registry)"),
    AlarmKind.REGISTRY_MISMATCH: AlarmInfo(Severity.MAJOR, "Thiết bị khai báo khác danh mục",
                                           "Device announcement differs from the registry"),
}

#: Raised by the central side, never by a device's own report, so a device's state never clears them.
CENTRAL_KINDS = frozenset({AlarmKind.COMM_LOSS, AlarmKind.PLAN_DEPLOY_FAILED, AlarmKind.PATTERN_MISMATCH,
                           AlarmKind.PROGRAM_DEPLOY_FAILED, AlarmKind.ENERGY_ANOMALY,
                           AlarmKind.UNKNOWN_DEVICE, AlarmKind.REGISTRY_MISMATCH})
#: Kinds a device may report in `state.values.alarms` (that list is the full current set).
DEVICE_REPORTED = frozenset(AlarmKind) - CENTRAL_KINDS
#: Kinds read from the state's own fields, per device kind (authoritative even without an `alarms` list).
STATE_DERIVED: dict[DeviceKind, frozenset[AlarmKind]] = {
    DeviceKind.SIGNAL_CONTROLLER: frozenset({AlarmKind.CONFLICT_FLASH, AlarmKind.LOCAL_FLASH}),
    DeviceKind.LIGHTING_CABINET: frozenset({AlarmKind.DOOR_OPEN, AlarmKind.POWER_FAIL, AlarmKind.BREAKER_TRIP}),
}

#: A lighting cabinet's faults that belong to one circuit: raised per circuit (naming it) by the center's judgement
#: (`controllers.lighting.faults`), never as one alarm for the whole cabinet.
CIRCUIT_KINDS = frozenset({AlarmKind.LAMP_FAILURE, AlarmKind.BREAKER_TRIP, AlarmKind.DAY_BURNER, AlarmKind.DARK_LAMP,
                           AlarmKind.CONTACTOR_STUCK})

#: Indiana hi-res enumeration codes that raise or clear an alarm.
EVENT_POWER_FAILURE = 182
EVENT_POWER_RESTORED = 184


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a report says: `active` alarms, over the `decides` kinds this report is authoritative for."""

    active: frozenset[AlarmKind]
    decides: frozenset[AlarmKind]
    detail: Mapping[AlarmKind, str] | None = None

    def changes(self, current: set[AlarmKind] | frozenset[AlarmKind]) -> tuple[set[AlarmKind], set[AlarmKind]]:
        """(to raise, to clear) given the alarms `current`ly active: each raised once, cleared once."""
        to_raise = {k for k in self.active if k in self.decides and k not in current}
        to_clear = {k for k in current if k in self.decides and k not in self.active}
        return to_raise, to_clear


def from_status(status: str, detail: str | None = None) -> Verdict:
    """`offline` raises comm_loss (with `detail`, e.g. why: `gateway_offline`), `online` clears it. Raises
    ValueError for another status."""
    if status not in ("online", "offline"):
        raise ValueError(f"status must be online or offline, not {status!r}")
    active = frozenset({AlarmKind.COMM_LOSS}) if status == "offline" else frozenset()
    details = {AlarmKind.COMM_LOSS: detail} if detail and active else None
    return Verdict(active, frozenset({AlarmKind.COMM_LOSS}), details)


def from_state(kind: DeviceKind | str, values: Mapping[str, Any]) -> Verdict:
    """Alarms of a normalized `state.values`. Unknown alarm names in the device's list are ignored (the schema
    refuses them upstream). Raises ValueError for an unknown device kind."""
    device_kind = DeviceKind(kind)
    active: set[AlarmKind] = set()
    decides: set[AlarmKind] = set()
    reported = values.get("alarms")
    if isinstance(reported, list):
        decides |= DEVICE_REPORTED
        active |= {AlarmKind(a) for a in reported if a in AlarmKind.__members__.values() and a in DEVICE_REPORTED}
    # A derived kind is decided only when the field it reads is present: a partial state says nothing about it.
    if device_kind is DeviceKind.SIGNAL_CONTROLLER:
        if "mode" in values:
            decides |= STATE_DERIVED[device_kind]
            flashing = values.get("mode") == "flash"
            if flashing and values.get("flash_cause") == "conflict":
                active.add(AlarmKind.CONFLICT_FLASH)
            if flashing and values.get("flash_cause") == "local":
                active.add(AlarmKind.LOCAL_FLASH)
    else:
        if "door_open" in values:
            decides.add(AlarmKind.DOOR_OPEN)
            if values["door_open"] is True:
                active.add(AlarmKind.DOOR_OPEN)
        if "mains_ok" in values:
            decides.add(AlarmKind.POWER_FAIL)
            if values["mains_ok"] is False:
                active.add(AlarmKind.POWER_FAIL)
        # Circuit faults are raised per circuit (CIRCUIT_KINDS), not for the cabinet as a whole.
        active -= CIRCUIT_KINDS
        decides -= CIRCUIT_KINDS
    return Verdict(frozenset(active), frozenset(decides))


def from_event(payload: Mapping[str, Any]) -> Verdict | None:
    """The alarm an event raises or clears, or None for an event that is not about an alarm."""
    alarm = payload.get("alarm")
    if isinstance(alarm, str) and alarm in AlarmKind.__members__.values():
        kind = AlarmKind(alarm)
        detail = payload.get("detail")
        active = frozenset({kind}) if payload.get("active") is True else frozenset()
        return Verdict(active, frozenset({kind}), {kind: detail} if isinstance(detail, str) else None)
    code = payload.get("code")
    if code == EVENT_POWER_FAILURE:
        return Verdict(frozenset({AlarmKind.POWER_FAIL}), frozenset({AlarmKind.POWER_FAIL}))
    if code == EVENT_POWER_RESTORED:
        return Verdict(frozenset(), frozenset({AlarmKind.POWER_FAIL}))
    return None


def from_registry(*, unknown: bool, mismatches: list[str] | None = None) -> Verdict:
    """A birth judged against the registry: `unknown` raises unknown_device (a known one clears it); `mismatches`
    (fields the birth claims differently from the registry, e.g. `name`, `location`, `circuits`) raise
    registry_mismatch, none clears it."""
    if unknown:
        return Verdict(frozenset({AlarmKind.UNKNOWN_DEVICE}), frozenset({AlarmKind.UNKNOWN_DEVICE}),
                       {AlarmKind.UNKNOWN_DEVICE: "birth from a device the registry does not know"})
    kinds = frozenset({AlarmKind.UNKNOWN_DEVICE, AlarmKind.REGISTRY_MISMATCH})
    if mismatches:
        return Verdict(frozenset({AlarmKind.REGISTRY_MISMATCH}), kinds,
                       {AlarmKind.REGISTRY_MISMATCH: "birth differs from the registry in " + ", ".join(mismatches)})
    return Verdict(frozenset(), kinds)


def label(kind: AlarmKind | str, lang: str = "vi") -> str:
    """The alarm's name for people, in Vietnamese ("vi", the default) or English ("en")."""
    info = ALARMS[AlarmKind(kind)]
    return info.label_en if lang == "en" else info.label_vi
