"""An intersection's (or a corridor's) geometry as SUMO plain XML: nodes, edges with lanes and speeds, and one
connection per lane and movement, for `netconvert` to build the network from.

Pure: returns XML text and a `NetworkLayout` saying which SUMO edge and lane is which leg, lane and movement.

Shape of the generated network:
- each intersection is a node `J<k>` (k its index in the request) of type `traffic_light`, whose tls id is the same;
- each leg has an incoming edge (`J<k>_<leg>_in`, the approach, its lanes as in the geometry) and an outgoing edge
  (`J<k>_<leg>_out`, as many lanes as the approach: a road is taken to be symmetric), both `length_m` long, ending at
  a dead-end node `J<k>_<leg>_end`;
- a `CorridorLink` replaces the two edges of the two legs it joins by two shared edges between the nodes,
  `distance_m` long: the road leaving `from_id` along `from_leg` is the approach of `to_id` on `to_leg`, and back.
- a movement's destination leg comes from the bearings: the vehicle's turn (its heading out minus its heading in)
  is through within ±45°, a right turn beyond +45° and a left turn beyond −45° (compass angles, right-hand traffic);
  of several candidate legs the one nearest 0°, +90° or −90° is taken.
SUMO numbers lanes from the curb (0) while the geometry numbers them from the median (0), hence `ApproachLayout.lanes`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from controllers.twin.model import CorridorLink, IntersectionGeometry, Movement

#: Canonical turn of each movement, compass degrees (right-hand traffic: a right turn is clockwise).
_CANONICAL_TURN = {Movement.THROUGH: 0.0, Movement.RIGHT: 90.0, Movement.LEFT: -90.0}
#: Unlinked intersections of one request are laid out this far apart (metres) so their roads never touch.
_SPACING_M = 10_000.0


class NetworkError(ValueError):
    """The geometry (or the corridor's links) cannot be made into a network; the message says where."""


@dataclass(frozen=True, slots=True)
class ApproachLayout:
    """One leg in SUMO terms. `lanes[i]` is the SUMO lane id of geometry lane i (0 = median); `entry` is True when
    traffic enters the network here (the leg is not joined to another intersection)."""

    leg: str
    in_edge: str
    out_edge: str
    lanes: tuple[str, ...]
    length_m: float
    speed_mps: float
    entry: bool


@dataclass(frozen=True, slots=True)
class MovementLayout:
    """A movement of an approach: where it goes, which phase serves it, from which lanes (geometry indexes), and
    whether that phase serves it permissively (a left turn timed by the through phase yields to oncoming traffic)."""

    leg: str
    movement: Movement
    to_leg: str
    out_edge: str
    phase: int
    lanes: tuple[int, ...]
    permissive: bool


@dataclass(frozen=True, slots=True)
class JunctionLayout:
    intersection_id: str
    tls_id: str
    approaches: dict[str, ApproachLayout]
    movements: dict[tuple[str, Movement], MovementLayout]


@dataclass(frozen=True, slots=True)
class PlainNetwork:
    """The plain XML files for netconvert and what each SUMO id stands for."""

    nodes_xml: str
    edges_xml: str
    connections_xml: str
    junctions: tuple[JunctionLayout, ...]

    def junction(self, intersection_id: str) -> JunctionLayout:
        return next(j for j in self.junctions if j.intersection_id == intersection_id)

    def edge_owner(self) -> dict[str, tuple[str, str]]:
        """Approach edge id → (intersection id, leg)."""
        return {a.in_edge: (j.intersection_id, a.leg) for j in self.junctions for a in j.approaches.values()}


def turn_deg(in_bearing_deg: float, out_bearing_deg: float) -> float:
    """The turn, in (−180, 180], of a vehicle arriving on the leg with bearing `in_bearing_deg` (pointing away from
    the centre) and leaving on the leg with bearing `out_bearing_deg`. Positive is a right turn."""
    heading_in = (in_bearing_deg + 180.0) % 360.0
    turn = (out_bearing_deg - heading_in) % 360.0
    return turn - 360.0 if turn > 180.0 else turn


def _classify(turn: float) -> Movement:
    if abs(turn) <= 45.0:
        return Movement.THROUGH
    return Movement.RIGHT if turn > 0 else Movement.LEFT


def destinations(geometry: IntersectionGeometry) -> dict[tuple[str, Movement], str]:
    """(leg, movement) → the leg the movement leaves on, for every movement a lane of the geometry makes.
    Raises NetworkError naming the approach and movement that has no leg to go to."""
    out: dict[tuple[str, Movement], str] = {}
    for a in geometry.approaches:
        used = {m for lane in a.lanes for m in lane.movements}
        for movement in sorted(used):
            candidates = [(abs(turn_deg(a.bearing_deg, b.bearing_deg) - _CANONICAL_TURN[movement]), b.leg)
                          for b in geometry.approaches
                          if b.leg != a.leg and _classify(turn_deg(a.bearing_deg, b.bearing_deg)) == movement]
            if not candidates:
                bearings = ", ".join(f"{b.leg}={b.bearing_deg:g}" for b in geometry.approaches)
                raise NetworkError(f"approach {a.leg}: no leg to take its {movement.value} movement to "
                                   f"(legs' bearings: {bearings})")
            out[(a.leg, movement)] = min(candidates)[1]
    return out


def _check_links(ids: Sequence[str], geometries: Sequence[IntersectionGeometry],
                 links: Sequence[CorridorLink]) -> dict[tuple[int, str], tuple[int, str, float]]:
    """(intersection index, leg) → (the joined intersection's index, its leg, distance), both directions."""
    index = {iid: k for k, iid in enumerate(ids)}
    joined: dict[tuple[int, str], tuple[int, str, float]] = {}
    for n, link in enumerate(links):
        where = f"link {n} ({link.from_id}.{link.from_leg} → {link.to_id}.{link.to_leg})"
        for iid in (link.from_id, link.to_id):
            if iid not in index:
                raise NetworkError(f"{where}: intersection {iid} is not in the preview")
        a, b = index[link.from_id], index[link.to_id]
        if a == b:
            raise NetworkError(f"{where}: joins an intersection to itself")
        for k, leg in ((a, link.from_leg), (b, link.to_leg)):
            if leg not in {ap.leg for ap in geometries[k].approaches}:
                raise NetworkError(f"{where}: intersection {ids[k]} has no leg {leg}")
            if (k, leg) in joined:
                raise NetworkError(f"{where}: leg {leg} of {ids[k]} is already joined by another link")
        joined[(a, link.from_leg)] = (b, link.to_leg, link.distance_m)
        joined[(b, link.to_leg)] = (a, link.from_leg, link.distance_m)
    return joined


def _positions(geometries: Sequence[IntersectionGeometry],
               joined: dict[tuple[int, str], tuple[int, str, float]]) -> list[tuple[float, float]]:
    """Centres: breadth first along the links (the next centre `distance_m` away along the leaving leg's bearing);
    each group of unlinked intersections starts `_SPACING_M` east of the last."""
    pos: dict[int, tuple[float, float]] = {}
    for start in range(len(geometries)):
        if start in pos:
            continue
        pos[start] = (_SPACING_M * len(pos), 0.0)
        todo = deque([start])
        while todo:
            k = todo.popleft()
            bearings = {a.leg: a.bearing_deg for a in geometries[k].approaches}
            for (here, leg), (there, _, dist) in sorted(joined.items()):
                if here == k and there not in pos:
                    rad = math.radians(bearings[leg])
                    pos[there] = (pos[k][0] + dist * math.sin(rad), pos[k][1] + dist * math.cos(rad))
                    todo.append(there)
    return [pos[k] for k in range(len(geometries))]


def _connections(geometry: IntersectionGeometry, dests: dict[tuple[str, Movement], str],
                 in_edges: dict[str, str], out_edges: dict[str, str],
                 out_lanes: dict[str, int]) -> list[str]:
    """One `<connection>` per (lane, movement): the k-th lane of a movement counted from its own side (curb for
    right and through, median for left) goes to the k-th lane of the destination from the same side."""
    rows: list[str] = []
    for a in geometry.approaches:
        n = len(a.lanes)
        for movement in (Movement.RIGHT, Movement.THROUGH, Movement.LEFT):
            sumo_lanes = sorted(n - 1 - i for i, lane in enumerate(a.lanes) if movement in lane.movements)
            if not sumo_lanes:
                continue
            to_leg = dests[(a.leg, movement)]
            width = out_lanes[to_leg]
            if movement is Movement.LEFT:
                sumo_lanes.reverse()  # median first
            for k, from_lane in enumerate(sumo_lanes):
                slot = min(k, width - 1)
                to_lane = width - 1 - slot if movement is Movement.LEFT else slot
                rows.append(f'    <connection from="{in_edges[a.leg]}" to="{out_edges[to_leg]}" '
                            f'fromLane="{from_lane}" toLane="{to_lane}"/>')
    return rows


def build_network(intersections: Sequence[tuple[str, IntersectionGeometry]],
                  links: Sequence[CorridorLink] = ()) -> PlainNetwork:
    """Plain XML for netconvert from each (intersection id, geometry) and the links joining them.
    Raises NetworkError on a link to an unknown intersection or leg, a leg joined twice, or a movement with no
    destination leg."""
    ids = [iid for iid, _ in intersections]
    geometries = [g for _, g in intersections]
    joined = _check_links(ids, geometries, links)
    dests = [destinations(g) for g in geometries]
    centres = _positions(geometries, joined)
    nodes = [f'    <node id="J{k}" x="{x:.2f}" y="{y:.2f}" type="traffic_light" tl="J{k}"/>'
             for k, (x, y) in enumerate(centres)]
    edges: list[str] = []
    in_edges: list[dict[str, str]] = [{} for _ in geometries]
    out_edges: list[dict[str, str]] = [{} for _ in geometries]
    for k, g in enumerate(geometries):
        for a in g.approaches:
            out_edges[k][a.leg] = f"J{k}_{a.leg}_out"
            if (k, a.leg) in joined:
                there, there_leg, _ = joined[(k, a.leg)]
                in_edges[k][a.leg] = f"J{there}_{there_leg}_out"
            else:
                in_edges[k][a.leg] = f"J{k}_{a.leg}_in"
    layouts: list[JunctionLayout] = []
    connections: list[str] = []
    for k, g in enumerate(geometries):
        cx, cy = centres[k]
        approaches: dict[str, ApproachLayout] = {}
        out_lanes: dict[str, int] = {}
        for a in g.approaches:
            speed = a.speed_kph / 3.6
            link = joined.get((k, a.leg))
            if link is None:
                end = f"J{k}_{a.leg}_end"
                rad = math.radians(a.bearing_deg)
                nodes.append(f'    <node id="{end}" x="{cx + a.length_m * math.sin(rad):.2f}" '
                             f'y="{cy + a.length_m * math.cos(rad):.2f}" type="dead_end"/>')
                edges.append(f'    <edge id="{in_edges[k][a.leg]}" from="{end}" to="J{k}" numLanes="{len(a.lanes)}" '
                             f'speed="{speed:.3f}" length="{a.length_m:.2f}"/>')
                edges.append(f'    <edge id="{out_edges[k][a.leg]}" from="J{k}" to="{end}" '
                             f'numLanes="{len(a.lanes)}" speed="{speed:.3f}" length="{a.length_m:.2f}"/>')
                out_lanes[a.leg] = len(a.lanes)
                length = a.length_m
            else:
                there, there_leg, dist = link
                there_approach = next(b for b in geometries[there].approaches if b.leg == there_leg)
                # The road from here to there is there's approach: its lanes, and there's speed on it.
                edges.append(f'    <edge id="{out_edges[k][a.leg]}" from="J{k}" to="J{there}" '
                             f'numLanes="{len(there_approach.lanes)}" speed="{there_approach.speed_kph / 3.6:.3f}" '
                             f'length="{dist:.2f}"/>')
                out_lanes[a.leg] = len(there_approach.lanes)
                length = dist
            n = len(a.lanes)
            approaches[a.leg] = ApproachLayout(
                leg=a.leg, in_edge=in_edges[k][a.leg], out_edge=out_edges[k][a.leg],
                lanes=tuple(f"{in_edges[k][a.leg]}_{n - 1 - i}" for i in range(n)),
                length_m=length, speed_mps=speed, entry=link is None)
        movements: dict[tuple[str, Movement], MovementLayout] = {}
        for a in g.approaches:
            for (leg, movement), to_leg in dests[k].items():
                if leg != a.leg:
                    continue
                phase = a.phases[movement]
                movements[(leg, movement)] = MovementLayout(
                    leg=leg, movement=movement, to_leg=to_leg, out_edge=out_edges[k][to_leg], phase=phase,
                    lanes=tuple(i for i, lane in enumerate(a.lanes) if movement in lane.movements),
                    permissive=movement is Movement.LEFT and a.phases.get(Movement.THROUGH) == phase)
        layouts.append(JunctionLayout(intersection_id=ids[k], tls_id=f"J{k}", approaches=approaches,
                                      movements=movements))
        connections.extend(_connections(g, dests[k], in_edges[k], out_edges[k], out_lanes))
    return PlainNetwork(nodes_xml=_xml("nodes", nodes), edges_xml=_xml("edges", edges),
                        connections_xml=_xml("connections", connections), junctions=tuple(layouts))


def _xml(root: str, rows: Sequence[str]) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n' + "\n".join(rows) + f"\n</{root}>\n"

