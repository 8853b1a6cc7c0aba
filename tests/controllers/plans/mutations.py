"""One mutation per error rule: each breaks that rule, and only that one, on any plan of `valid_plans`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from controllers.plans import Phase, kph_to_mps
from controllers.plans.clearance import DECELERATION_MPS2, GRAVITY_MPS2, PERCEPTION_REACTION_S, VEHICLE_LENGTH_M
from controllers.plans.rules_phase import min_split_s

Plan = dict[str, Any]


def phase_of(plan: Plan, number: int) -> dict[str, Any]:
    return next(p for p in plan["phases"] if p["phase"] == number)


def group_of(plan: Plan, number: int) -> int:
    return next(g for g, group in enumerate(plan["barriers"]) if number in group)


def ring_phases(plan: Plan, ring: int, group: int) -> list[int]:
    """Phases of `ring` in barrier `group`, in running order."""
    return [n for n in plan["rings"][ring] if n in plan["barriers"][group]]


def grow_split(plan: Plan, number: int, seconds: float, patterns: list[int] | None = None) -> None:
    """Lengthen phase `number`'s split and the cycle by `seconds`, keeping ring sums and barriers aligned."""
    group = group_of(plan, number)
    for k, pattern in enumerate(plan["patterns"]):
        if patterns is not None and k not in patterns:
            continue
        for r, ring in enumerate(plan["rings"]):
            chosen = number if number in ring else ring_phases(plan, r, group)[0]
            pattern["splits_s"][str(chosen)] += seconds
        pattern["cycle_s"] += seconds


def _schema(plan: Plan) -> None:
    plan["phases"][0]["colour"] = "red"


def _unknown_phase(plan: Plan) -> None:
    plan["patterns"][0]["splits_s"]["9"] = 10


def _yellow_min(plan: Plan) -> None:
    # Raise the approach speed until the ITE yellow is 0.2 s over the phase's yellow (which stays in 3–6 s);
    # a faster approach needs *less* red clearance, so nothing else breaks.
    phase = phase_of(plan, 2)
    braking = 2 * DECELERATION_MPS2 + 2 * phase["grade_pct"] / 100 * GRAVITY_MPS2
    phase["approach_speed_kph"] = (phase["yellow_s"] + 0.2 - PERCEPTION_REACTION_S) * braking * 3.6


def _yellow_range(plan: Plan) -> None:
    phase = phase_of(plan, 1)
    grow_split(plan, 1, 6.5 - phase["yellow_s"])
    phase["yellow_s"] = 6.5


def _red_clear_min(plan: Plan) -> None:
    phase = phase_of(plan, 1)
    phase["clearing_width_m"] = phase["red_clear_s"] * kph_to_mps(phase["approach_speed_kph"]) - VEHICLE_LENGTH_M + 1


def _red_clear_max(plan: Plan) -> None:
    phase = phase_of(plan, 1)
    grow_split(plan, 1, 6.5 - phase["red_clear_s"])
    phase["red_clear_s"] = 6.5


def _ped_clear_min(plan: Plan) -> None:
    phase = phase_of(plan, 2)
    phase["crosswalk_m"] = (phase["ped_clear_s"] + 1) * 1.07


def _walk_min(plan: Plan) -> None:
    phase_of(plan, 2)["walk_s"] = 5


def _min_green(plan: Plan) -> None:
    phase_of(plan, 1)["min_green_s"] = 0.5


def _max_lt_min(plan: Plan) -> None:
    phase = phase_of(plan, 1)
    phase["max_green_s"] = phase["min_green_s"] - 0.5


def _split_min(plan: Plan) -> None:
    # Move time from one phase to its neighbour in the same ring and barrier group: sums stay right.
    short, other = ring_phases(plan, 0, 0)
    splits = plan["patterns"][0]["splits_s"]
    cut = splits[str(short)] - (min_split_s(Phase.model_validate(phase_of(plan, short))) - 1)
    splits[str(short)] -= cut
    splits[str(other)] += cut


def _ring_sum(plan: Plan) -> None:
    plan["patterns"][0]["cycle_s"] += 10


def _barrier_align(plan: Plan) -> None:
    pattern = plan["patterns"][0]
    pattern["splits_s"][str(ring_phases(plan, 0, 0)[0])] += 5
    pattern["splits_s"][str(ring_phases(plan, 1, 1)[0])] += 5
    pattern["cycle_s"] += 5


def _offset_range(plan: Plan) -> None:
    plan["patterns"][0]["offset_s"] = plan["patterns"][0]["cycle_s"]


def _cycle_range(plan: Plan) -> None:
    grow_split(plan, 2, 256 - plan["patterns"][0]["cycle_s"], patterns=[0])


def _same_ring_concurrency(plan: Plan) -> None:
    # Ring 1 starts with a phase of the second barrier group: it would cross the barrier three times.
    ring = plan["rings"][0]
    plan["rings"][0] = [ring[2], ring[0], ring[1], ring[3]]


def _coord_phase_barrier(plan: Plan) -> None:
    plan["patterns"][0]["coord_phases"] = [ring_phases(plan, 0, 0)[0], ring_phases(plan, 1, 1)[0]]


def _schedule_ref(plan: Plan) -> None:
    missing = min(set(range(1, 254)) - {p["pattern"] for p in plan["patterns"]})
    plan["day_plans"][0]["events"][0] |= {"action": "pattern", "pattern": missing}


MUTATIONS: dict[str, Callable[[Plan], None]] = {
    "schema": _schema, "unknown_phase": _unknown_phase, "yellow_min": _yellow_min, "yellow_range": _yellow_range,
    "red_clear_min": _red_clear_min, "red_clear_max": _red_clear_max, "ped_clear_min": _ped_clear_min,
    "walk_min": _walk_min, "min_green": _min_green, "max_lt_min": _max_lt_min, "split_min": _split_min,
    "ring_sum": _ring_sum, "barrier_align": _barrier_align, "offset_range": _offset_range,
    "cycle_range": _cycle_range, "same_ring_concurrency": _same_ring_concurrency,
    "coord_phase_barrier": _coord_phase_barrier, "schedule_ref": _schedule_ref,
}  # fmt: skip


def mutated(plan: Plan, rule: str) -> Plan:
    """A deep copy of `plan` with `rule` broken."""
    copied = copy.deepcopy(plan)
    MUTATIONS[rule](copied)
    return copied
