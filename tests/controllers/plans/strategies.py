"""Hypothesis strategies of valid plans, and one mutation per rule that breaks exactly that rule.

`valid_plans`: standard NEMA 8-phase intersections with random geometry, clearances rounded up to the tenth of a
second, random lead/lag order, peds on phase 2 always and on 4/6/8 at random, and random splits built up from
each phase's minimum split so that ring sums and barriers hold. `t_junction_plans`: the same on ring layouts
where a ring rests through a barrier group (2+6 | 4, a leading or lagging left 1, the side street in either
ring, a single ring). Cycles stay ≤ 220 s so that mutations that lengthen a split (a 6.5 s yellow, say) do not
also break the 255 s cycle limit.
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


Layout = list[list[list[int]]]
"""layout[r][g]: ring r's phases in barrier group g, in running order (empty: the ring rests through g)."""

# T-junction layouts: main road 2 (with peds) and 6, side street 4; a leading or lagging left 1 (with 6).
T_LAYOUTS: list[Layout] = [
    [[[2], [4]], [[6], []]],          # 2+6 | 4
    [[[1, 2], [4]], [[6], []]],       # leading left 1
    [[[2, 1], [4]], [[6], []]],       # lagging left 1
    [[[2], []], [[6], [4]]],          # side street in ring 2
    [[[2], [4]], [[], [8]]],          # ring 2 rests through the main-road group
    [[[2], [4]]],                     # a single ring
]  # fmt: skip


@st.composite
def valid_plans(draw: st.DrawFn) -> Plan:
    """A standard NEMA 8-phase plan dict that passes every rule."""
    pairs = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]  # ring -> barrier group -> phases
    for ring in pairs:
        for group in ring:
            if draw(st.booleans()):
                group.reverse()  # lagging left turn
    return draw(_plans(pairs))


@st.composite
def t_junction_plans(draw: st.DrawFn) -> Plan:
    """A plan dict that passes every rule, on a layout where some ring rests through a barrier group."""
    return draw(_plans(copy.deepcopy(draw(st.sampled_from(T_LAYOUTS)))))


def any_valid_plans() -> st.SearchStrategy[Plan]:
    """Either kind of valid plan."""
    return st.one_of(valid_plans(), t_junction_plans())


@st.composite
def _plans(draw: st.DrawFn, layout: Layout) -> Plan:
    numbers_in_use = sorted(n for ring in layout for group in ring for n in group)
    peds = {2: True, 4: draw(st.booleans()), 6: draw(st.booleans()), 8: draw(st.booleans())}
    phases = [draw(phase_dicts(n, peds.get(n, False))) for n in numbers_in_use]
    models = {p["phase"]: Phase.model_validate(p) for p in phases}
    rings = [[n for group in ring for n in group] for ring in layout]
    barriers = [sorted(n for ring in layout for n in ring[g]) for g in range(len(layout[0]))]
    numbers = draw(st.lists(st.integers(1, 253), min_size=1, max_size=3, unique=True))
    patterns = [_pattern(draw, n, layout, models) for n in numbers]
    day_numbers = draw(st.lists(st.integers(1, 255), min_size=1, max_size=3, unique=True))
    day_plans = [{"day_plan": d, "events": _events(draw, numbers)} for d in day_numbers]
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    dates = draw(st.lists(st.dates(min_value=_date("2026-01-01"), max_value=_date("2027-12-31")), max_size=3,
                          unique=True))  # fmt: skip
    return {
        "format": "signalight.plan/v1", "intersection_id": "tn-001",
        "name": draw(st.sampled_from(["weekday", "Ngã tư Đồng Quang"])),
        "phases": phases, "rings": rings, "barriers": barriers, "patterns": patterns,
        "day_plans": day_plans, "week": {day: draw(st.sampled_from(day_numbers)) for day in days},
        "holidays": [{"date": d.isoformat(), "day_plan": draw(st.sampled_from(day_numbers))} for d in dates],
    }  # fmt: skip


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _pattern(draw: st.DrawFn, number: int, layout: Layout, models: dict[int, Phase]) -> Plan:
    need = {n: math.ceil(min_split_s(models[n]) - 1e-9) for n in models}
    groups = range(len(layout[0]))
    group_times = [max(sum(need[n] for n in ring[g]) for ring in layout if ring[g]) + draw(st.integers(0, 15))
                   for g in groups]  # fmt: skip
    if sum(group_times) < 30:
        group_times[-1] += 30 - sum(group_times)
    splits: dict[str, float] = {}
    for ring in layout:
        for g, group in enumerate(ring):
            if not group:
                continue  # the ring rests through this group
            extra = group_times[g] - sum(need[n] for n in group)
            cuts = sorted(draw(st.integers(0, extra)) for _ in group[1:])
            for n, low, high in zip(group, [0, *cuts], [*cuts, extra], strict=True):
                splits[str(n)] = need[n] + high - low
    cycle = sum(group_times)
    g = draw(st.sampled_from(list(groups)))
    coord = [draw(st.sampled_from(ring[g])) for ring in layout if ring[g]]
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


# Values that break a shape in the ways JSON allows: wrong types, bounds, integral floats, strings that end in a
# newline (Python's `$` lets them through a pattern), impossible dates, empty containers.
ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 2.0, 2.5, 16, 17, 253, 254, 300, 1e3, -0.5, "", "x", "2", "05:00", "25:00",
    "2026-02-30", "2026-02-28", "2026-01-01\n", "tn-001\n", "tn 001", "signalight.plan/v1", "pattern", "dark",
    [], [1], [[1, 2]], {}, {"a": 1},
]  # fmt: skip
ODD_KEYS = ["colour", "1", "9", "17", "0", "1\n", "x", "walk_s", "pattern"]


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside the document (not the root)."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.append((*path, key))
        found.extend(_places(child, (*path, key)))
    return found


def _containers(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if isinstance(node, dict | list) else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        found.extend(_containers(child, (*path, key)))
    return found


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


@st.composite
def damaged_plans(draw: st.DrawFn) -> Any:
    """A valid plan with up to three random changes to its shape (or none: the plan itself)."""
    document = copy.deepcopy(draw(any_valid_plans()))
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["replace", "delete", "add", "replace"]))
        if kind == "add":
            target = _at(document, draw(st.sampled_from(_containers(document))))
            value = draw(st.sampled_from(ODD_VALUES))
            if isinstance(target, dict):
                target[draw(st.sampled_from(ODD_KEYS))] = value
            else:
                target.append(value)
            continue
        path = draw(st.sampled_from(_places(document)))
        parent = _at(document, path[:-1])
        if kind == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(st.sampled_from(ODD_VALUES))
    return document
