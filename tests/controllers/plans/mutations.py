"""One mutation per error rule: each breaks that rule, and only that one, on any plan of `valid_plans` and of
`t_junction_plans` (except `barrier_align`, see `_barrier_align`)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from controllers.plans import kph_to_mps
from controllers.plans.clearance import DECELERATION_MPS2, GRAVITY_MPS2, PERCEPTION_REACTION_S, VEHICLE_LENGTH_M

Plan = dict[str, Any]


def phase_of(plan: Plan, number: int) -> dict[str, Any]:
    return next(p for p in plan["phases"] if p["phase"] == number)


def group_of(plan: Plan, number: int) -> int:
    return next(g for g, group in enumerate(plan["barriers"]) if number in group)


def ring_phases(plan: Plan, ring: int, group: int) -> list[int]:
    """Phases of `ring` in barrier `group`, in running order."""
    return [n for n in plan["rings"][ring] if n in plan["barriers"][group]]


def first_phase(plan: Plan) -> int:
    """The first phase listed (phase 1 of an 8-phase plan)."""
    number: int = plan["phases"][0]["phase"]
    return number


def grow_split(plan: Plan, number: int, seconds: float, patterns: list[int] | None = None) -> None:
    """Lengthen phase `number`'s split and the cycle by `seconds`, keeping ring sums and barriers aligned
    (a ring resting through the phase's group rests longer by itself)."""
    group = group_of(plan, number)
    for k, pattern in enumerate(plan["patterns"]):
        if patterns is not None and k not in patterns:
            continue
        for r, ring in enumerate(plan["rings"]):
            in_group = ring_phases(plan, r, group)
            if in_group:
                chosen = number if number in ring else in_group[0]
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
    phase = phase_of(plan, first_phase(plan))
    grow_split(plan, phase["phase"], 6.5 - phase["yellow_s"])
    phase["yellow_s"] = 6.5


def _red_clear_min(plan: Plan) -> None:
    phase = phase_of(plan, first_phase(plan))
    phase["clearing_width_m"] = phase["red_clear_s"] * kph_to_mps(phase["approach_speed_kph"]) - VEHICLE_LENGTH_M + 1


def _red_clear_max(plan: Plan) -> None:
    phase = phase_of(plan, first_phase(plan))
    grow_split(plan, phase["phase"], 6.5 - phase["red_clear_s"])
    phase["red_clear_s"] = 6.5


def _ped_clear_min(plan: Plan) -> None:
    phase = phase_of(plan, 2)
    phase["crosswalk_m"] = (phase["ped_clear_s"] + 1) * 1.07


def _walk_min(plan: Plan) -> None:
    phase_of(plan, 2)["walk_s"] = 5


def _min_green(plan: Plan) -> None:
    phase_of(plan, first_phase(plan))["min_green_s"] = 0.5


def _max_lt_min(plan: Plan) -> None:
    phase = phase_of(plan, first_phase(plan))
    phase["max_green_s"] = phase["min_green_s"] - 0.5


def _split_min(plan: Plan) -> None:
    # A min green 1 s longer than the green pattern 1's split leaves; max green follows so it stays ≥ min.
    phase = phase_of(plan, first_phase(plan))
    split = plan["patterns"][0]["splits_s"][str(phase["phase"])]
    phase["min_green_s"] = split - phase["yellow_s"] - phase["red_clear_s"] + 1
    phase["max_green_s"] = max(phase["max_green_s"], phase["min_green_s"])


def _ring_sum(plan: Plan) -> None:
    plan["patterns"][0]["cycle_s"] += 10


def _barrier_align(plan: Plan) -> None:
    # 5 s more for one ring in a group two rings share, and 5 s more for the other ring in another group: each
    # ring still sums to the (longer) cycle, but they reach the barriers apart. When the other ring has no
    # other group (it rests through the rest of the cycle), its sum cannot be kept: ring_sum fails as well.
    pattern = plan["patterns"][0]
    groups = range(len(plan["barriers"]))
    g = next(g for g in groups if sum(bool(ring_phases(plan, r, g)) for r in range(len(plan["rings"]))) >= 2)
    first, other = (r for r in range(len(plan["rings"])) if ring_phases(plan, r, g))
    pattern["splits_s"][str(ring_phases(plan, first, g)[0])] += 5
    elsewhere = [h for h in groups if h != g and ring_phases(plan, other, h)]
    if elsewhere:
        pattern["splits_s"][str(ring_phases(plan, other, elsewhere[0])[0])] += 5
    pattern["cycle_s"] += 5


def _offset_range(plan: Plan) -> None:
    plan["patterns"][0]["offset_s"] = plan["patterns"][0]["cycle_s"]


def _cycle_range(plan: Plan) -> None:
    grow_split(plan, 2, 256 - plan["patterns"][0]["cycle_s"], patterns=[0])


def _same_ring_concurrency(plan: Plan) -> None:
    # A ring that runs through two groups starts with its last phase: it would go back to an earlier group.
    groups = range(len(plan["barriers"]))
    r = next(r for r in range(len(plan["rings"])) if sum(bool(ring_phases(plan, r, g)) for g in groups) >= 2)
    ring = plan["rings"][r]
    plan["rings"][r] = [ring[-1], *ring[:-1]]


def _coord_phase_barrier(plan: Plan) -> None:
    # Coordinated phases in two groups (of two rings when there are two, else of the one ring).
    places = [(r, g, ring_phases(plan, r, g)[0]) for r in range(len(plan["rings"]))
              for g in range(len(plan["barriers"])) if ring_phases(plan, r, g)]  # fmt: skip
    pairs = [(a, b) for a in places for b in places if a[1] != b[1]]
    a, b = next(((a, b) for a, b in pairs if a[0] != b[0]), pairs[0])
    plan["patterns"][0]["coord_phases"] = [a[2], b[2]]


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
