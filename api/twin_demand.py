"""The twin's demand from the measured volumes: detector counts (ATSPM `actuations`, 15-minute bins) mapped to each
approach's movements through the geometry's detector placements; a default profile where nothing is measured.

What is chosen, and why:
- **Which bins.** For a preview starting at local time T (floored to a 15-minute edge) and lasting D, bin k is the
  mean of the counts at T + k·15 min on the *same weekday* of the last `weeks` weeks (T − 7 d, T − 14 d, …): traffic
  repeats weekly, a single day is noisy, and a week that has no count for that bin is left out of its mean.
- **Which detector counts a lane.** Each lane takes one placed detector: a stop-bar count detector if it has one,
  else an advance detector, else a stop-bar presence loop (its actuations undercount a standing queue). Its
  `Total` per 15 minutes × 4 is the lane's veh/h.
- **Lane to movements.** A lane making one movement gives it all; a shared lane splits by the default turning
  shares (left 20 %, through 65 %, right 15 %, renormalised over the movements it makes): detectors do not see turns.
- **Lanes without a count** (no detector placed, or no count stored) take the default profile. `source` says
  `measured` (every lane counted), `partial` (some) or `default` (none).
- **Vehicle mix.** Loops count vehicles, not classes: the mix is always the default urban Vietnamese mix (mostly
  motorcycles), see `DEFAULT_MIX`.
- **Default profile.** Per lane: 360 veh/h in the peaks (06:30–08:30, 16:30–18:30), 240 by day, 80 at night
  (22:00–05:00): round figures that load a two-lane approach of a four-leg intersection near, not beyond, what
  a 90–120 s plan serves in the twin (SUMO's motorcycles take a lane slot each: it has no lane sharing here), so
  that plans differ visibly; not a calibration.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import DetectorConfig, MeasureBin
from controllers.twin.model import (
    Demand,
    DemandBin,
    IntersectionGeometry,
    Movement,
    MovementVolume,
    VehicleClass,
)

log = logging.getLogger(__name__)

BIN_S = 900
MAX_VEH_PER_H = 5000.0
DEFAULT_MIX: dict[VehicleClass, float] = {VehicleClass.MOTORCYCLE: 0.80, VehicleClass.PASSENGER: 0.15,
                                          VehicleClass.BUS: 0.02, VehicleClass.TRUCK: 0.03}
TURN_SHARE: dict[Movement, float] = {Movement.LEFT: 0.20, Movement.THROUGH: 0.65, Movement.RIGHT: 0.15}
#: Which detector type counts a lane, best first (`api.measures.DETECTOR_TYPES`).
COUNT_PREFERENCE = ("stop_bar_count", "advance", "stop_bar")
PEAKS = ((time(6, 30), time(8, 30)), (time(16, 30), time(18, 30)))


def default_lane_veh_per_h(at: time) -> float:
    """The default profile's flow of one lane at local time `at` (veh/h)."""
    if any(a <= at < b for a, b in PEAKS):
        return 360.0
    if at >= time(22) or at < time(5):
        return 80.0
    return 240.0


@dataclass(frozen=True, slots=True)
class LaneCounter:
    leg: str
    lane: int
    movements: tuple[Movement, ...]
    channel: int | None


def lane_counters(geometry: IntersectionGeometry, detector_types: Mapping[int, set[str]]) -> list[LaneCounter]:
    """Each lane with the channel that counts it (None: no usable detector placed on it)."""
    out = []
    for approach in geometry.approaches:
        for index, lane in enumerate(approach.lanes):
            best: tuple[int, int] | None = None
            for placement in approach.detectors:
                types = detector_types.get(placement.channel)
                if placement.lane != index or not types:
                    continue
                rank = min((COUNT_PREFERENCE.index(t) for t in types if t in COUNT_PREFERENCE), default=None)
                if rank is not None and (best is None or rank < best[0]):
                    best = (rank, placement.channel)
            movements = tuple(m for m in Movement if m in lane.movements)
            out.append(LaneCounter(approach.leg, index, movements, best[1] if best else None))
    return out


def build_demand(geometry: IntersectionGeometry, counters: Sequence[LaneCounter], start_local: datetime,
                 n_bins: int, counts: Mapping[tuple[int, int], list[float]]) -> Demand:
    """The demand of `n_bins` bins from `start_local`: `counts[(bin, channel)]` are the 15-minute totals of that
    bin in the weeks that have one (empty or missing: not measured)."""
    bins = []
    measured: set[int] = set()
    for k in range(n_bins):
        at = (start_local + timedelta(seconds=k * BIN_S)).time()
        flows: dict[tuple[str, Movement], float] = {}
        for i, c in enumerate(counters):
            samples = counts.get((k, c.channel), []) if c.channel is not None else []
            if samples:
                lane_flow = sum(samples) / len(samples) * 3600 / BIN_S
                measured.add(i)
            else:
                lane_flow = default_lane_veh_per_h(at)
            total_share = sum(TURN_SHARE[m] for m in c.movements)
            for m in c.movements:
                key = (c.leg, m)
                flows[key] = flows.get(key, 0.0) + lane_flow * TURN_SHARE[m] / total_share
        bins.append(DemandBin(volumes=[MovementVolume(leg=leg, movement=m, veh_per_h=round(min(v, MAX_VEH_PER_H), 1))
                                       for (leg, m), v in flows.items()]))
    source = "measured" if len(measured) == len(counters) else "partial" if measured else "default"
    return Demand(bins=bins, vehicle_mix=DEFAULT_MIX, source=source)


async def measured_demand(session: AsyncSession, intersection_id: str, geometry: IntersectionGeometry,
                          start_local: datetime, duration_s: int, weeks: int) -> Demand:
    """The intersection's demand for a preview starting at `start_local` (aware, local time) lasting `duration_s`:
    the same-weekday mean of the last `weeks` weeks of stored counts, the default profile where none."""
    n_bins = max(1, -(-duration_s // BIN_S))
    detector_types: dict[int, set[str]] = {}
    for row in (await session.execute(select(DetectorConfig).where(
            DetectorConfig.intersection_id == intersection_id))).scalars():
        detector_types.setdefault(row.channel, set()).add(row.type)
    counters = lane_counters(geometry, detector_types)
    placed = {p.channel for a in geometry.approaches for p in a.detectors}
    gone = sorted(placed - detector_types.keys())
    if gone:
        log.info("twin_demand_placements_unconfigured intersection=%s channels=%s", intersection_id, gone)
    channels = {c.channel for c in counters if c.channel is not None}
    counts: dict[tuple[int, int], list[float]] = {}
    if channels:
        wanted: dict[datetime, int] = {}
        for k in range(n_bins):
            for w in range(1, weeks + 1):
                wanted[start_local + timedelta(seconds=k * BIN_S) - timedelta(weeks=w)] = k
        rows = await session.execute(select(MeasureBin.bin_start, MeasureBin.detector, MeasureBin.values).where(
            MeasureBin.intersection_id == intersection_id, MeasureBin.measure == "actuations",
            MeasureBin.detector.in_(sorted(channels)), MeasureBin.bin_start.in_(list(wanted))))
        index = {ts.timestamp(): k for ts, k in wanted.items()}
        for bin_start, detector, values in rows:
            total = values.get("Total") if isinstance(values, dict) else None
            k_found = index.get(bin_start.timestamp())
            if k_found is not None and detector is not None and isinstance(total, int | float):
                counts.setdefault((k_found, detector), []).append(float(total))
    return build_demand(geometry, counters, start_local, n_bins, counts)


def sources(demands: Iterable[tuple[str, Demand]]) -> dict[str, str]:
    return {name: d.source for name, d in demands}
