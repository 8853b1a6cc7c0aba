"""Demand as a SUMO route file: vehicle types, routes through the network and one flow per route and demand bin.

Pure: the text is the same for every seed; SUMO's `--seed` draws the vehicles (exponential headways: a flow with
`period="exp(rate)"` is a Poisson process of `rate` vehicles per second) and each vehicle's speed factor.

- Vehicle types: SUMO's own models per class (`vClass` motorcycle, passenger, bus, truck), drawn per vehicle with
  the demand's `vehicle_mix` (a `vTypeDistribution`). Motorcycles keep SUMO's motorcycle defaults except the gap
  they leave when stopped (`MOTORCYCLE_MIN_GAP_M`): Vietnamese riders stop nose to tail.
- Time: bin k of the demand covers [warmup + k·bin, warmup + (k+1)·bin); the warm-up runs on bin 0 and the last
  bin repeats when the bins end before the preview does.
- Routes: every movement of an entry approach (a leg not joined to another intersection) starts routes. A route
  that reaches a joined leg carries on with that approach's turning shares (its movement volumes in the bin over
  their sum; equal shares when the approach has no volume) until it leaves the network. So a joined approach's own
  volumes set only its turning shares: its traffic is whatever the upstream intersection sends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controllers.twin.model import Demand, DemandBin, IntersectionGeometry, Movement, MovementVolume, VehicleClass
from controllers.twin.network import JunctionLayout, PlainNetwork

#: A Vietnamese city mix (share of vehicles): motorcycles dominate.
DEFAULT_VEHICLE_MIX: dict[VehicleClass, float] = {
    VehicleClass.MOTORCYCLE: 0.80, VehicleClass.PASSENGER: 0.15, VehicleClass.BUS: 0.02, VehicleClass.TRUCK: 0.03}
#: The default profile's volume of a lane by the movement it makes (vehicles/h), before the bin's factor.
DEFAULT_LANE_VEH_PER_H = {Movement.THROUGH: 500.0, Movement.LEFT: 150.0, Movement.RIGHT: 150.0}
#: The default profile's bins: a 7:00–8:00 morning peak rising and falling (factor per 15-minute bin).
DEFAULT_BIN_FACTORS = (0.8, 1.0, 1.0, 0.9)
MOTORCYCLE_MIN_GAP_M = 1.0
#: Routes rarer than this share of their entry's flow are left out (a corridor's long chains of turns).
_MIN_ROUTE_SHARE = 1e-3
_MAX_ROUTE_JUNCTIONS = 16
#: More flows than this (routes x bins) is refused: SUMO would take minutes just to read them.
MAX_FLOWS = 50_000


@dataclass(frozen=True, slots=True)
class Route:
    """A path through the network: its edges and, per junction crossed, (intersection id, leg, movement)."""

    edges: tuple[str, ...]
    moves: tuple[tuple[str, str, Movement], ...]


def default_demand(geometry: IntersectionGeometry) -> Demand:
    """The default profile for an intersection without measured volumes: each lane carries the largest
    `DEFAULT_LANE_VEH_PER_H` of its movements (a shared lane splits it in the ratio of theirs), times each bin's
    `DEFAULT_BIN_FACTORS`."""
    bins = []
    for factor in DEFAULT_BIN_FACTORS:
        volumes: dict[tuple[str, Movement], float] = {}
        for a in geometry.approaches:
            for lane in a.lanes:
                weights = {m: DEFAULT_LANE_VEH_PER_H[m] for m in lane.movements}
                lane_total = factor * max(weights.values())
                for m, weight in weights.items():
                    volumes[(a.leg, m)] = volumes.get((a.leg, m), 0.0) + lane_total * weight / sum(weights.values())
        bins.append(DemandBin(volumes=[MovementVolume(leg=leg, movement=m, veh_per_h=round(v, 1))
                                       for (leg, m), v in sorted(volumes.items())]))
    return Demand(bins=bins, vehicle_mix=dict(DEFAULT_VEHICLE_MIX), source="default")


def _volumes(b: DemandBin) -> dict[tuple[str, Movement], float]:
    out: dict[tuple[str, Movement], float] = {}
    for v in b.volumes:
        out[(v.leg, v.movement)] = out.get((v.leg, v.movement), 0.0) + v.veh_per_h
    return out


def _shares(j: JunctionLayout, leg: str, volumes: Mapping[tuple[str, Movement], float]) -> dict[Movement, float]:
    movements = [m for (lg, m) in j.movements if lg == leg]
    total = sum(volumes.get((leg, m), 0.0) for m in movements)
    if total <= 0:
        return {m: 1.0 / len(movements) for m in movements}
    return {m: volumes.get((leg, m), 0.0) / total for m in movements}


def routes_for_bin(network: PlainNetwork, volumes: Mapping[str, dict[tuple[str, Movement], float]]
                   ) -> list[tuple[Route, float]]:
    """Every route and its rate (vehicles/h) for one bin; `volumes` maps an intersection id to its bin volumes."""
    by_in_edge = {a.in_edge: (j, a.leg) for j in network.junctions for a in j.approaches.values()}
    out: list[tuple[Route, float]] = []

    def walk(j: JunctionLayout, leg: str, rate: float, share: float, edges: tuple[str, ...],
             moves: tuple[tuple[str, str, Movement], ...]) -> None:
        for movement, s in sorted(_shares(j, leg, volumes[j.intersection_id]).items()):
            if s <= 0:
                continue
            m = j.movements[(leg, movement)]
            path, done = (*edges, m.out_edge), (*moves, (j.intersection_id, leg, movement))
            nxt = by_in_edge.get(m.out_edge)
            if nxt is None or len(done) >= _MAX_ROUTE_JUNCTIONS:
                if share * s >= _MIN_ROUTE_SHARE:
                    out.append((Route(path, done), rate * share * s))
            elif share * s >= _MIN_ROUTE_SHARE:
                walk(nxt[0], nxt[1], rate, share * s, path, done)

    for j in network.junctions:
        for a in j.approaches.values():
            if not a.entry:
                continue
            vol = volumes[j.intersection_id]
            for (leg, movement), m in sorted(j.movements.items()):
                rate = vol.get((leg, movement), 0.0)
                if leg != a.leg or rate <= 0:
                    continue
                nxt = by_in_edge.get(m.out_edge)
                first = Route((a.in_edge, m.out_edge), ((j.intersection_id, leg, movement),))
                if nxt is None:
                    out.append((first, rate))
                else:
                    walk(nxt[0], nxt[1], rate, 1.0, first.edges, first.moves)
    return out


def build_routes(network: PlainNetwork, demands: Mapping[str, Demand], *, warmup_s: int, duration_s: int,
                 bin_s: int) -> tuple[str, dict[str, Route]]:
    """The route file's text and its routes by id. Every intersection's `Demand` gives its bins; the vehicle mix is
    the first intersection's (one fleet drives through a corridor). Raises ValueError past `MAX_FLOWS` flows."""
    mix = next(iter(demands.values())).vehicle_mix
    n_bins = -(-duration_s // bin_s)
    routes: dict[tuple[str, ...], str] = {}
    by_id: dict[str, Route] = {}
    flows: list[str] = []
    for k in range(n_bins):
        begin = 0 if k == 0 else warmup_s + k * bin_s
        end = min(warmup_s + (k + 1) * bin_s, warmup_s + duration_s)
        volumes = {iid: _volumes(d.bins[min(k, len(d.bins) - 1)]) for iid, d in demands.items()}
        for route, veh_per_h in routes_for_bin(network, volumes):
            rid = routes.setdefault(route.edges, f"r{len(routes)}")
            by_id[rid] = route
            if len(flows) >= MAX_FLOWS:
                raise ValueError(f"the demand makes more than {MAX_FLOWS} flows (routes x bins); use longer bins "
                                 f"or fewer intersections")
            flows.append(f'    <flow id="f{rid[1:]}_{k}" route="{rid}" type="mix" begin="{begin}" end="{end}" '
                         f'period="exp({veh_per_h / 3600.0:.6f})" departLane="best" departSpeed="max"/>')
    rows = _vtypes(mix)
    rows += [f'    <route id="{rid}" edges="{" ".join(edges)}"/>' for edges, rid in routes.items()]
    rows += sorted(flows, key=_flow_begin)
    text = '<?xml version="1.0" encoding="UTF-8"?>\n<routes>\n' + "\n".join(rows) + "\n</routes>\n"
    return text, by_id


def _flow_begin(row: str) -> float:
    # SUMO wants flows sorted by departure.
    return float(row.split('begin="', 1)[1].split('"', 1)[0])


def _vtypes(mix: Mapping[VehicleClass, float]) -> list[str]:
    classes: Sequence[VehicleClass] = [c for c in VehicleClass if mix.get(c, 0.0) > 0]
    rows = []
    for c in classes:
        extra = f' minGap="{MOTORCYCLE_MIN_GAP_M}"' if c is VehicleClass.MOTORCYCLE else ""
        rows.append(f'    <vType id="{c.value}" vClass="{c.value}"{extra}/>')
    ids = " ".join(c.value for c in classes)
    probabilities = " ".join(f"{mix[c]:.6f}" for c in classes)
    rows.append(f'    <vTypeDistribution id="mix" vTypes="{ids}" probabilities="{probabilities}"/>')
    return rows
