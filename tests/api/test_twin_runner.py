"""The twin's runner on a real SUMO: a small generated intersection and a two-intersection corridor, each run short
(≤ 15 simulated minutes, one seed) to keep the suite lean."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import pytest

from api import twin_runner
from api.twin_runner import TwinError, TwinUnavailable, run_preview
from controllers.twin.model import CorridorLink, PreviewRequest, PreviewResult, TwinIntersection
from tests.twin_fixtures import EIGHT_PHASE_SPLITS, L, R, T, arterial_node, demand, four_leg, plan

pytestmark = pytest.mark.slow

EIGHT = EIGHT_PHASE_SPLITS
VOLUMES = {(leg, m): v for leg in ("N", "E", "S", "W") for m, v in ((L, 60.0), (T, 300.0), (R, 60.0))}


def _single(plans: dict[str, dict[str, Any]], volumes: dict[Any, float] | None = None, **kw: Any) -> PreviewRequest:
    return PreviewRequest(intersections=[TwinIntersection(
        intersection_id="tn-001", geometry=four_leg(), demand=demand(volumes or VOLUMES), plans=plans)],
        **{"duration_s": 600, "warmup_s": 120, "seeds": [7], **kw})


def _movement(result: PreviewResult, variant: str, leg: str, movement: Any, at: int = 0) -> Any:
    v = next(v for v in result.variants if v.variant == variant)
    return next(m for m in v.intersections[at].movements if m.leg == leg and m.movement == movement)


@pytest.fixture(scope="module")
def compared() -> tuple[PreviewResult, list[float], list[str]]:
    """The running plan against a candidate that moves 30 s from the N-S through phases to the E-W ones."""
    more_ew = {**EIGHT, 2: 60.0, 6: 60.0, 4: 10.0, 8: 10.0}
    progress: list[float] = []
    before = set(Path(tempfile.gettempdir()).glob("signalight-twin-*"))
    result = run_preview(_single({"running": plan("tn-001", EIGHT, cycle_s=100),
                                  "candidate": plan("tn-001", more_ew, cycle_s=100)}), progress=progress.append)
    left = [str(p) for p in set(Path(tempfile.gettempdir()).glob("signalight-twin-*")) - before]
    return result, progress, left


def test_a_preview_compares_variants_per_approach_and_movement(
        compared: tuple[PreviewResult, list[float], list[str]]) -> None:
    result, _, _ = compared
    assert result.sumo_version.startswith("1.28") and result.seeds == [7] and result.simulated_s_per_wall_s > 0
    assert [v.variant for v in result.variants] == ["candidate", "running"]
    for v in result.variants:
        [x] = v.intersections
        assert [a.leg for a in x.approaches] == ["N", "E", "S", "W"]
        assert len(x.movements) == 12
        assert all(m.vehicles.n == 1 for m in x.movements)
    # More green for E-W: its through traffic arrives on green more often and waits less; N-S, down to its min
    # green, far less often and far longer. (The running plan's E-W already gets what N-S gaps out of.)
    for leg in ("E", "W"):
        good, bad = _movement(result, "candidate", leg, T), _movement(result, "running", leg, T)
        assert good.arrivals_on_green.mean > bad.arrivals_on_green.mean, leg
        assert good.delay_s.mean < bad.delay_s.mean, leg
    for leg in ("N", "S"):
        good, bad = _movement(result, "running", leg, T), _movement(result, "candidate", leg, T)
        assert good.arrivals_on_green.mean > bad.arrivals_on_green.mean + 0.2, leg
        assert good.delay_s.mean * 3 < bad.delay_s.mean, leg
        assert good.split_failures.mean < bad.split_failures.mean, leg


def test_vehicles_counted_match_the_demand(compared: tuple[PreviewResult, list[float], list[str]]) -> None:
    result, _, _ = compared
    for leg in ("N", "E", "S", "W"):
        through = _movement(result, "running", leg, T).vehicles.mean
        # 300 veh/h for 600 s: 50 expected; Poisson (sd 7) and the queue left at the end allow a wide band.
        assert 25 <= through <= 75, (leg, through)
        assert _movement(result, "running", leg, L).vehicles.mean < through


def test_progress_rises_to_one_and_the_files_are_removed(
        compared: tuple[PreviewResult, list[float], list[str]]) -> None:
    _, progress, left = compared
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) == 3
    assert left == []


def test_an_overloaded_movement_fails_its_splits_and_queues() -> None:
    # N-S through get 7 s of green in a 100 s cycle and N's 600 veh/h cannot pass; E-W get 53 s for 300 veh/h.
    starved = {**EIGHT, 2: 58.0, 6: 58.0, 4: 12.0, 8: 12.0}
    result = run_preview(_single({"running": plan("tn-001", starved, cycle_s=100)},
                                 {**VOLUMES, ("N", T): 600.0}, warmup_s=300))
    north, east = _movement(result, "running", "N", T), _movement(result, "running", "E", T)
    assert north.split_failures.mean >= 3 and east.split_failures.mean == 0
    assert north.max_queue_m.mean > 2 * east.max_queue_m.mean
    assert north.delay_s.mean > 2 * east.delay_s.mean


def test_a_corridor_offset_catches_or_misses_the_platoon() -> None:
    """Eastbound traffic leaves a1 in a platoon on a1's phase-2 green and reaches a2, 400 m on at 50 km/h, ~30 s
    later: a2's green 25 s after a1's catches it, 65 s after (with a 90 s cycle) misses it. The side streets are
    busy enough to use their splits, so a2 cannot return to the arterial early and rescue a bad offset."""
    splits = {2: 45.0, 4: 45.0, 6: 45.0, 8: 45.0}

    def node(iid: str, volumes: dict[Any, float], offsets: dict[str, float]) -> TwinIntersection:
        return TwinIntersection(intersection_id=iid, geometry=arterial_node(), demand=demand(volumes), plans={
            k: plan(iid, splits, cycle_s=90, offset_s=o, eight_phases=False) for k, o in offsets.items()})

    busy_side = {("N", T): 600.0, ("S", T): 600.0, ("E", T): 100.0, ("W", T): 100.0}
    request = PreviewRequest(
        intersections=[node("a1", {**busy_side, ("W", T): 900.0}, {"catch": 0, "miss": 0}),
                       node("a2", busy_side, {"catch": 25, "miss": 65})],
        links=[CorridorLink(from_id="a1", from_leg="E", to_id="a2", to_leg="W", distance_m=400)],
        duration_s=600, warmup_s=120, seeds=[3])
    result = run_preview(request)
    catch, miss = (_movement(result, v, "W", T, at=1) for v in ("catch", "miss"))
    assert catch.arrivals_on_green.mean > 0.7 > 0.35 > miss.arrivals_on_green.mean
    assert catch.stops_per_veh.mean < miss.stops_per_veh.mean / 2
    assert catch.delay_s.mean < miss.delay_s.mean
    # a1 runs the same program in both variants: its own figures barely move.
    assert abs(_movement(result, "catch", "W", T).arrivals_on_green.mean
               - _movement(result, "miss", "W", T).arrivals_on_green.mean) < 0.1


def test_without_sumo_the_runner_says_how_to_enable_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(TwinUnavailable, match=r"pip install 'signalight\[twin\]'.*uv sync --extra twin"):
        run_preview(_single({"running": plan("tn-001", EIGHT, cycle_s=100)}))


def test_what_sumo_says_when_it_fails_is_in_the_error(tmp_path: Path) -> None:
    sumo = twin_runner.find_sumo()
    with pytest.raises(TwinError, match=r"SUMO \(test\) failed \(exit 1\):.*Error.*no-such-file\.xml"):
        twin_runner._run([str(sumo.sumo), "-n", "no-such-file.xml"], tmp_path, "SUMO (test)", 30, sumo.home)


def test_a_run_over_its_time_is_stopped_and_named() -> None:
    # No SUMO program starts in 10 ms: the first (netconvert) is stopped.
    with pytest.raises(TwinError, match=r"netconvert: still running after 0\.01 s, stopped"):
        run_preview(_single({"running": plan("tn-001", EIGHT, cycle_s=100)}), timeout_s=0.01)


@pytest.mark.parametrize(("patterns", "message"), [
    ({"running": 9}, "intersection tn-001, variant running: the plan has no pattern 9"),
])
def test_a_plan_that_cannot_run_is_named(patterns: dict[str, int], message: str) -> None:
    request = PreviewRequest(intersections=[TwinIntersection(
        intersection_id="tn-001", geometry=four_leg(), demand=demand(VOLUMES),
        plans={"running": plan("tn-001", EIGHT, cycle_s=100)}, patterns=patterns)], seeds=[1])
    with pytest.raises(TwinError, match=message):
        run_preview(request)


def test_the_step_divides_every_timing_the_plans_run() -> None:
    from controllers.plans.model import PlanV1

    def with_yellow(yellow: float) -> tuple[PlanV1, int | None]:
        document = plan("x", EIGHT, cycle_s=100)
        document["phases"][0]["yellow_s"] = yellow
        return PlanV1.model_validate(document), 1

    assert twin_runner.step_length([with_yellow(3.0)]) == 1.0
    assert twin_runner.step_length([with_yellow(3.0), with_yellow(3.5)]) == 0.5
    assert twin_runner.step_length([with_yellow(3.3)]) == 0.1


def test_a_permissive_left_yields_to_oncoming_traffic() -> None:
    """Lefts timed by their through phase (a left lane beside a through-right lane, a four-phase plan) get SUMO's
    minor green: the westbound left waits for gaps in a heavy eastbound stream, the westbound through does not."""
    from controllers.twin.model import Approach, IntersectionGeometry
    from tests.twin_fixtures import lane

    def approach(leg: str, bearing: float, phase: int) -> Approach:
        return Approach(leg=leg, bearing_deg=bearing, length_m=200, lanes=[lane(L), lane(T, R)],
                        phases={L: phase, T: phase, R: phase})

    geometry = IntersectionGeometry(approaches=[approach("N", 0, 4), approach("E", 90, 6), approach("S", 180, 8),
                                                approach("W", 270, 2)])
    volumes = {("W", T): 900.0, ("E", L): 150.0, ("E", T): 150.0, ("N", T): 100.0, ("S", T): 100.0}
    request = PreviewRequest(intersections=[TwinIntersection(
        intersection_id="p", geometry=geometry, demand=demand(volumes),
        plans={"running": plan("p", {2: 50.0, 4: 30.0, 6: 50.0, 8: 30.0}, cycle_s=80, eight_phases=False)})],
        duration_s=600, warmup_s=120, seeds=[5])
    result = run_preview(request)
    left, through = _movement(result, "running", "E", L), _movement(result, "running", "E", T)
    assert left.vehicles.mean > 10
    assert left.delay_s.mean > through.delay_s.mean + 5


@pytest.mark.parametrize(("start", "warmup_s", "expected"), [
    ("07:00", 300, 7 * 3600 - 300), ("2026-03-02T00:02", 300, 86400 - 180), ("00:00", 0, 0)])
def test_the_offset_is_counted_from_the_local_time_at_the_run_s_start(start: str, warmup_s: int,
                                                                      expected: float) -> None:
    request = _single({"running": plan("tn-001", EIGHT, cycle_s=100)}, start_local=start, warmup_s=warmup_s)
    assert twin_runner.time_of_day_at_start_s(request) == expected


def test_a_start_that_is_not_a_time_is_named() -> None:
    with pytest.raises(TwinError, match="start_local 'soon' is neither HH:MM"):
        run_preview(_single({"running": plan("tn-001", EIGHT, cycle_s=100)}, start_local="soon"))
