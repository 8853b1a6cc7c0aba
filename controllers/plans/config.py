"""Thresholds of the plan validator, as one typed, immutable model.

Defaults follow ITE (kinematic yellow), MUTCD (walk, pedestrian speed) and the NEMA dual-ring controller.
A city with other standards (a slower design walking speed near schools, a longer minimum walk) passes its
own `ValidatorConfig` instead of editing code.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from controllers.plans import clearance

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]

# The standard NEMA 8-phase conflict monitor programming: phases may time together only across rings and
# within one barrier group (left turns 1/5 and 3/7 with their own or the opposing through movement).
NEMA_8_PHASE_COMPATIBLE: tuple[tuple[int, int], ...] = (
    (1, 5), (1, 6), (2, 5), (2, 6),
    (3, 7), (3, 8), (4, 7), (4, 8),
)  # fmt: skip


class ValidatorConfig(BaseModel):
    """Rule thresholds. Times in seconds, speeds in m/s, lengths in metres, accelerations in m/s²."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    perception_reaction_s: NonNegative = clearance.PERCEPTION_REACTION_S
    deceleration_mps2: Positive = clearance.DECELERATION_MPS2
    gravity_mps2: Positive = clearance.GRAVITY_MPS2
    vehicle_length_m: NonNegative = clearance.VEHICLE_LENGTH_M
    ped_walking_speed_mps: Positive = clearance.PED_WALKING_SPEED_MPS
    yellow_min_s: NonNegative = 3.0
    yellow_max_s: Positive = 6.0
    red_clear_max_s: NonNegative = 6.0
    walk_min_s: NonNegative = 7.0
    min_green_min_s: NonNegative = 1.0
    cycle_min_s: Positive = 30.0
    cycle_max_s: Positive = 255.0
    # Timing values are decimals (tenths of a second); compare with a little slack so 0.1 + 0.2 is 0.3.
    tolerance_s: NonNegative = 1e-6
    # Phase pairs the controller's conflict monitor lets time together (order does not matter). None skips the
    # check, for intersections whose monitor programming is not the standard one.
    compatible_pairs: tuple[tuple[int, int], ...] | None = NEMA_8_PHASE_COMPATIBLE
    # Warnings, never refusals.
    yellow_excess_warn_s: NonNegative = 1.0
    short_cycle_per_phase_s: NonNegative = 12.0
    # MUTCD 4E.06: walk + ped clearance should let a pedestrian walking 0.914 m/s (3 ft/s) cross from 1.83 m
    # (6 ft) behind the curb face (where a pedestrian waits at the push button) to the far curb.
    ped_total_walking_speed_mps: Positive = clearance.PED_TOTAL_WALKING_SPEED_MPS
    ped_total_extra_m: NonNegative = clearance.PED_TOTAL_EXTRA_M
    # In free operation max green alone ends a phase; one this many times the longest green any split gives
    # the phase makes the free cycle far longer than the coordinated one the splits were designed for.
    free_max_green_ratio: Annotated[float, Field(ge=1)] = 1.5

    def is_compatible(self, a: int, b: int) -> bool:
        """True when phases `a` and `b` may show green together (or the conflict check is switched off)."""
        if self.compatible_pairs is None:
            return True
        return (a, b) in self.compatible_pairs or (b, a) in self.compatible_pairs


DEFAULT_RULES = ValidatorConfig()
"""The thresholds used when a caller gives none."""
