"""Lamp life: how much of its rated life a circuit's luminaires have burnt, and whether it is time to plan the
relamping (TALQ LampMonitor: burning hours against the lamp's rated life).

A cabinet counts burning hours per circuit (contactor closed, breaker in, mains present), not per luminaire: every
luminaire of a circuit burns the same hours, so the circuit's counter is each of its luminaires' age, counted from
when the cabinet's counter started (the luminaires installed with the cabinet, or its counter reset at relamping).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from controllers.lighting.faults import CircuitLoad

NEARING_EOL_PCT = 80.0  # a city plans relamping a season ahead: from 80 % of the rated life

LifeStatus = Literal["ok", "nearing_eol", "past_eol", "unknown"]


@dataclass(frozen=True, slots=True)
class CircuitLife:
    """One circuit's luminaires against their rated life. `used_pct` and `remaining_h` are None when either the
    rated life (not declared in the cabinet's `loads`) or the burning hours (no reading) is unknown."""

    circuit: int
    luminaires: int | None
    rated_life_h: float | None
    burning_h: float | None
    used_pct: float | None
    remaining_h: float | None
    status: LifeStatus


def circuit_life(circuit: int, load: CircuitLoad | None, burning_h: float | None,
                 nearing_pct: float = NEARING_EOL_PCT) -> CircuitLife:
    """`burning_h`: the circuit's burning-hours counter (h). `nearing_pct` in (0, 100]: from this share of the
    rated life on, the circuit is `nearing_eol`; from 100 % `past_eol`."""
    if not 0 < nearing_pct <= 100:
        raise ValueError(f"nearing_pct must be in (0, 100], not {nearing_pct}")
    rated = load.rated_life_h if load is not None else None
    luminaires = load.luminaires if load is not None else None
    if rated is None or burning_h is None:
        return CircuitLife(circuit, luminaires, rated, burning_h, None, None, "unknown")
    used = 100.0 * burning_h / rated
    status: LifeStatus = "past_eol" if used >= 100 else "nearing_eol" if used >= nearing_pct else "ok"
    return CircuitLife(circuit, luminaires, rated, burning_h, round(used, 2), round(max(rated - burning_h, 0.0), 2),
                       status)
