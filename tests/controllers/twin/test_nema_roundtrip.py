"""Round trip: the same plan and the same detector calls give the same signal sequence in SUMO's NEMA controller
(fed by `nema_tl_logic`) and in our controller's sequencer (firmware_sim): the same greens in the same order,
starting and ending within one 0.1 s step, and the clearances (yellow, red) exact.

Each case runs a real SUMO on a hand-built junction for a few cycles; the first `WARM_S` seconds are left out of
the comparison (the two controllers start up differently: SUMO enters the phases its cycle timer points at,
ours starts at the main street and then steps into the master cycle).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from controllers.plans.model import PlanV1
from tests.controllers.twin.sumo_rig import (
    FOUR_LEG,
    T_JUNCTION,
    Approaches,
    Calls,
    Interval,
    LaneSpec,
    after,
    run_firmware,
    run_sumo,
)

STEP = 0.1
PREROLL_S = 900.0      # our controller's transition into the master cycle takes a few cycles
Signals = dict[int, list[Interval]]
EXAMPLES = Path(__file__).resolve().parents[3] / "contracts" / "plans" / "examples"


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return doc


def roundtrip(tmp_path: Path, doc: dict[str, Any], pattern: int | None, approaches: Approaches, calls: Calls,
              end_s: float, warm_s: float, tod_s: float = 0.0) -> Signals:
    """Both controllers on the plan and calls; their intervals after `warm_s` checked to be the same (ours
    returned, for what a case asserts beyond that)."""
    sumo = run_sumo(tmp_path, PlanV1.model_validate(doc), pattern, approaches, calls, end_s,
                    time_of_day_at_start_s=tod_s)
    ours = run_firmware(doc, pattern, calls, end_s, time_of_day_at_start_s=tod_s,
                        preroll_s=PREROLL_S if pattern is not None else 0.0)
    sumo, ours = after(sumo, warm_s, end_s), after(ours, warm_s, end_s)
    assert_same(sumo, ours, doc)
    return ours


def assert_same(sumo: Signals, ours: Signals, doc: dict[str, Any]) -> None:
    """Per phase, the same intervals in the same order, each starting and ending within one step; the yellows
    exact; the red clearance after each yellow (to the next green in its ring) exact, or, where a ring waits
    at the barrier for the other, the wait within one step."""
    rings: list[list[int]] = doc["rings"]
    red = {ph["phase"]: ph["red_clear_s"] for ph in doc["phases"]}
    assert sorted(sumo) == sorted(ours)
    for p in sorted(ours):
        assert [c for _, _, c in sumo[p]] == [c for _, _, c in ours[p]], f"phase {p}: SUMO {sumo[p]} ours {ours[p]}"
        for a, b in zip(sumo[p], ours[p], strict=True):
            assert abs(a[0] - b[0]) <= STEP + 1e-9 and abs(a[1] - b[1]) <= STEP + 1e-9, \
                f"phase {p}: SUMO {a} ours {b}"
            if a[2] == "y":
                assert round(a[1] - a[0], 1) == round(b[1] - b[0], 1), f"phase {p} yellow: SUMO {a} ours {b}"
        gaps = list(zip(clearances(sumo, p, rings), clearances(ours, p, rings), strict=True))
        for a_gap, b_gap in gaps:
            if red[p] in (a_gap, b_gap):
                assert a_gap == b_gap, f"phase {p} red clearance: SUMO {a_gap} ours {b_gap}"
            assert abs(a_gap - b_gap) <= STEP + 1e-9, f"phase {p} wait after the clearance: SUMO {a_gap} ours {b_gap}"
    assert any(c == "g" for ivs in ours.values() for _, _, c in ivs), "no green compared"


def clearances(signals: Signals, phase: int, rings: list[list[int]]) -> list[float]:
    """After each yellow of `phase`: the time to the next green start in its ring (its red clearance, or longer
    where the ring waits at a barrier)."""
    ring = next(r for r in rings if phase in r)
    starts = sorted(a for p in ring for a, _, c in signals[p] if c == "g")
    out = []
    for _, end, c in signals[phase]:
        nxt = next((a for a in starts if a >= end), None)
        if c == "y" and nxt is not None:
            out.append(round(nxt - end, 1))
    return out


def test_fixed_time_coordinated_eight_phases(tmp_path: Path) -> None:
    """tn-001 pattern 2 (90 s, offset 35 s) with every detector occupied: every phase runs to its force-off. The
    run starts at 07:00:13.7 local time, so the offset must be converted to SUMO's simulation-time reference."""
    doc = example("tn-001-weekday.json")
    ours = roundtrip(tmp_path, doc, 2, FOUR_LEG, Calls(always=frozenset(range(1, 9))), end_s=400, warm_s=130,
                      tod_s=7 * 3600 + 13.7)
    # The main street's green starts where the offset puts local cycle zero: midnight + 35 s + k · 90 s.
    starts = [iv[0] - 0.1 for iv in ours[2] if iv[2] == "g"]
    assert all(round((7 * 3600 + 13.7 + t - 35) % 90, 1) in (0.0, 90.0) for t in starts), starts
    assert len(starts) >= 2


def test_offset_moves_the_twin_with_the_plan(tmp_path: Path) -> None:
    """A different offset in the plan moves SUMO's greens by exactly that much (the conversion is not a
    constant that happens to match one case), and the reference is the first coordinated green when the
    coordinated phases start apart."""
    doc = copy.deepcopy(example("tn-001-weekday.json"))
    doc["patterns"][1]["offset_s"] = 62
    # Unequal lefts (1: 16 s, 5: 12 s): cycle zero is 6's green start, 4 s before 2's.
    doc["patterns"][1]["splits_s"].update({"1": 16, "2": 28})
    ours = roundtrip(tmp_path, doc, 2, FOUR_LEG, Calls(always=frozenset(range(1, 9))), end_s=300, warm_s=130,
                     tod_s=3600.0)
    six = [a - STEP for a, _, c in ours[6] if c == "g"]
    assert six and all(round((3600 + t - 62) % 90, 1) in (0.0, 90.0) for t in six), six


def test_actuated_free_gap_outs_extensions_and_max_outs(tmp_path: Path) -> None:
    """tn-001 free: the main street rests on recall; side-street calls end it at once (gap-out), a side phase is
    extended by later actuations and then gaps out, the lefts are called while the side street runs, a heavy
    main street runs to its max green, counted from the side street's call."""
    calls = Calls(pulses=(
        (4, 40, 41), (8, 40, 43.5),     # side street called: 2 and 6 gap out at once
        (4, 50, 51), (4, 53, 54.5),     # 4 extended past its min green by later actuations, then gaps out
        (8, 47, 52),
        (1, 50, 50.5), (5, 52, 53),     # both lefts called while the side street runs: served after it
        (2, 60, 200), (6, 60, 130),     # a heavy main street extends...
        (3, 100, 100.5), (8, 101, 102),  # ... until the side call's max timer (26 s) runs out
    ))
    ours = roundtrip(tmp_path, example("tn-001-weekday.json"), None, FOUR_LEG, calls, end_s=200, warm_s=30)
    greens = {p: [(a, b) for a, b, c in ivs if c == "g"] for p, ivs in ours.items()}
    assert greens[4][0] == (46.1, 57.4)          # extended to 54.5 + passage 3 (one tick early: see nema.py)
    assert greens[2][0] == (74.4, 126.1)         # max green 26 s from the call at 100


def test_actuated_coordinated_skips_gap_outs_and_early_return(tmp_path: Path) -> None:
    """tn-001 pattern 1 (120 s, fixed force-offs): the side street always called, the lefts now and then: a
    left not called is skipped and its time goes to the next phase, a called left gaps out at min green and
    the coordinated phases return early and rest until their force-off; one left extends."""
    calls = Calls(always=frozenset({2, 6, 4, 8}), pulses=(
        (3, 150, 150.5), (7, 150, 151), (1, 200, 200.5), (5, 200, 203), (3, 270, 270.3), (5, 330, 331),
        (1, 330, 340)))
    ours = roundtrip(tmp_path, example("tn-001-weekday.json"), 1, FOUR_LEG, calls, end_s=390, warm_s=130,
                      tod_s=8 * 3600 + 5)
    greens = {p: [(a, b) for a, b, c in ivs if c == "g"] for p, ivs in ours.items()}
    assert greens[8][1] == (285.1, 329.1)        # 7 skipped: 8 starts with 3 and runs to its force-off
    assert greens[1][1] == (335.1, 341.9)        # extended by its detector (occupied to 340), then gaps out


def lead_lag() -> dict[str, Any]:
    """tn-001 with phase 1 leading phase 2 in ring 1 and phase 5 lagging phase 6 in ring 2."""
    doc = copy.deepcopy(example("tn-001-weekday.json"))
    doc["rings"] = [[1, 2, 3, 4], [6, 5, 7, 8]]
    return doc


def test_lead_lag_free(tmp_path: Path) -> None:
    """A lead-lag sequence, free (SUMO cannot run a lagging phase after a coordinated one: nema.py refuses
    that pattern): 1 leads 2 while 6 runs, 5 lags 6 while 2 runs, then both rings cross to the side street."""
    calls = Calls(pulses=(
        (4, 40, 41), (8, 40, 43.5), (4, 50, 51), (4, 53, 54.5), (8, 47, 52),
        (1, 50, 50.5), (5, 52, 53),
        (2, 60, 93), (6, 60, 70),                    # 6 gaps out first, 5 lags it, 2 ends with 5
        (3, 94, 94.5), (8, 94, 95), (7, 94, 95), (4, 94, 95),
        (5, 110, 111), (1, 111, 112)))
    ours = roundtrip(tmp_path, lead_lag(), None, FOUR_LEG, calls, end_s=135, warm_s=30)
    greens = {p: [(a, b) for a, b, c in ivs if c == "g"] for p, ivs in ours.items()}
    assert greens[1][0][0] == greens[6][0][0] < greens[2][0][0] < greens[5][0][0] < greens[3][0][0]


def test_t_junction_coordinated(tmp_path: Path) -> None:
    """tn-014 pattern 1: ring 2 rests through the side street's group (SUMO: phase 4 written in both rings), the
    leading left 1 is called now and then (skipped otherwise: 2 then starts with 6)."""
    calls = Calls(always=frozenset({2, 6, 4}), pulses=((1, 150, 150.5), (1, 330, 335)))
    ours = roundtrip(tmp_path, example("tn-014-t-junction.json"), 1, T_JUNCTION, calls, end_s=450, warm_s=110,
                      tod_s=7 * 3600 + 1)
    greens = {p: [(a, b) for a, b, c in ivs if c == "g"] for p, ivs in ours.items()}
    assert greens[2][0][0] == greens[6][0][0] and greens[1][0][0] == greens[6][1][0] < greens[2][1][0]


def test_t_junction_free(tmp_path: Path) -> None:
    calls = Calls(pulses=((4, 40, 41), (4, 50, 52), (1, 45, 46), (2, 60, 70), (4, 100, 101), (1, 101, 102)))
    roundtrip(tmp_path, example("tn-014-t-junction.json"), None, T_JUNCTION, calls, end_s=200, warm_s=30)


def test_resting_ring_through_a_two_phase_group(tmp_path: Path) -> None:
    """A T-junction whose side street has a protected left 3 before 4 (rings [[1, 2, 3, 4], [6]]): ring 2 rests
    through a group of two phases, which SUMO gets as both phases written in both rings ("0,6,3,4")."""
    doc = copy.deepcopy(example("tn-014-t-junction.json"))
    doc["phases"].append(dict(doc["phases"][0], phase=3))
    doc["rings"], doc["barriers"] = [[1, 2, 3, 4], [6]], [[1, 2, 6], [3, 4]]
    doc["patterns"] = [{"pattern": 1, "cycle_s": 110, "offset_s": 12, "coord_phases": [2, 6],
                        "splits_s": {"1": 15, "2": 55, "3": 15, "4": 25, "6": 70}}]
    doc["day_plans"][0]["events"] = [e for e in doc["day_plans"][0]["events"] if e.get("pattern", 1) == 1]
    approaches = {"W": (LaneSpec(("through", "right"), 2),),
                  "E": (LaneSpec(("through",), 6), LaneSpec(("left",), 1)),
                  "S": (LaneSpec(("right",), 4), LaneSpec(("left",), 3))}
    ours = roundtrip(tmp_path, doc, 1, approaches, Calls(always=frozenset({1, 2, 3, 4, 6}), pulses=()),
                     end_s=340, warm_s=120, tod_s=7 * 3600 + 1)
    assert next((a, b) for a, b, c in ours[3] if c == "g") == (181.1, 189.9)
