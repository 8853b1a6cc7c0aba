"""The twin's detectors, as a SUMO additional file: those the controller is actuated by and those the twin measures
with.

- Actuation (lane-area, `e2`): one per `DetectorPlacement` of the geometry, `length_m` long ending `setback_m` before
  the stop bar; an approach with none gets a stop-bar presence detector (`STOP_BAR_LENGTH_M`) on each lane. Each
  calls the phases that give its lane's movements a major green (`phase_detectors`, for the NEMA tlLogic, which
  binds a detector to a phase through its lane); a permissive left is called by its through lane's detector.
- Measuring, per approach lane:
  - a lane-area detector over the whole lane (queue length, halts, time loss of everyone), and one per movement the
    lane makes, counting only the vehicles whose route goes on to that movement's outgoing edge (`nextEdges`);
  - instant loops at the two ends of the stop-bar zone (the lane's stop-bar actuation detector, else
    `STOP_BAR_LENGTH_M`): each vehicle's time in the zone gives the zone's occupancy, as a presence loop would see it
    (ATSPM's split-failure measure);
  - an instant loop upstream (the lane's advance detector when it has one ≥ `MIN_ADVANCE_M` back, else
    `ADVANCE_M` or 80 % of the lane): arrival times projected to the stop bar at the speed limit (ATSPM's arrivals on
    green).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controllers.twin.links import TlsLinks
from controllers.twin.model import IntersectionGeometry, Movement
from controllers.twin.network import PlainNetwork

STOP_BAR_LENGTH_M = 10.0
ADVANCE_M = 100.0
MIN_ADVANCE_M = 30.0
#: Where the measuring detectors write (relative to the run's directory).
AREA_FILE = "e2.xml"
INSTANT_FILE = "instant.xml"


@dataclass(frozen=True, slots=True)
class LanePoints:
    """The measuring detectors of one approach lane and where they sit (m from the lane's start)."""

    lane: str
    length_m: float
    speed_mps: float
    queue: str
    movements: dict[str, str]  # movement value → its lane-area detector id
    zone_start: str
    zone_end: str
    advance: str
    advance_setback_m: float


@dataclass(frozen=True, slots=True)
class Detectors:
    additional_xml: str
    phase_detectors: dict[str, dict[int, tuple[str, ...]]]  # tls id → NEMA phase → actuation detector ids
    detector_lanes: dict[str, str]  # actuation detector id → its lane id
    lanes: dict[str, LanePoints]  # SUMO lane id → its measuring detectors


def build_detectors(network: PlainNetwork, links: Mapping[str, TlsLinks],
                    geometries: Mapping[str, IntersectionGeometry], period_s: int) -> Detectors:
    """The additional file for `network` (with netconvert's lane lengths in `links`); `geometries` maps an
    intersection id to its `IntersectionGeometry`; `period_s` is the measuring lane-area detectors' interval."""
    rows: list[str] = []
    phase_detectors: dict[str, dict[int, tuple[str, ...]]] = {}
    detector_lanes: dict[str, str] = {}
    lanes: dict[str, LanePoints] = {}
    for j in network.junctions:
        geometry = geometries[j.intersection_id]
        lengths = links[j.tls_id].lane_length_m
        calls: dict[int, list[str]] = {}
        for approach in geometry.approaches:
            layout = j.approaches[approach.leg]
            lane_movements = [sorted(m.value for m in lane.movements) for lane in approach.lanes]
            for i, lane_id in enumerate(layout.lanes):
                length = lengths[lane_id]
                own = [d for d in approach.detectors if d.lane == i]
                act = [(f"act_{lane_id}_{d.channel}", d.setback_m, d.length_m) for d in own]
                if not approach.detectors:
                    act = [(f"act_{lane_id}", 0.0, STOP_BAR_LENGTH_M)]
                for k, (det_id, setback, det_length) in enumerate(sorted(act, key=lambda a: a[1])):
                    end = max(0.1, length - setback - 0.1)
                    start = max(0.0, end - det_length)
                    rows.append(f'    <laneAreaDetector id="{det_id}" lane="{lane_id}" pos="{start:.2f}" '
                                f'endPos="{end:.2f}" file="NUL" friendlyPos="true"/>')
                    if k:   # SUMO's NEMA controller reads one detector per lane: the one nearest the stop bar calls
                        continue
                    detector_lanes[det_id] = lane_id
                    for movement in approach.lanes[i].movements:
                        if not j.movements[(approach.leg, movement)].permissive:
                            calls.setdefault(approach.phases[movement], []).append(det_id)
                stop_bar = [d for _, s, d in act if s < 1.0]
                zone = min(length - 0.2, stop_bar[0] if stop_bar else STOP_BAR_LENGTH_M)
                advanced = [s for _, s, _ in act if s >= MIN_ADVANCE_M and s < length - 1.0]
                setback = advanced[0] if advanced else min(ADVANCE_M, 0.8 * length)
                points = LanePoints(
                    lane=lane_id, length_m=length, speed_mps=layout.speed_mps, queue=f"q_{lane_id}",
                    movements={m: f"m_{lane_id}_{m}" for m in lane_movements[i]},
                    zone_start=f"za_{lane_id}", zone_end=f"zb_{lane_id}",
                    advance=f"adv_{lane_id}", advance_setback_m=setback)
                lanes[lane_id] = points
                rows.append(f'    <laneAreaDetector id="{points.queue}" lane="{lane_id}" pos="0" '
                            f'endPos="{length - 0.1:.2f}" period="{period_s}" file="{AREA_FILE}"/>')
                for movement_value, det_id in points.movements.items():
                    out_edge = j.movements[(approach.leg, Movement(movement_value))].out_edge
                    rows.append(f'    <laneAreaDetector id="{det_id}" lane="{lane_id}" pos="0" '
                                f'endPos="{length - 0.1:.2f}" period="{period_s}" file="{AREA_FILE}" '
                                f'nextEdges="{out_edge}"/>')
                for det_id, pos in ((points.zone_start, length - zone), (points.zone_end, length - 0.1),
                                    (points.advance, length - setback)):
                    rows.append(f'    <instantInductionLoop id="{det_id}" lane="{lane_id}" pos="{pos:.2f}" '
                                f'file="{INSTANT_FILE}"/>')
        phase_detectors[j.tls_id] = {p: tuple(dict.fromkeys(ids)) for p, ids in sorted(calls.items())}
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n<additional>\n' + "\n".join(rows) + "\n</additional>\n"
    return Detectors(additional_xml=xml, phase_detectors=phase_detectors, detector_lanes=detector_lanes, lanes=lanes)

