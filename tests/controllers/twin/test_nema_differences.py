"""Where SUMO's NEMA controller and ours genuinely differ for the same plan and calls, stated precisely: a change
in either controller (or in the translation) that removes or moves a difference makes its test fail, and the
difference list in `controllers/twin/nema.py` must then be updated.

Each case runs both controllers on tn-001 (see test_nema_roundtrip.py for the agreeing cases).
"""

from __future__ import annotations

from pathlib import Path

from controllers.plans.model import PlanV1
from tests.controllers.twin.sumo_rig import FOUR_LEG, Calls, Interval, run_firmware, run_sumo
from tests.controllers.twin.test_nema_roundtrip import PREROLL_S, example

STEP = 0.1


def greens(intervals: list[Interval], from_s: float) -> list[tuple[float, float]]:
    return [(a, b) for a, b, c in intervals if c == "g" and b > from_s]


def close(a: float, b: float) -> bool:
    return abs(a - b) <= STEP + 1e-9


def test_backward_call_in_a_group_sumo_keeps_the_other_ring_green(tmp_path: Path) -> None:
    """Free, main street 2+6 resting, a call on left 1 (before 2 in ring 1's order). Ours follows the ring order
    1 → 2 → 3 → 4: ring 1 reaches 1 only by crossing the barrier, so both rings leave the group (6 too) and come
    back, 6 losing its yellow + red clearance. SUMO's ring 1 steps back from 2 to 1 within the group and 6 stays
    green."""
    doc = example("tn-001-weekday.json")
    calls = Calls(pulses=((4, 20, 21), (8, 20, 21), (1, 90, 91)))
    sumo = run_sumo(tmp_path, PlanV1.model_validate(doc), None, FOUR_LEG, calls, 140)
    ours = run_firmware(doc, None, calls, 140)
    for side in (sumo, ours):       # the same for 1 and 2: 2 ends at once, 1 runs its min green
        assert close(greens(side[2], 60)[0][1], 90.1) and close(greens(side[1], 60)[0][0], 96.1)
        assert close(greens(side[1], 60)[0][1], 101.1)
    assert greens(sumo[6], 60) == [(52.1, 140)]                 # 6 green throughout
    six = [iv for iv in ours[6] if iv[1] > 60]
    assert six[1:3] == [(90.1, 94.1, "y"), (94.1, 96.1, "r")] and six[3][:1] == (96.1,)


def test_one_ring_called_sumo_serves_the_other_rings_barrier_phase(tmp_path: Path) -> None:
    """Free, only left 7 called on the side street. Ours runs 7 alone (ring 1 rests in red) for its min green.
    SUMO moves ring 1 to its barrier phase 4 without a call, runs it for its min green (8 s) and holds 7 green
    as long (green transfer)."""
    doc = example("tn-001-weekday.json")
    calls = Calls(pulses=((4, 20, 21), (8, 20, 21), (7, 90, 91)))
    sumo = run_sumo(tmp_path, PlanV1.model_validate(doc), None, FOUR_LEG, calls, 140)
    ours = run_firmware(doc, None, calls, 140)
    assert greens(sumo[4], 60) == [(96.1, 104.1)] and greens(sumo[7], 60) == [(96.1, 104.1)]
    assert greens(ours[4], 60) == [] and greens(ours[7], 60) == [(96.1, 101.1)]


def test_skipped_phase_sumo_holds_the_coordinated_green_until_it_cannot_fit(tmp_path: Path) -> None:
    """Coordinated (pattern 1, cycle zero at 235 s here), side street 4/8 called, lefts 3/7 never. Ours ends the
    coordinated 2/6 at their force-off (44 s into the cycle) and gives 3's time to 4. SUMO (TS2) holds 2/6
    until 3 could no longer fit its min green before its force-off: 59.4 − 5 − (4 + 2) = 48.4 s into the cycle,
    so 4/8 start 4.5 s later; both end 4/8 at their force-off (94 s)."""
    doc = example("tn-001-weekday.json")
    calls = Calls(always=frozenset({2, 6, 4, 8}))
    tod = 8 * 3600 + 5.0
    sumo = run_sumo(tmp_path, PlanV1.model_validate(doc), 1, FOUR_LEG, calls, 340, time_of_day_at_start_s=tod)
    ours = run_firmware(doc, 1, calls, 340, time_of_day_at_start_s=tod, preroll_s=PREROLL_S)
    zero = 235.0
    assert close(greens(ours[2], 200)[0][1], zero + 44 + STEP)
    assert abs(greens(sumo[2], 200)[0][1] - (zero + 48.4 + STEP)) <= 2 * STEP
    for side in (sumo, ours):
        assert close(greens(side[4], 280)[0][1], zero + 94 + STEP)
    assert close(greens(ours[4], 280)[0][0], zero + 50 + STEP)
