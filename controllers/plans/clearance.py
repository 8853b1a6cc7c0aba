"""Clearance intervals from approach geometry: ITE kinematic yellow, red clearance, pedestrian clearance.

All functions are pure and take SI-ish units named in their parameters: speeds in km/h (as engineers state
them), lengths in metres, accelerations in m/s², results in seconds. Defaults are the ITE / MUTCD values the
validator uses; `ValidatorConfig` can override every one of them.
"""

from __future__ import annotations

import math

PERCEPTION_REACTION_S = 1.0
"""Driver perception-reaction time t (s), ITE."""
DECELERATION_MPS2 = 3.05
"""Comfortable deceleration a (m/s², = 10 ft/s²), ITE."""
GRAVITY_MPS2 = 9.81
"""Gravitational acceleration g (m/s²)."""
VEHICLE_LENGTH_M = 6.0
"""Design vehicle length L (m) that must clear the far side before conflicting traffic gets green."""
PED_WALKING_SPEED_MPS = 1.07
"""Pedestrian walking speed (m/s, = 3.5 ft/s), MUTCD 4E.06."""
PED_TOTAL_WALKING_SPEED_MPS = 0.914
"""Walking speed (m/s, = 3 ft/s) of the MUTCD 4E.06 check of the total walk + pedestrian clearance time."""
PED_TOTAL_EXTRA_M = 1.83
"""Distance (m, = 6 ft) behind the curb face where the MUTCD 4E.06 total-time check starts the crossing."""


def kph_to_mps(speed_kph: float) -> float:
    """Convert km/h to m/s."""
    return speed_kph / 3.6


def _speed_mps(approach_speed_kph: float) -> float:
    if approach_speed_kph <= 0:
        raise ValueError(f"approach speed must be > 0 km/h, got {approach_speed_kph}")
    return kph_to_mps(approach_speed_kph)


def ite_yellow_s(
    approach_speed_kph: float,
    grade_pct: float,
    *,
    perception_reaction_s: float = PERCEPTION_REACTION_S,
    deceleration_mps2: float = DECELERATION_MPS2,
    gravity_mps2: float = GRAVITY_MPS2,
) -> float:
    """Minimum yellow change interval (s) by the ITE kinematic formula  Y = t + v / (2a + 2·G·g).

    `grade_pct` is the approach grade in percent, positive uphill (an uphill approach helps the driver stop,
    so it shortens Y). Raises ValueError for a non-positive speed or a grade so steep downhill that a vehicle
    cannot stop at deceleration `a` (denominator ≤ 0).
    """
    v = _speed_mps(approach_speed_kph)
    braking = 2 * deceleration_mps2 + 2 * (grade_pct / 100) * gravity_mps2
    if braking <= 0:
        raise ValueError(f"grade {grade_pct} % is too steep downhill to stop at {deceleration_mps2} m/s²")
    return perception_reaction_s + v / braking


def red_clearance_s(
    approach_speed_kph: float, clearing_width_m: float, *, vehicle_length_m: float = VEHICLE_LENGTH_M
) -> float:
    """Minimum red clearance interval (s) = (W + L) / v.

    W is the distance (m) from the stop line to the far side of the last conflicting lane, L the vehicle
    length (m), v the approach speed. Raises ValueError for a non-positive speed.
    """
    return (clearing_width_m + vehicle_length_m) / _speed_mps(approach_speed_kph)


def ped_clearance_s(crosswalk_m: float, *, walking_speed_mps: float = PED_WALKING_SPEED_MPS) -> float:
    """Minimum pedestrian clearance (flashing DON'T WALK) interval (s) = crosswalk length / walking speed."""
    if walking_speed_mps <= 0:
        raise ValueError(f"walking speed must be > 0 m/s, got {walking_speed_mps}")
    return crosswalk_m / walking_speed_mps


def ped_total_s(
    crosswalk_m: float,
    *,
    walking_speed_mps: float = PED_TOTAL_WALKING_SPEED_MPS,
    extra_m: float = PED_TOTAL_EXTRA_M,
) -> float:
    """Shortest walk + pedestrian clearance (s) by MUTCD 4E.06: (crosswalk + 1.83 m) / 0.914 m/s.

    The pedestrian starts 1.83 m (6 ft) behind the curb face, at the push button, and walks 0.914 m/s (3 ft/s).
    """
    if walking_speed_mps <= 0:
        raise ValueError(f"walking speed must be > 0 m/s, got {walking_speed_mps}")
    return (crosswalk_m + extra_m) / walking_speed_mps


def tenth_up(seconds: float) -> float:
    """Round a computed interval up to the tenth of a second, the resolution controllers time in."""
    return math.ceil(round(seconds * 10, 6)) / 10
