"""Property test of the sequencer over random valid plans, detector patterns and detector faults.

Each example runs the sequencer tick by tick (the fast harness in `sequencing_harness`: no controller, no I/O)
and checks every tick: no conflicting pair active outside flash, every green ends in yellow then red, yellow and
pedestrian intervals exact, red clearance never cut, min green kept, no green past its force-off in coordination,
both rings cross barriers together, max green timed from the first conflicting call, fail-safe recall on failed
detectors. Plans are the plan validator's random valid plans (`tests.controllers.plans.strategies`), some turned
into T-junctions (a ring with no phase beyond a barrier).

Budget: `SIGNALIGHT_PROPERTY_BUDGET` (default 1) scales the number of examples and their length; at 1 the whole
file takes about 13 s of CPU (75 examples of half an hour, plus the equivalence test); above 1, examples run an
hour each (above 40, four hours). `SIGNALIGHT_PROPERTY_REPORT=path` writes the cycles and ticks simulated.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from firmware_sim.plan import parse_plan
from tests.controllers.plans.strategies import valid_plans
from tests.firmware_sim.sequencing_harness import Traffic, simulate

BUDGET = float(os.environ.get("SIGNALIGHT_PROPERTY_BUDGET", "1"))
# The suite's per-test timeout (300 s) scales with the budget: a budget-170 test runs for hours.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(max(300, round(300 * BUDGET)))]
# Virtual seconds per example: half an hour in CI, an hour above budget 1, four hours above 40 (the same ticks per
# budget unit in fewer, longer examples: drawing a plan costs about a third of an hour's run).
SECONDS = 1800 if BUDGET <= 1 else 3600 if BUDGET <= 40 else 14_400
EXAMPLES = max(1, round(25 * BUDGET * min(1.0, 3600 / SECONDS))) if BUDGET > 1 else 25
# No shrinking: an example is minutes of traffic, shrinking it would take longer than the budget; the failing
# example is printed as drawn.
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=BUDGET <= 1,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EQUIVALENCE_S = 900                             # virtual seconds per equivalence example
TOTALS = {"cycles": 0, "ticks": 0, "greens": 0, "examples": 0, "cpu_seconds": 0.0}


def write_report() -> None:
    path = os.environ.get("SIGNALIGHT_PROPERTY_REPORT")
    if path:
        Path(path).write_text(json.dumps({"budget": BUDGET, **TOTALS}, indent=2) + "\n", encoding="utf-8")


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    write_report()


def t_junction(doc: dict[str, Any]) -> dict[str, Any]:
    """Ring 2 ends at the barrier: no phase of it in the second group (7 and 8 removed), as at a T-junction."""
    doc = copy.deepcopy(doc)
    gone = {7, 8}
    doc["phases"] = [p for p in doc["phases"] if p["phase"] not in gone]
    doc["rings"] = [[p for p in ring if p not in gone] for ring in doc["rings"]]
    doc["barriers"] = [[p for p in group if p not in gone] for group in doc["barriers"]]
    for pat in doc["patterns"]:
        for p in gone:
            pat["splits_s"].pop(str(p), None)
        pat["coord_phases"] = [p for p in pat["coord_phases"] if p not in gone] or [doc["rings"][0][0]]
    return doc


GAPS = st.sampled_from([0, 20, 40, 80, 200, 600, 3000])        # mean ticks between vehicles; 0 = no traffic


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    doc = draw(valid_plans())
    if draw(st.integers(0, 3)) == 0:
        doc = t_junction(doc)
    plan = parse_plan(doc)
    phases = sorted(plan.phases)
    traffic = Traffic({p: draw(GAPS) for p in phases},
                      stuck_on=set(draw(st.lists(st.sampled_from(phases), max_size=1))),
                      ped_gap_ticks={p: draw(st.sampled_from([0, 300, 1200])) for p in phases
                                     if plan.phases[p].walk_s is not None})
    faults = {p: draw(st.integers(0, SECONDS * 10)) for p in draw(st.lists(st.sampled_from(phases), max_size=2))}
    return {"doc": doc, "plan": plan, "traffic": traffic, "faults": faults, "seed": draw(st.integers(0, 2**16)),
            "start": draw(st.integers(0, 7 * 864_000))}


def run(s: dict[str, Any], coord: int | None, changes: list[tuple[int, int | None]] | None = None) -> None:
    began = time.process_time()
    try:
        checker = simulate(s["plan"], coord, s["traffic"], SECONDS, s["seed"], s["faults"], start=s["start"],
                           pattern_changes=[(s["start"] + t, p) for t, p in changes or []], quiet_skip=True)
    except AssertionError as exc:
        where = f"traffic={s['traffic']} faults={s['faults']} seed={s['seed']} start={s['start']}"
        raise AssertionError(f"{exc}\nplan={json.dumps(s['doc'])}\npattern={coord} changes={changes} {where}") from exc
    TOTALS["cycles"] += checker.cycles
    TOTALS["ticks"] += SECONDS * 10
    TOTALS["greens"] += checker.greens
    TOTALS["examples"] += 1
    TOTALS["cpu_seconds"] += time.process_time() - began
    if BUDGET > 1:
        write_report()      # long runs: what was reached so far survives an interruption


@SETTINGS
@given(s=scenarios())
def test_free_actuated_operation_keeps_every_rule(s: dict[str, Any]) -> None:
    run(s, None)


@SETTINGS
@given(s=scenarios())
def test_coordinated_operation_keeps_every_rule(s: dict[str, Any]) -> None:
    run(s, min(s["plan"].patterns))


@SETTINGS
@given(s=scenarios(), data=st.data())
def test_pattern_changes_and_free_keep_every_rule(s: dict[str, Any], data: st.DataObject) -> None:
    numbers: list[int | None] = [*sorted(s["plan"].patterns), None]
    changes = [(data.draw(st.integers(1, SECONDS * 10 - 1)), data.draw(st.sampled_from(numbers)))
               for _ in range(data.draw(st.integers(1, 4)))]
    run(s, data.draw(st.sampled_from(numbers)), sorted(changes, key=lambda c: c[0]))


@settings(max_examples=max(1, round(20 * min(BUDGET, 2))), deadline=None, derandomize=BUDGET <= 1,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(s=scenarios(), data=st.data())
def test_skipping_quiet_ticks_is_the_same_run_as_stepping_every_tick(s: dict[str, Any], data: st.DataObject) -> None:
    """The fast path the tests above use is exact: the same events at the same ticks and the same outputs as
    stepping every tick, free, coordinated and through pattern changes, detector faults and stuck detectors."""
    numbers: list[int | None] = [*sorted(s["plan"].patterns), None]
    pattern = data.draw(st.sampled_from(numbers))
    at = st.integers(1, EQUIVALENCE_S * 10 - 1)
    changes = sorted(((s["start"] + data.draw(at), data.draw(st.sampled_from(numbers)))
                      for _ in range(data.draw(st.integers(0, 3)))), key=lambda c: c[0])
    runs, states = [], []
    for quiet_skip in (False, True):
        trace: list[tuple[int, str, int, int]] = []
        state: dict[int, tuple[object, ...]] = {}
        checker = simulate(s["plan"], pattern, s["traffic"], EQUIVALENCE_S, s["seed"], s["faults"], start=s["start"],
                           pattern_changes=changes, quiet_skip=quiet_skip, trace=trace, states=state)
        runs.append((trace, checker.cycles, checker.greens))
        states.append(state)
    assert runs[0] == runs[1]
    # and the whole state, timers included, at every tick the fast run steps or jumps to
    assert len(states[1]) < len(states[0])
    for tick, state in states[1].items():
        assert state == states[0][tick], f"tick {tick}"


# Found by a budget-170 run: ring 1 (order 2, 1, ...) served its group and rests at the barrier with calls on 1
# and 2; only crossing the barrier reaches them, so phase 5's max green runs from then (the checker once missed
# that call and took the max-out for a green ended without demand).
LAGGING_LEFT_PLAN = (
    '{"format":"signalight.plan/v1","intersection_id":"tn-001","name":"Ng\\u00e3 t\\u01b0 \\u0110\\u1ed3ng Qu'
    'ang","phases":[{"phase":1,"min_green_s":15,"max_green_s":31,"passage_s":4.0,"yellow_s":3.2,"red_clea'
    'r_s":2.2,"ped_actuated":false,"approach_speed_kph":41,"grade_pct":2,"clearing_width_m":17},{"phase":'
    '2,"min_green_s":1,"max_green_s":11,"passage_s":3.3,"yellow_s":4.8,"red_clear_s":1.5,"ped_actuated":t'
    'rue,"approach_speed_kph":69,"grade_pct":-1,"clearing_width_m":19,"walk_s":7,"ped_clear_s":18,"crossw'
    'alk_m":17},{"phase":3,"min_green_s":14,"max_green_s":58,"passage_s":1.5,"yellow_s":3.1,"red_clear_s"'
    ':1.9,"ped_actuated":false,"approach_speed_kph":33,"grade_pct":4,"clearing_width_m":11},{"phase":4,"m'
    'in_green_s":3,"max_green_s":6,"passage_s":4.7,"yellow_s":3.1,"red_clear_s":2.7,"ped_actuated":false,'
    '"approach_speed_kph":44,"grade_pct":4,"clearing_width_m":21},{"phase":5,"min_green_s":1,"max_green_s'
    '":19,"passage_s":4.5,"yellow_s":3.5,"red_clear_s":2.8,"ped_actuated":false,"approach_speed_kph":53,"'
    'grade_pct":1,"clearing_width_m":27},{"phase":6,"min_green_s":13,"max_green_s":40,"passage_s":2.0,"ye'
    'llow_s":3.1,"red_clear_s":3.5,"ped_actuated":false,"approach_speed_kph":30,"grade_pct":2,"clearing_w'
    'idth_m":23}],"rings":[[2,1,3,4],[5,6]],"barriers":[[1,2,5,6],[3,4]],"patterns":[{"pattern":71,"cycle'
    '_s":61,"offset_s":49,"coord_phases":[1,5],"splits_s":{"2":9,"1":23,"3":20,"4":9,"5":12,"6":20}}],"da'
    'y_plans":[{"day_plan":149,"events":[{"at":"17:34","action":"pattern","pattern":71}]},{"day_plan":4,"'
    'events":[{"at":"02:31","action":"pattern","pattern":71}]},{"day_plan":163,"events":[{"at":"17:34","a'
    'ction":"flash"}]}],"week":{"mon":163,"tue":4,"wed":163,"thu":149,"fri":149,"sat":149,"sun":149},"hol'
    'idays":[]}'
)


def test_max_green_runs_from_a_call_behind_the_barrier() -> None:
    plan = parse_plan(json.loads("".join(LAGGING_LEFT_PLAN)))
    traffic = Traffic({1: 20, 2: 0, 3: 0, 4: 0, 5: 20, 6: 0}, ped_gap_ticks={2: 300})
    for quiet_skip in (False, True):
        checker = simulate(plan, None, traffic, 900, 1, {}, start=21, quiet_skip=quiet_skip)
        assert checker.greens > 0


# Found by a budget-170 run: ring 2 ends its red clearance and rests at the barrier with calls on 5 and 6 while
# phase 1 (failed detector, max recall) is green in ring 1, which is stepped first: the max timer must start in
# that tick, not the next one (it did only when the resting ring came first).
RING_ORDER_PLAN = (
    '{"format":"signalight.plan/v1","intersection_id":"tn-001","name":"weekday","phases":[{"phase":1,"min'
    '_green_s":1,"max_green_s":10,"passage_s":0.4,"yellow_s":3.4,"red_clear_s":2.5,"ped_actuated":false,"'
    'approach_speed_kph":30,"grade_pct":-2,"clearing_width_m":10},{"phase":2,"min_green_s":5,"max_green_s'
    '":14,"passage_s":0.5,"yellow_s":3.3,"red_clear_s":2.5,"ped_actuated":false,"approach_speed_kph":33,"'
    'grade_pct":1,"clearing_width_m":12,"walk_s":9,"ped_clear_s":14,"crosswalk_m":11},{"phase":3,"min_gre'
    'en_s":3,"max_green_s":16,"passage_s":1.8,"yellow_s":3.2,"red_clear_s":3.1,"ped_actuated":false,"appr'
    'oach_speed_kph":44,"grade_pct":1,"clearing_width_m":26},{"phase":4,"min_green_s":10,"max_green_s":19'
    ',"passage_s":1.3,"yellow_s":3.6,"red_clear_s":1.4,"ped_actuated":false,"approach_speed_kph":49,"grad'
    'e_pct":1,"clearing_width_m":13},{"phase":5,"min_green_s":15,"max_green_s":15,"passage_s":4.8,"yellow'
    '_s":3.2,"red_clear_s":3.5,"ped_actuated":false,"approach_speed_kph":33,"grade_pct":0,"clearing_width'
    '_m":26},{"phase":6,"min_green_s":10,"max_green_s":56,"passage_s":4.5,"yellow_s":4.4,"red_clear_s":1.'
    '2,"ped_actuated":false,"approach_speed_kph":68,"grade_pct":0,"clearing_width_m":13,"walk_s":7,"ped_c'
    'lear_s":21,"crosswalk_m":20},{"phase":7,"min_green_s":5,"max_green_s":16,"passage_s":2.3,"yellow_s":'
    '3.5,"red_clear_s":1.8,"ped_actuated":false,"approach_speed_kph":37,"grade_pct":1,"clearing_width_m":'
    '11},{"phase":8,"min_green_s":15,"max_green_s":15,"passage_s":4.8,"yellow_s":3.2,"red_clear_s":3.5,"p'
    'ed_actuated":false,"approach_speed_kph":33,"grade_pct":0,"clearing_width_m":26}],"rings":[[1,2,4,3],'
    '[6,5,7,8]],"barriers":[[1,2,5,6],[3,4,7,8]],"patterns":[{"pattern":133,"cycle_s":96,"offset_s":32,"c'
    'oord_phases":[1,6],"splits_s":{"1":10,"2":47,"4":15,"3":24,"6":35,"5":22,"7":15,"8":24}},{"pattern":'
    '186,"cycle_s":104,"offset_s":39,"coord_phases":[3,7],"splits_s":{"1":28,"2":36,"4":15,"3":25,"6":36,'
    '"5":28,"7":16,"8":24}},{"pattern":135,"cycle_s":114,"offset_s":69,"coord_phases":[1,5],"splits_s":{"'
    '1":10,"2":61,"4":21,"3":22,"6":46,"5":25,"7":16,"8":27}}],"day_plans":[{"day_plan":185,"events":[{"a'
    't":"01:40","action":"free"},{"at":"16:30","action":"pattern","pattern":133}]},{"day_plan":208,"event'
    's":[{"at":"00:11","action":"flash"},{"at":"00:55","action":"flash"},{"at":"01:21","action":"dark"},{'
    '"at":"04:48","action":"pattern","pattern":186},{"at":"05:27","action":"dark"},{"at":"22:28","action"'
    ':"pattern","pattern":186}]},{"day_plan":172,"events":[{"at":"00:11","action":"dark"},{"at":"00:55","'
    'action":"dark"},{"at":"01:21","action":"pattern","pattern":133},{"at":"04:48","action":"pattern","pa'
    'ttern":186},{"at":"05:27","action":"free"},{"at":"22:28","action":"flash"}]}],"week":{"mon":185,"tue'
    '":172,"wed":208,"thu":185,"fri":185,"sat":185,"sun":185},"holidays":[{"date":"2027-06-29","day_plan"'
    ':208},{"date":"2026-09-05","day_plan":172},{"date":"2027-03-03","day_plan":208}]}'
)


def test_max_green_starts_in_the_tick_the_call_appears_whatever_the_ring_order() -> None:
    plan = parse_plan(json.loads("".join(RING_ORDER_PLAN)))
    traffic = Traffic({1: 3000, 2: 600, 3: 0, 4: 0, 5: 40, 6: 600, 7: 200, 8: 3000}, ped_gap_ticks={2: 0, 6: 0})
    start = 14474
    checker = simulate(plan, 133, traffic, 12600, 65535, {1: 947}, start=start, quiet_skip=True,
                       pattern_changes=[(start + 1720, None), (start + 2881, None)])
    assert checker.greens > 0


# Found by the 10⁶-cycle evidence run: phase 1 (failed detector, max recall) rests in green with nothing else
# called, for minutes, then maxes out after a pedestrian call; the fail-safe check counted from the green's start,
# so the rest counted as "not served" (the checker measured wrongly; the sequencer served the phase).
RESTING_FAILED_PLAN = (
    '{"format": "signalight.plan/v1", "intersection_id": "tn-001", "name": "Ng\\u00e3 t\\u01b0 \\u0110\\u1ed3ng Q'
    'uang", "phases": [{"phase": 1, "min_green_s": 12, "max_green_s": 34, "passage_s": 2.3, "yellow_s": 3.5, '
    '"red_clear_s": 2.0, "ped_actuated": false, "approach_speed_kph": 43, "grade_pct": -4, "clearing_width_m"'
    ': 11}, {"phase": 2, "min_green_s": 4, "max_green_s": 44, "passage_s": 1.8, "yellow_s": 4.6, "red_clear_s'
    '": 1.7, "ped_actuated": true, "approach_speed_kph": 68, "grade_pct": 0, "clearing_width_m": 22, "walk_s"'
    ': 7, "ped_clear_s": 20, "crosswalk_m": 19}, {"phase": 3, "min_green_s": 15, "max_green_s": 38, "passage_'
    's": 2.4, "yellow_s": 3.4, "red_clear_s": 2.3, "ped_actuated": false, "approach_speed_kph": 43, "grade_pc'
    't": 1, "clearing_width_m": 17}, {"phase": 4, "min_green_s": 1, "max_green_s": 18, "passage_s": 1.7, "yel'
    'low_s": 4.3, "red_clear_s": 2.5, "ped_actuated": false, "approach_speed_kph": 55, "grade_pct": -4, "clea'
    'ring_width_m": 28, "walk_s": 7, "ped_clear_s": 8, "crosswalk_m": 8}, {"phase": 5, "min_green_s": 2, "max'
    '_green_s": 18, "passage_s": 0.4, "yellow_s": 3.0, "red_clear_s": 2.0, "ped_actuated": false, "approach_s'
    'peed_kph": 30, "grade_pct": 0, "clearing_width_m": 10}, {"phase": 6, "min_green_s": 7, "max_green_s": 10'
    ', "passage_s": 0.0, "yellow_s": 3.0, "red_clear_s": 2.0, "ped_actuated": false, "approach_speed_kph": 30'
    ', "grade_pct": -4, "clearing_width_m": 10, "walk_s": 7, "ped_clear_s": 8, "crosswalk_m": 8}], "rings": ['
    '[2, 1, 3, 4], [6, 5]], "barriers": [[1, 2, 5, 6], [3, 4]], "patterns": [{"pattern": 251, "cycle_s": 79, '
    '"offset_s": 14, "coord_phases": [2, 5], "splits_s": {"2": 11, "1": 23, "3": 21, "4": 24, "6": 20, "5": 1'
    '4}}], "day_plans": [{"day_plan": 11, "events": [{"at": "00:00", "action": "flash"}]}], "week": {"mon": 1'
    '1, "tue": 11, "wed": 11, "thu": 11, "fri": 11, "sat": 11, "sun": 11}, "holidays": []}'
)


def test_a_failed_detector_phase_resting_in_green_counts_as_served() -> None:
    plan = parse_plan(json.loads(RESTING_FAILED_PLAN))
    traffic = Traffic(dict.fromkeys(range(1, 7), 0), ped_gap_ticks={2: 300, 4: 0, 6: 0})
    checker = simulate(plan, 251, traffic, 8400, 343, {1: 0}, start=0, pattern_changes=[(1, None)], quiet_skip=True)
    assert checker.greens > 0


# Found by the evidence run too: the fail-safe bound is longer coordinated (three cycles more) than free; a change
# to free must not judge the time already spent coordinated by the free bound (the checker did).
MODE_CHANGE_PLAN = (
    '{"format": "signalight.plan/v1", "intersection_id": "tn-001", "name": "Ng\\u00e3 t\\u01b0 \\u0110\\u1ed3ng Q'
    'uang", "phases": [{"phase": 1, "min_green_s": 12, "max_green_s": 47, "passage_s": 2.7, "yellow_s": 4.8, '
    '"red_clear_s": 1.4, "ped_actuated": false, "approach_speed_kph": 70, "grade_pct": -2, "clearing_width_m"'
    ': 17}, {"phase": 2, "min_green_s": 1, "max_green_s": 14, "passage_s": 0.7, "yellow_s": 4.2, "red_clear_s'
    '": 1.3, "ped_actuated": false, "approach_speed_kph": 66, "grade_pct": 4, "clearing_width_m": 16, "walk_s'
    '": 10, "ped_clear_s": 21, "crosswalk_m": 22}, {"phase": 3, "min_green_s": 12, "max_green_s": 13, "passag'
    'e_s": 3.6, "yellow_s": 4.2, "red_clear_s": 1.8, "ped_actuated": false, "approach_speed_kph": 59, "grade_'
    'pct": -4, "clearing_width_m": 21}, {"phase": 4, "min_green_s": 11, "max_green_s": 59, "passage_s": 1.7, '
    '"yellow_s": 3.8, "red_clear_s": 1.4, "ped_actuated": true, "approach_speed_kph": 60, "grade_pct": 4, "cl'
    'earing_width_m": 17, "walk_s": 10, "ped_clear_s": 9, "crosswalk_m": 9}, {"phase": 5, "min_green_s": 7, "'
    'max_green_s": 20, "passage_s": 3.4, "yellow_s": 4.1, "red_clear_s": 2.4, "ped_actuated": false, "approac'
    'h_speed_kph": 57, "grade_pct": 0, "clearing_width_m": 28}, {"phase": 6, "min_green_s": 6, "max_green_s":'
    ' 23, "passage_s": 4.6, "yellow_s": 3.5, "red_clear_s": 2.2, "ped_actuated": true, "approach_speed_kph": '
    '46, "grade_pct": 4, "clearing_width_m": 18, "walk_s": 10, "ped_clear_s": 9, "crosswalk_m": 8}, {"phase":'
    ' 7, "min_green_s": 14, "max_green_s": 34, "passage_s": 0.7, "yellow_s": 4.0, "red_clear_s": 1.5, "ped_ac'
    'tuated": false, "approach_speed_kph": 49, "grade_pct": -4, "clearing_width_m": 11}, {"phase": 8, "min_gr'
    'een_s": 12, "max_green_s": 42, "passage_s": 0.1, "yellow_s": 3.5, "red_clear_s": 3.8, "ped_actuated": fa'
    'lse, "approach_speed_kph": 33, "grade_pct": -4, "clearing_width_m": 24}], "rings": [[1, 2, 4, 3], [6, 5,'
    ' 8, 7]], "barriers": [[1, 2, 5, 6], [3, 4, 7, 8]], "patterns": [{"pattern": 106, "cycle_s": 113, "offset'
    '_s": 54, "coord_phases": [3, 8], "splits_s": {"1": 19, "2": 45, "4": 30, "3": 19, "6": 47, "5": 17, "8":'
    ' 20, "7": 29}}], "day_plans": [{"day_plan": 236, "events": [{"at": "00:44", "action": "dark"}, {"at": "0'
    '3:08", "action": "flash"}, {"at": "05:14", "action": "free"}]}], "week": {"mon": 236, "tue": 236, "wed":'
    ' 236, "thu": 236, "fri": 236, "sat": 236, "sun": 236}, "holidays": []}'
)


def test_the_fail_safe_bound_counts_from_a_change_to_free() -> None:
    plan = parse_plan(json.loads(MODE_CHANGE_PLAN))
    traffic = Traffic({1: 0, 2: 0, 3: 3000, 4: 3000, 5: 0, 6: 0, 7: 3000, 8: 40}, ped_gap_ticks={2: 0, 4: 0, 6: 0})
    checker = simulate(plan, None, traffic, 1700, 45328, {7: 1513, 4: 171}, start=280, quiet_skip=True,
                       pattern_changes=[(11583, 106), (16567, None)])
    assert checker.greens > 0


# Found by the evidence run: a coordinated phase resting in green under one pattern (6 of pattern 97) is not a
# coordinated phase of the next (211); the checker judged the green that began under 97 by 211's force-off.
def test_a_green_begun_under_another_pattern_is_not_judged_by_the_new_force_off() -> None:
    path = Path(__file__).parent / "data" / "pattern_change_overrun_plan.json"
    plan = parse_plan(json.loads(path.read_text(encoding="utf-8")))
    traffic = Traffic({1: 80, 2: 3000, 3: 600, 4: 20, 5: 80, 6: 3000, 7: 0, 8: 0}, set(), {2: 300, 4: 1200})
    checker = simulate(plan, 211, traffic, 400, 11, {1: 476}, start=100,
                       pattern_changes=[(355, 97), (2427, 211), (29076, None)])
    assert checker.greens > 0
