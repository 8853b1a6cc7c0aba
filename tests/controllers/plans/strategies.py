"""Hypothesis strategy of valid plans, and one mutation per rule that breaks exactly that rule.

The generated plans are standard NEMA 8-phase intersections with random geometry, clearances rounded up to the
tenth of a second, random lead/lag order, peds on phase 2 always and on 4/6/8 at random, and random splits built
up from each phase's minimum split so that ring sums and barriers hold. Cycles stay ≤ 220 s so that mutations
that lengthen a split (a 6.5 s yellow, say) do not also break the 255 s cycle limit.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from typing import Any

from hypothesis import strategies as st

from controllers.plans import Phase, ite_yellow_s, red_clearance_s
from controllers.plans.rules_phase import min_split_s

Plan = dict[str, Any]
BARRIERS = [[1, 2, 5, 6], [3, 4, 7, 8]]


def _up(value: float) -> float:
    """Round up to the tenth of a second, as an engineer rounds a computed clearance."""
    return math.ceil(value * 10 - 1e-9) / 10


@st.composite
def phase_dicts(draw: st.DrawFn, number: int, peds: bool) -> dict[str, Any]:
    speed = draw(st.integers(30, 70))
    grade = draw(st.sampled_from([-4, -2, -1, 0, 1, 2, 4]))
    width = draw(st.integers(10, 30))
    yellow = max(3.0, _up(ite_yellow_s(speed, grade))) + draw(st.integers(0, 5)) / 10
    red = _up(red_clearance_s(speed, width)) + draw(st.integers(0, 5)) / 10
    min_green = draw(st.integers(1, 15))
    phase: dict[str, Any] = {
        "phase": number, "min_green_s": min_green, "max_green_s": min_green + draw(st.integers(0, 50)),
        "passage_s": draw(st.integers(0, 50)) / 10, "yellow_s": round(yellow, 1), "red_clear_s": round(red, 1),
        "ped_actuated": False, "approach_speed_kph": speed, "grade_pct": grade, "clearing_width_m": width,
    }  # fmt: skip
    if peds:
        crosswalk = draw(st.integers(8, 24))
        phase |= {
            "walk_s": draw(st.integers(7, 10)), "ped_clear_s": math.ceil(crosswalk / 1.07) + draw(st.integers(0, 3)),
            "crosswalk_m": crosswalk, "ped_actuated": draw(st.booleans()),
        }  # fmt: skip
    return phase


@st.composite
def valid_plans(draw: st.DrawFn) -> Plan:
    """A plan dict that passes every rule."""
    peds = {2: True, 4: draw(st.booleans()), 6: draw(st.booleans()), 8: draw(st.booleans())}
    phases = [draw(phase_dicts(n, peds.get(n, False))) for n in range(1, 9)]
    models = {p["phase"]: Phase.model_validate(p) for p in phases}
    pairs = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]  # ring -> barrier group -> phases
    for ring in pairs:
        for group in ring:
            if draw(st.booleans()):
                group.reverse()  # lagging left turn
    rings = [ring[0] + ring[1] for ring in pairs]
    numbers = draw(st.lists(st.integers(1, 253), min_size=1, max_size=3, unique=True))
    patterns = [_pattern(draw, n, pairs, models) for n in numbers]
    day_numbers = draw(st.lists(st.integers(1, 255), min_size=1, max_size=3, unique=True))
    day_plans = [{"day_plan": d, "events": _events(draw, numbers)} for d in day_numbers]
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    dates = draw(st.lists(st.dates(min_value=_date("2026-01-01"), max_value=_date("2027-12-31")), max_size=3,
                          unique=True))  # fmt: skip
    return {
        "format": "signalight.plan/v1", "intersection_id": "tn-001",
        "name": draw(st.sampled_from(["weekday", "Ngã tư Đồng Quang"])),
        "phases": phases, "rings": rings, "barriers": copy.deepcopy(BARRIERS), "patterns": patterns,
        "day_plans": day_plans, "week": {day: draw(st.sampled_from(day_numbers)) for day in days},
        "holidays": [{"date": d.isoformat(), "day_plan": draw(st.sampled_from(day_numbers))} for d in dates],
    }  # fmt: skip


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _pattern(draw: st.DrawFn, number: int, pairs: list[list[list[int]]], models: dict[int, Phase]) -> Plan:
    need = {n: math.ceil(min_split_s(models[n]) - 1e-9) for n in models}
    barrier_times = [max(sum(need[n] for n in ring[g]) for ring in pairs) + draw(st.integers(0, 15)) for g in (0, 1)]
    if sum(barrier_times) < 30:
        barrier_times[1] += 30 - sum(barrier_times)
    splits: dict[str, float] = {}
    for ring in pairs:
        for g, group in enumerate(ring):
            extra = barrier_times[g] - sum(need[n] for n in group)
            first = draw(st.integers(0, extra))
            splits[str(group[0])] = need[group[0]] + first
            splits[str(group[1])] = need[group[1]] + extra - first
    cycle = sum(barrier_times)
    g = draw(st.integers(0, 1))
    coord = [draw(st.sampled_from(ring[g])) for ring in pairs]
    return {"pattern": number, "cycle_s": cycle, "offset_s": draw(st.integers(0, cycle - 1)),
            "coord_phases": coord, "splits_s": splits}  # fmt: skip


def _events(draw: st.DrawFn, patterns: list[int]) -> list[dict[str, Any]]:
    minutes = sorted(draw(st.lists(st.integers(0, 1439), min_size=1, max_size=6, unique=True)))
    events = []
    for minute in minutes:
        action = draw(st.sampled_from(["free", "flash", "dark", "pattern"]))
        event: dict[str, Any] = {"at": f"{minute // 60:02d}:{minute % 60:02d}", "action": action}
        if action == "pattern":
            event["pattern"] = draw(st.sampled_from(patterns))
        events.append(event)
    return events
