"""A cabinet's day of energy and burning hours, from its telemetry: what the city's accounting is billed on.

- `energy_kwh`: the meter's own count over the day (the sum of its increases: a counter reset or a replaced meter
  loses the interval it happened in, never adds a negative day);
- `power_integral_kwh`: ∫ P dt of the active power samples (trapezoids; a gap longer than `MAX_GAP_S` is not
  bridged), the check on the meter;
- per circuit: energy apportioned from the meter by each circuit's share of ∫ I dt (circuits have no meter of their
  own), burning hours and switchings from the cabinet's counters, and `full_kwh`: what its lamps would have drawn at
  100 % while they burned (n · P · hours), so `savings_kwh` = full - actual is what dimming saved.
Pure: samples and the day's bounds are arguments.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controllers.lighting.faults import CircuitLoad

MAX_GAP_S = 300.0
Point = tuple[dt.datetime, float | None]


@dataclass(frozen=True, slots=True)
class CircuitDay:
    circuit: int
    energy_kwh: float
    burning_h: float
    switches: int
    full_kwh: float | None
    savings_kwh: float | None


@dataclass(frozen=True, slots=True)
class CabinetDay:
    device: str
    day: dt.date
    energy_kwh: float
    power_integral_kwh: float
    circuits: list[CircuitDay] = field(default_factory=list)

    def values(self) -> dict[str, float]:
        """The report as flat telemetry fields (`day_…`), for the telemetry store."""
        out = {"day_energy_kwh": round(self.energy_kwh, 4),
               "day_power_integral_kwh": round(self.power_integral_kwh, 4)}
        for c in self.circuits:
            out[f"circuit{c.circuit}_day_energy_kwh"] = round(c.energy_kwh, 4)
            out[f"circuit{c.circuit}_day_burning_h"] = round(c.burning_h, 4)
            out[f"circuit{c.circuit}_day_switches"] = float(c.switches)
            if c.full_kwh is not None and c.savings_kwh is not None:
                out[f"circuit{c.circuit}_day_full_kwh"] = round(c.full_kwh, 4)
                out[f"circuit{c.circuit}_day_savings_kwh"] = round(c.savings_kwh, 4)
        return out


def _clean(points: Sequence[Point]) -> list[tuple[dt.datetime, float]]:
    return sorted((t, float(v)) for t, v in points if v is not None and math.isfinite(v))


def counter_increase(points: Sequence[Point]) -> float:
    """How much a counter rose over `points` (resets skipped)."""
    values = [v for _, v in _clean(points)]
    return sum(b - a for a, b in itertools.pairwise(values) if b > a)


def integral_hours(points: Sequence[Point]) -> float:
    """∫ value dt in value·hours (trapezoids; gaps over MAX_GAP_S not bridged)."""
    total = 0.0
    clean = _clean(points)
    for (t0, v0), (t1, v1) in itertools.pairwise(clean):
        seconds = (t1 - t0).total_seconds()
        if 0 < seconds <= MAX_GAP_S:
            total += (v0 + v1) / 2 * seconds / 3600.0
    return total


def cabinet_day(device: str, day: dt.date, series: Mapping[str, Sequence[Point]], circuits: Sequence[int],
                loads: Mapping[int, CircuitLoad]) -> CabinetDay:
    """The day's report from the day's samples of `energy_kwh`, `active_power_w` and, per circuit N,
    `circuitN_current_a`, `circuitN_burning_h`, `circuitN_switch_count`."""
    meter = counter_increase(series.get("energy_kwh", ()))
    integral = integral_hours(series.get("active_power_w", ())) / 1000.0
    amp_hours = {n: integral_hours(series.get(f"circuit{n}_current_a", ())) for n in circuits}
    total_ah = sum(amp_hours.values())
    out: list[CircuitDay] = []
    for n in circuits:
        share = meter * amp_hours[n] / total_ah if total_ah > 0 else 0.0
        burning = counter_increase(series.get(f"circuit{n}_burning_h", ()))
        switches = round(counter_increase(series.get(f"circuit{n}_switch_count", ())))
        load = loads.get(n)
        full = load.luminaires * load.rated_w * burning / 1000.0 if load is not None else None
        out.append(CircuitDay(n, share, burning, switches, full, None if full is None else full - share))
    return CabinetDay(device, day, meter, integral, out)


ANOMALY_RATIO = 0.25      # a street's consumption varies a few % with the season; a quarter off is a fault
ANOMALY_MIN_KWH = 0.5     # below this the day is too small to judge
PROFILE_DAYS = 7


def energy_anomaly(actual_kwh: float, previous_kwh: Sequence[float]) -> str | None:
    """A sentence when the day's energy is more than ANOMALY_RATIO off the median of the previous days (the
    cabinet's own profile: same program, same season), None when it is within, or too little to judge."""
    usable = sorted(v for v in previous_kwh if math.isfinite(v) and v > 0)
    if len(usable) < 3:
        return None
    mid = len(usable) // 2
    expected = usable[mid] if len(usable) % 2 else (usable[mid - 1] + usable[mid]) / 2
    if expected < ANOMALY_MIN_KWH or abs(actual_kwh - expected) <= ANOMALY_RATIO * expected:
        return None
    return (f"{actual_kwh:.2f} kWh against {expected:.2f} kWh expected ({(actual_kwh / expected - 1) * 100:+.0f} %, "
            f"median of the previous {len(usable)} days)")
