"""Faults per circuit of a lighting cabinet, judged by the center from what the cabinet reports: each names its
circuit, so a crew knows which feeder to open.

- `breaker_trip`: the circuit's breaker is out (it is then off at 0 A, whatever its contactor);
- `lamp_failure`: the circuit is lit (its breaker in) but draws less current than its luminaires should at that
  level — the expected current is n · rated_w · level / 100 / (V · PF) (LED drivers are near-constant power); more than
  `LAMP_TOLERANCE` short means luminaires are out (their number estimated from the shortfall). Judged from the
  measurement, never from a fault flag, so a cabinet without lamp monitoring is covered too;
- `dark_lamp`: off while the program asks for light and no breaker explains it (a contactor stuck open, a
  dead driver supply);
- `day_burner`, `contactor_stuck`: as the cabinet's own monitor reports them for the circuit (it sees the
  daylight on its photocell and its contactor feedback).
Mains loss is the cabinet's (`power_fail`), not a circuit's: with mains down no circuit fault is judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NOMINAL_V = 230.0
POWER_FACTOR = 0.95
LAMP_TOLERANCE = 0.15       # meter error and driver spread stay well inside 15 %; one lamp of 12 is 8 %
MIN_LEVEL_FOR_LAMP_CHECK = 10.0  # below this LED drivers' current is not proportional enough to judge
DEVICE_JUDGED = ("day_burner", "contactor_stuck")


@dataclass(frozen=True, slots=True)
class CircuitLoad:
    """What a circuit feeds: `luminaires` of `rated_w` watts each (from the birth's `loads` or the registry)."""

    circuit: int
    luminaires: int
    rated_w: float
    rated_life_h: float | None = None  # burning hours the luminaires are rated for (None: not declared)


def expected_current_a(load: CircuitLoad, level_pct: float) -> float:
    """Current (A) of the circuit's luminaires, all working, at `level_pct`."""
    return load.luminaires * load.rated_w * level_pct / 100.0 / (NOMINAL_V * POWER_FACTOR)


def loads_from_birth(birth: Mapping[str, Any] | None) -> dict[int, CircuitLoad]:
    """The `loads` of a cabinet's birth by circuit; entries that are not well-formed are skipped."""
    found: dict[int, CircuitLoad] = {}
    for item in (birth or {}).get("loads") or []:
        if not isinstance(item, dict):
            continue
        circuit, count, watts = item.get("circuit"), item.get("luminaires"), item.get("rated_w")
        if isinstance(circuit, int) and isinstance(count, int) and isinstance(watts, int | float) \
                and math.isfinite(watts) and watts > 0 and count >= 0:
            life = item.get("rated_life_h")
            rated_life = float(life) if isinstance(life, int | float) and math.isfinite(life) and life > 0 else None
            found[circuit] = CircuitLoad(circuit, count, float(watts), rated_life)
    return found


def luminaires_out(c: Mapping[str, Any], load: CircuitLoad | None) -> int | None:
    """Per-luminaire status where the cabinet meters only its circuit: how many of the circuit's luminaires are out,
    estimated from its current's shortfall against all of them at its level (0 within `LAMP_TOLERANCE`). None when
    it cannot be judged: not lit, breaker out, below `MIN_LEVEL_FOR_LAMP_CHECK`, no declared load or no current."""
    level, current = c.get("level_pct"), c.get("current_a")
    if c.get("on") is not True or c.get("breaker_tripped") is True or load is None or load.luminaires <= 0 \
            or not isinstance(level, int | float) or not isinstance(current, int | float) \
            or level < MIN_LEVEL_FOR_LAMP_CHECK:
        return None
    expected = expected_current_a(load, float(level))
    if expected <= 0 or current >= expected * (1 - LAMP_TOLERANCE):
        return 0
    per_lamp = expected / load.luminaires
    return min(load.luminaires, max(1, round((expected - current) / per_lamp)))


def circuit_faults(values: Mapping[str, Any], loads: Mapping[int, CircuitLoad]) -> dict[int, dict[str, str]]:
    """Faults by circuit number: {circuit: {fault kind: detail}} for every circuit in `values["circuits"]`
    (a circuit without faults maps to {}). Nothing is judged while mains is down."""
    out: dict[int, dict[str, str]] = {}
    circuits = values.get("circuits")
    if not isinstance(circuits, list):
        return out
    mains = values.get("mains_ok") is not False
    for c in circuits:
        if not isinstance(c, dict) or not isinstance(c.get("circuit"), int):
            continue
        number: int = c["circuit"]
        found: dict[str, str] = {}
        out[number] = found
        if not mains:
            continue
        on, level = c.get("on") is True, c.get("level_pct")
        if c.get("breaker_tripped") is True:
            found["breaker_trip"] = f"circuit {number}: breaker out, 0 A"
        load, current = loads.get(number), c.get("current_a")
        # A tripped breaker explains the missing current: judging lamps as well would send a crew for two faults
        # (luminaires_out does not judge a circuit whose breaker is out).
        missing = luminaires_out(c, load)
        if missing and load is not None and isinstance(level, int | float) and isinstance(current, int | float):
            expected = expected_current_a(load, float(level))
            found["lamp_failure"] = (f"circuit {number}: {current:.2f} A of {expected:.2f} A expected at "
                                     f"{float(level):g} % (~{missing} of {load.luminaires} luminaires out)")
        asked = c.get("program_level_pct")
        if not on and "breaker_trip" not in found and c.get("control") != "override" \
                and isinstance(asked, int | float) and asked > 0:
            found["dark_lamp"] = f"circuit {number}: off while its program asks {float(asked):g} %"
        reported = c.get("faults")
        if isinstance(reported, list):
            for kind in DEVICE_JUDGED:
                if kind in reported:
                    found[kind] = f"circuit {number}: {kind.replace('_', ' ')} (cabinet monitor)"
    return out
