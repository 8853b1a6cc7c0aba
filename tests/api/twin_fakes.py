"""Fake preview runners (our `run_preview` interface), run by the real worker process in the API's tests.

`run_figures` answers from the request alone: each movement's delay grows with its demand and the plan's cycle
(so a candidate with another cycle differs), the spread across seeds is the seed; it reports progress per
variant × seed, like the real runner. The others fail as the real runner's errors do (matched by class name) or block
until killed."""

from __future__ import annotations

import threading
from collections.abc import Callable

from controllers.twin.model import (
    IntersectionFigures,
    MovementFigures,
    PreviewRequest,
    PreviewResult,
    Spread,
    VariantFigures,
)


class TwinUnavailable(Exception):
    pass


class TwinError(Exception):
    pass


def _spread(values: list[float]) -> Spread:
    return Spread(mean=sum(values) / len(values), low=min(values), high=max(values), n=len(values))


def run_figures(request: PreviewRequest, *, progress: Callable[[float], None] | None = None) -> PreviewResult:
    variants = sorted(request.intersections[0].plans)
    steps, done = len(variants) * len(request.seeds), 0
    out = []
    for variant in variants:
        per_int = []
        for inter in request.intersections:
            cycle = max(p["cycle_s"] for p in inter.plans[variant]["patterns"])
            movements = []
            for v in inter.demand.bins[0].volumes:
                delays = [v.veh_per_h / 20 + cycle / 4 + seed for seed in request.seeds]
                movements.append(MovementFigures(
                    leg=v.leg, movement=v.movement, delay_s=_spread(delays), stops_per_veh=_spread([0.5, 0.6]),
                    max_queue_m=_spread([cycle / 2]), arrivals_on_green=_spread([0.4]),
                    split_failures=_spread([1.0]), vehicles=_spread([v.veh_per_h])))
            approaches = [m.model_copy(update={"movement": None}) for m in {m.leg: m for m in movements}.values()]
            per_int.append(IntersectionFigures(intersection_id=inter.intersection_id, approaches=approaches,
                                               movements=movements))
        for _ in request.seeds:
            done += 1
            if progress:
                progress(done / steps)
        out.append(VariantFigures(variant=variant, intersections=per_int))
    return PreviewResult(variants=out, seeds=request.seeds, duration_s=request.duration_s, sumo_version="fake",
                         simulated_s_per_wall_s=1000.0)


def run_error(request: PreviewRequest, *, progress: Callable[[float], None] | None = None) -> PreviewResult:
    raise TwinError("netconvert refused the network: lane 3 of leg N has no connection")


def run_unavailable(request: PreviewRequest, *, progress: Callable[[float], None] | None = None) -> PreviewResult:
    raise TwinUnavailable("SUMO is not installed: pip install 'signalight[twin]'")


def run_blocking(request: PreviewRequest, *, progress: Callable[[float], None] | None = None) -> PreviewResult:
    if progress:
        progress(0.25)
    threading.Event().wait()  # until the API kills this worker process
    raise AssertionError("unreachable")
