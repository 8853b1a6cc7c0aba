"""How fast the plan-preview twin runs: simulated seconds per wall second for one intersection and for a corridor of
`--corridor` intersections, each against the same network run with no vehicles (same runner, SUMO start-up,
NEMA controller, detectors and output reading, in the same process: the baseline).

    python -m benchmarks.twin [--duration 3600] [--warmup 300] [--seeds 2] [--corridor 5]

Demand: the single intersection is a four-leg crossing (left lane + through-right lane per leg) at the default
profile's volumes (~ 2,800 veh/h, 80 % motorcycles); the corridor is an E-W arterial of two through lanes with
900 veh/h entering at each end and 300 veh/h on every side street, intersections 400 m apart, coordinated
(90 s cycle, offsets for an eastbound progression). Time is measured by the runner around each SUMO process and
the reading of its outputs (`PreviewResult.simulated_s_per_wall_s`), and around the whole preview.
The last line is `RESULT twin ...`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from api.twin_runner import run_preview
from benchmarks.common import result_line
from controllers.twin.demand import default_demand
from controllers.twin.model import CorridorLink, Demand, DemandBin, PreviewRequest, TwinIntersection
from tests.twin_fixtures import EIGHT_PHASE_SPLITS, T, arterial_node, demand, four_leg, plan


def _empty(d: Demand) -> Demand:
    return Demand(bins=[DemandBin(volumes=[])], vehicle_mix=d.vehicle_mix, source="empty")


def single(args: argparse.Namespace, loaded: bool) -> PreviewRequest:
    geometry = four_leg()
    d = default_demand(geometry)
    return PreviewRequest(intersections=[TwinIntersection(
        intersection_id="bench-1", geometry=geometry, demand=d if loaded else _empty(d),
        plans={"running": plan("bench-1", EIGHT_PHASE_SPLITS, cycle_s=100)})],
        duration_s=args.duration, warmup_s=args.warmup, seeds=list(range(1, args.seeds + 1)))


def corridor(args: argparse.Namespace, loaded: bool) -> PreviewRequest:
    n = args.corridor
    splits = {2: 45.0, 4: 45.0, 6: 45.0, 8: 45.0}
    nodes = []
    for k in range(n):
        volumes: dict[Any, float] = {("N", T): 300.0, ("S", T): 300.0, ("E", T): 200.0, ("W", T): 200.0}
        if k == 0:
            volumes[("W", T)] = 900.0
        if k == n - 1:
            volumes[("E", T)] = 900.0
        d = demand(volumes)
        iid = f"bench-{k + 1}"
        nodes.append(TwinIntersection(intersection_id=iid, geometry=arterial_node(), demand=d if loaded else _empty(d),
                                      plans={"running": plan(iid, splits, cycle_s=90, offset_s=(29 * k) % 90,
                                                             eight_phases=False)}))
    links = [CorridorLink(from_id=f"bench-{k + 1}", from_leg="E", to_id=f"bench-{k + 2}", to_leg="W", distance_m=400)
             for k in range(n - 1)]
    return PreviewRequest(intersections=nodes, links=links, duration_s=args.duration, warmup_s=args.warmup,
                          seeds=list(range(1, args.seeds + 1)))


def measure(request: PreviewRequest) -> tuple[float, float, float]:
    """(simulated s per wall s of the runs, the same over the whole preview, stop-bar crossings per run)"""
    started = time.perf_counter()
    result = run_preview(request)
    whole = time.perf_counter() - started
    simulated = (request.warmup_s + request.duration_s) * len(request.seeds) * len(result.variants)
    vehicles = sum(a.vehicles.mean for v in result.variants for x in v.intersections for a in x.approaches)
    vehicles /= len(result.variants)
    return result.simulated_s_per_wall_s, simulated / whole, vehicles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=3600)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--corridor", type=int, default=5)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for name, build in (("single", single), (f"corridor{args.corridor}", corridor)):
        runs, whole, vehicles = measure(build(args, loaded=True))
        base_runs, base_whole, _ = measure(build(args, loaded=False))
        print(f"{name}: {runs:.0f} simulated s per wall s ({whole:.0f} over the whole preview), {vehicles:.0f} "
              f"stop-bar crossings per run; with no vehicles {base_runs:.0f} ({base_whole:.0f}); "
              f"ratio {runs / base_runs:.3f}")
        figures |= {f"{name}_sim_s_per_wall_s": runs, f"{name}_empty_sim_s_per_wall_s": base_runs,
                    f"{name}_ratio": runs / base_runs, f"{name}_preview_sim_s_per_wall_s": whole}
    print(result_line("twin", duration_s=args.duration, seeds=args.seeds, **figures))


if __name__ == "__main__":
    main()
