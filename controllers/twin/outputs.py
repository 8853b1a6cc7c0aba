"""SUMO's outputs of one run → measures of effectiveness per approach and movement; several runs → their spread.

Pure: the caller passes the files' bytes. Only what happens in the measured window [warm-up, end) counts.

- vehicles: those crossing the stop bar (the front passing the instant loop at the stop bar), each given its
  movement by its route (a flow's vehicle id is `<flow id>.<n>`, the flow names its route);
- delay (s/veh): the time loss SUMO's lane-area detectors record on the approach lanes (time spent below the
  vehicle's desired speed, up to the stop bar; the acceleration beyond it is not counted) over the vehicles that
  were on them (those that crossed the stop bar, or entered the lanes when more did: a saturated approach);
  a movement's comes from the detectors that count only the vehicles routed on to its outgoing edge;
- stops (per vehicle): the halts those detectors saw start (below 1.39 m/s for over 1 s; a vehicle creeping up
  in a queue may halt twice);
- max queue (m): the longest jam on the approach's (or the movement's) lanes, measured from the stop bar;
- arrivals on green (share): as ATSPM computes it, the arrival at the advance loop projected to the stop bar at the
  speed limit, on green (`G` or permissive `g`) of the movement's links;
- split failures (count): ATSPM's, per phase of the approach: a green whose stop-bar zone occupancy is ≥ 79 % both
  over the green and over the first 5 s of the red that follows its yellow. Occupancy is the share of time at least
  one vehicle is in the zone of one of the phase's lanes (from each vehicle's front entering the zone to its rear
  leaving it at the stop bar).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from controllers.twin.demand import Route
from controllers.twin.detectors import Detectors
from controllers.twin.links import TlsLinks
from controllers.twin.model import IntersectionFigures, Movement, MovementFigures, Spread
from controllers.twin.network import PlainNetwork

SPLIT_FAILURE_OCCUPANCY = 0.79
RED_WINDOW_S = 5.0
#: (intersection id, leg, movement); movement None stands for the whole approach.
Key = tuple[str, str, Movement | None]
FIGURES = ("delay_s", "stops_per_veh", "max_queue_m", "arrivals_on_green", "split_failures", "vehicles")


class OutputError(ValueError):
    """A SUMO output file could not be read."""


@dataclass(frozen=True, slots=True)
class RunSetup:
    network: PlainNetwork
    links: Mapping[str, TlsLinks]
    detectors: Detectors
    routes: Mapping[str, Route]
    warmup_s: float
    end_s: float


def _elements(data: bytes, tag: str, what: str) -> Iterator[ET.Element]:
    try:
        for _, element in ET.iterparse(io.BytesIO(data)):
            if element.tag == tag:
                yield element
            element.clear()
    except ET.ParseError as exc:
        raise OutputError(f"SUMO's {what} output is not readable XML: {exc}") from exc


def _move_of(setup: RunSetup, veh_id: str, iid: str, leg: str) -> Movement | None:
    flow = veh_id.partition(".")[0]
    route = setup.routes.get("r" + flow[1:].partition("_")[0]) if flow.startswith("f") else None
    if route is None:
        return None
    return next((m for i, lg, m in route.moves if i == iid and lg == leg), None)


def _signal(states: Sequence[tuple[float, str]], links: Sequence[int], end_s: float
            ) -> list[tuple[float, float, float]]:
    """(green start, green end, red start) of `links` taken together: green while any is G or g, red once all are
    r after the green (the yellow between)."""
    out: list[tuple[float, float, float]] = []
    green_start: float | None = None
    green_end: float | None = None
    for t, state in states:
        chars = {state[i] for i in links if i < len(state)}
        status = "G" if chars & {"G", "g"} else ("y" if chars & {"y", "Y"} else "r")
        if status == "G" and green_start is None:
            green_start, green_end = t, None
        elif status != "G" and green_start is not None and green_end is None:
            green_end = t
        if status == "r" and green_start is not None and green_end is not None:
            out.append((green_start, green_end, t))
            green_start = green_end = None
    if green_start is not None:
        out.append((green_start, green_end if green_end is not None else end_s, end_s))
    return out


def _occupancy(presence: Sequence[tuple[float, float]], a: float, b: float) -> float:
    """Share of [a, b) covered by the union of the presence intervals."""
    if b <= a:
        return 0.0
    covered, reach = 0.0, a
    for s, e in sorted((max(s, a), min(e, b)) for s, e in presence if e > a and s < b):
        if e > reach:
            covered += e - max(s, reach)
            reach = e
    return covered / (b - a)


def run_figures(setup: RunSetup, area_xml: bytes, instant_xml: bytes, tls_xml: bytes) -> dict[Key, dict[str, float]]:
    """Figures of one run, per (intersection, leg, movement) and per (intersection, leg, None)."""
    w0, w1 = setup.warmup_s, setup.end_s
    lane_home = {lane: (j, a.leg) for j in setup.network.junctions for a in j.approaches.values() for lane in a.lanes}
    det_lane: dict[str, tuple[str, Movement | None]] = {}
    instant: dict[str, tuple[str, str]] = {}
    for lane, p in setup.detectors.lanes.items():
        det_lane[p.queue] = (lane, None)
        det_lane.update({d: (lane, Movement(m)) for m, d in p.movements.items()})
        instant.update({p.zone_start: (lane, "zs"), p.zone_end: (lane, "ze"), p.advance: (lane, "adv")})

    loss: dict[Key, float] = {}
    halts: dict[Key, float] = {}
    entered: dict[Key, int] = {}
    jam: dict[str, float] = {}
    for e in _elements(area_xml, "interval", "lane-area detector"):
        begin = float(e.get("begin", "0"))
        found = det_lane.get(e.get("id", ""))
        if found is None or not (w0 <= begin < w1):
            continue
        lane, movement = found
        j, leg = lane_home[lane]
        key = (j.intersection_id, leg, movement)
        loss[key] = loss.get(key, 0.0) + float(e.get("meanTimeLoss", "0")) * int(e.get("nVehSeen", "0"))
        halts[key] = halts.get(key, 0.0) + float(e.get("startedHalts", "0"))
        entered[key] = entered.get(key, 0) + int(e.get("nVehEntered", "0"))
        if movement is None:
            jam[lane] = max(jam.get(lane, 0.0), float(e.get("maxJamLengthInMeters", "0")))

    crossings: dict[Key, int] = {}
    arrivals: dict[Key, list[float]] = {}
    zone_in: dict[str, tuple[str, float]] = {}
    presence: dict[str, list[tuple[float, float]]] = {}
    for e in _elements(instant_xml, "instantOut", "instant loop"):
        found_i = instant.get(e.get("id", ""))
        state = e.get("state")
        if found_i is None or state not in ("enter", "leave"):
            continue
        lane, kind = found_i
        t, veh = float(e.get("time", "0")), e.get("vehID", "")
        j, leg = lane_home[lane]
        if kind == "zs" and state == "enter":
            zone_in[veh] = (lane, t)
        elif kind == "ze" and state == "leave" and veh in zone_in:
            start_lane, start = zone_in.pop(veh)
            presence.setdefault(start_lane, []).append((start, t))
        elif kind == "ze" and state == "enter" and w0 <= t < w1:
            movement = _move_of(setup, veh, j.intersection_id, leg)
            for key in ((j.intersection_id, leg, None), (j.intersection_id, leg, movement)):
                crossings[key] = crossings.get(key, 0) + 1
        elif kind == "adv" and state == "enter":
            projected = t + setup.detectors.lanes[lane].advance_setback_m / setup.detectors.lanes[lane].speed_mps
            if w0 <= projected < w1:
                movement = _move_of(setup, veh, j.intersection_id, leg)
                arrivals.setdefault((j.intersection_id, leg, movement), []).append(projected)
    for lane, t in zone_in.values():  # still in the zone when the run ended
        presence.setdefault(lane, []).append((t, w1))

    states: dict[str, list[tuple[float, str]]] = {}
    for e in _elements(tls_xml, "tlsState", "signal state"):
        states.setdefault(e.get("id", ""), []).append((float(e.get("time", "0")), e.get("state", "")))

    out: dict[Key, dict[str, float]] = {}
    for j in setup.network.junctions:
        tls = setup.links[j.tls_id]
        signal = states.get(j.tls_id, [])
        for leg, a in j.approaches.items():
            moves = [m for (lg, _), m in j.movements.items() if lg == leg]
            failures: dict[int, float] = {}
            for phase in sorted({m.phase for m in moves}):
                group = [m for m in moves if m.phase == phase]
                lanes = {a.lanes[i] for m in group for i in m.lanes}
                links = sorted({x for m in group for x in tls.movement_links[(leg, m.movement)]})
                seen = [x for lane in lanes for x in presence.get(lane, [])]
                failures[phase] = float(sum(
                    1 for gs, ge, rs in _signal(signal, links, w1)
                    if w0 <= ge < w1 and rs + RED_WINDOW_S <= w1
                    and _occupancy(seen, gs, ge) >= SPLIT_FAILURE_OCCUPANCY
                    and _occupancy(seen, rs, rs + RED_WINDOW_S) >= SPLIT_FAILURE_OCCUPANCY))
            on_green_all = total_all = 0
            for m in moves:
                key = (j.intersection_id, leg, m.movement)
                greens = _signal(signal, tls.movement_links[(leg, m.movement)], w1)
                times = arrivals.get(key, [])
                on_green = sum(1 for t in times if any(gs <= t < ge for gs, ge, _ in greens))
                on_green_all, total_all = on_green_all + on_green, total_all + len(times)
                out[key] = _figures(loss.get(key, 0.0), halts.get(key, 0.0), crossings.get(key, 0),
                                    entered.get(key, 0), max((jam.get(a.lanes[i], 0.0) for i in m.lanes), default=0.0),
                                    on_green, len(times), failures[m.phase])
            key = (j.intersection_id, leg, None)
            out[key] = _figures(loss.get(key, 0.0), halts.get(key, 0.0), crossings.get(key, 0),
                                entered.get(key, 0), max((jam.get(lane, 0.0) for lane in a.lanes), default=0.0),
                                on_green_all, total_all, sum(failures.values()))
    return out


def _figures(loss: float, halts: float, vehicles: int, entered: int, queue: float, on_green: int, arrived: int,
             failures: float) -> dict[str, float]:
    # Over the vehicles that were on the approach: when it is saturated, more join the queue than cross the stop bar.
    per = max(vehicles, entered, 1)
    return {"delay_s": loss / per, "stops_per_veh": halts / per, "max_queue_m": queue,
            "arrivals_on_green": on_green / arrived if arrived else 0.0, "split_failures": failures,
            "vehicles": float(vehicles)}


def spread(values: Sequence[float]) -> Spread:
    return Spread(mean=sum(values) / len(values), low=min(values), high=max(values), n=len(values))


def aggregate(network: PlainNetwork, runs: Sequence[Mapping[Key, Mapping[str, float]]]) -> list[IntersectionFigures]:
    """The runs' (seeds') figures as a spread per approach and movement, in the network's order."""
    out = []
    for j in network.junctions:
        approaches: list[MovementFigures] = []
        movements: list[MovementFigures] = []
        for leg in j.approaches:
            keys: list[Key] = [(j.intersection_id, leg, None)]
            keys += [(j.intersection_id, leg, m) for m in Movement if (leg, m) in j.movements]
            for key in keys:
                figures = MovementFigures(leg=leg, movement=key[2],
                                          **{f: spread([run[key][f] for run in runs]) for f in FIGURES})
                (approaches if key[2] is None else movements).append(figures)
        out.append(IntersectionFigures(intersection_id=j.intersection_id, approaches=approaches,
                                       movements=movements))
    return out
