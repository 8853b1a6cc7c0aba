"""Normalizing device register values into the `state` values of topic contract v1 (contracts/mqtt/topics-v1.md).

Inputs are point values already decoded and labelled by the gateway: enum points as their label (e.g. `mode` =
"flash"), bit-flag points (`alarm_flags`) as a list of names, numbers scaled to their unit. Pure: times are arguments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.clock import to_rfc3339
from controllers.devices import DeviceKind

PHASES = range(1, 9)
PED_PHASES = (2, 4, 6, 8)

_SIGNAL_SCALARS = ("mode", "flash_cause", "pattern", "cycle_s", "cycle_timer_s", "control_source",
                   "backup_remaining_s", "detectors", "plan_crc32")


def _bit(mask: Any, n: int) -> bool:
    return isinstance(mask, int) and bool(mask >> (n - 1) & 1)


def phase_colours(values: Mapping[str, Any]) -> dict[str, str]:
    """Colour of vehicle phases 1..8 from the green/yellow/red bit masks (bit n-1 = phase n).

    In flash mode a phase flashing yellow or red shows `flash_yellow`/`flash_red`; a phase with no bit set is `dark`.
    """
    flashing = values.get("mode") == "flash"
    out: dict[str, str] = {}
    for n in PHASES:
        if _bit(values.get("phase_green"), n):
            colour = "green"
        elif _bit(values.get("phase_yellow"), n):
            colour = "flash_yellow" if flashing else "yellow"
        elif _bit(values.get("phase_red"), n):
            colour = "flash_red" if flashing else "red"
        else:
            colour = "dark"
        out[str(n)] = colour
    return out


def ped_states(values: Mapping[str, Any]) -> dict[str, str]:
    """Pedestrian signal of phases 2, 4, 6, 8: walk, ped_clear, dont_walk, or dark (signal dark or flashing)."""
    dark = values.get("mode") in ("dark", "flash")
    out: dict[str, str] = {}
    for n in PED_PHASES:
        if dark:
            state = "dark"
        elif _bit(values.get("ped_walk"), n):
            state = "walk"
        elif _bit(values.get("ped_clear"), n):
            state = "ped_clear"
        else:
            state = "dont_walk"
        out[str(n)] = state
    return out


def signal_state(values: Mapping[str, Any]) -> dict[str, Any]:
    """`state.values` of a signal controller."""
    out: dict[str, Any] = {k: values[k] for k in _SIGNAL_SCALARS if k in values}
    out.setdefault("mode", "dark")
    out.setdefault("pattern", 0)
    out.setdefault("cycle_timer_s", 0)
    out["phases"] = phase_colours(values)
    out["peds"] = ped_states(values)
    out["alarms"] = sorted(set(values.get("alarm_flags") or []))
    crc = values.get("program_crc32")
    if isinstance(crc, int) and not isinstance(crc, bool):
        # The running lighting document, as MQTT cabinets report it (0 in the register: the factory program).
        out["lighting"] = {"crc32": crc or None}
    return out


def circuit_count(values: Mapping[str, Any]) -> int:
    """Circuits of a cabinet: its `circuits` point when read, else the highest `circuitN_on` present."""
    declared = values.get("circuits")
    if isinstance(declared, int) and 1 <= declared <= 16:
        return declared
    return max((n for n in range(1, 17) if f"circuit{n}_on" in values), default=1)


def cabinet_state(values: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """`state.values` of a lighting cabinet; `override_until` is `now` plus the override time remaining."""
    circuits: list[dict[str, Any]] = []
    for n in range(1, circuit_count(values) + 1):
        level = values.get(f"circuit{n}_level_pct", 0)
        c: dict[str, Any] = {
            "circuit": n,
            "on": bool(values.get(f"circuit{n}_on", False)),
            "level_pct": min(100.0, max(0.0, float(level))) if isinstance(level, int | float) else 0.0,
            "control": values.get(f"circuit{n}_control", "program"),
            "breaker_tripped": bool(values.get(f"breaker{n}_tripped", False)),
        }
        current = values.get(f"circuit{n}_current_a")
        if isinstance(current, int | float):
            c["current_a"] = max(0.0, float(current))
        changed = values.get(f"circuit{n}_changed_s")
        if isinstance(changed, int) and not isinstance(changed, bool) and changed > 0:
            # The cabinet's own record of its last switching (its clock), as MQTT cabinets report `changed_at`.
            ms = values.get(f"circuit{n}_changed_ms")
            ms = ms if isinstance(ms, int) and not isinstance(ms, bool) and 0 <= ms < 1000 else 0
            c["changed_at"] = to_rfc3339(datetime.fromtimestamp(changed + ms / 1000, UTC))
        remaining = values.get(f"circuit{n}_override_remaining_s")
        if c["control"] == "override" and isinstance(remaining, int | float) and remaining > 0:
            # Whole seconds: `now` moves on by milliseconds between polls while `remaining` counts whole seconds.
            until = now + timedelta(seconds=float(remaining))
            until = until.replace(microsecond=0) + timedelta(seconds=round(until.microsecond / 1e6))
            c["override_until"] = to_rfc3339(until)
        else:
            c["override_until"] = None
        circuits.append(c)
    out: dict[str, Any] = {"circuits": circuits}
    for key in ("door_open", "mains_ok"):
        if key in values:
            out[key] = bool(values[key])
    lux = values.get("photocell_lux")
    if isinstance(lux, int | float) and math.isfinite(lux):
        out["photocell_lux"] = max(0.0, float(lux))
    out["alarms"] = sorted(set(values.get("alarm_flags") or []))
    crc = values.get("program_crc32")
    if isinstance(crc, int) and not isinstance(crc, bool):
        # The running lighting document, as MQTT cabinets report it (0 in the register: the factory program).
        out["lighting"] = {"crc32": crc or None}
    return out


def normalize_state(kind: DeviceKind, values: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """`state.values` for a device of `kind` from its labelled point values."""
    if kind is DeviceKind.SIGNAL_CONTROLLER:
        return signal_state(values)
    return cabinet_state(values, now)
