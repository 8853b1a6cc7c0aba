"""What netconvert made of the plain network: each junction's link indexes per movement and per NEMA phase, and
its approach lanes' lengths, read from net.xml (pure: the caller passes the file's text)."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

from controllers.twin.model import Movement
from controllers.twin.network import NetworkError, PlainNetwork


@dataclass(frozen=True, slots=True)
class TlsLinks:
    """What netconvert made of one junction: its link count, the link indexes of each movement, each NEMA phase's
    links (`phase_links` those it gives a major green, `permissive_links` those it gives a yielding one: a left
    turn timed by the through phase) and every approach lane's length (m)."""

    tls_id: str
    link_count: int
    movement_links: dict[tuple[str, Movement], tuple[int, ...]]
    phase_links: dict[int, tuple[int, ...]]
    permissive_links: dict[int, tuple[int, ...]]
    lane_length_m: dict[str, float]
    lane_links: dict[tuple[str, Movement], int]  # (approach lane id, movement) → its link index


def tls_links(net_xml: str, network: PlainNetwork) -> dict[str, TlsLinks]:
    """Read netconvert's net.xml: tls id → its links. Raises NetworkError when a movement got no link (netconvert
    dropped a connection) or the net is not one this module's XML made."""
    try:
        root = ET.fromstring(net_xml)
    except ET.ParseError as exc:
        raise NetworkError(f"net.xml is not XML: {exc}") from exc
    lane_length = {lane.get("id", ""): float(lane.get("length", "0"))
                   for edge in root.iter("edge") if edge.get("function") != "internal" for lane in edge.iter("lane")}
    by_conn: dict[tuple[str, str, str], int] = {}
    counts: dict[str, int] = {}
    for c in root.iter("connection"):
        tl, index = c.get("tl"), c.get("linkIndex")
        if tl is None or index is None:
            continue
        by_conn[(c.get("from", ""), c.get("fromLane", ""), c.get("to", ""))] = int(index)
        counts[tl] = max(counts.get(tl, 0), int(index) + 1)
    out: dict[str, TlsLinks] = {}
    for j in network.junctions:
        movement_links: dict[tuple[str, Movement], tuple[int, ...]] = {}
        phase_links: dict[int, set[int]] = {}
        permissive: dict[int, set[int]] = {}
        lane_links: dict[tuple[str, Movement], int] = {}
        for key, m in j.movements.items():
            a = j.approaches[m.leg]
            found: list[int] = []
            for i in m.lanes:
                lane_id = a.lanes[i]
                link = by_conn.get((a.in_edge, lane_id.rpartition("_")[2], m.out_edge))
                if link is None:
                    raise NetworkError(f"intersection {j.intersection_id}: netconvert made no link for the "
                                       f"{m.movement.value} movement of leg {m.leg} from lane {i}")
                found.append(link)
                lane_links[(lane_id, m.movement)] = link
            movement_links[key] = tuple(sorted(found))
            (permissive if m.permissive else phase_links).setdefault(m.phase, set()).update(found)
        lanes = {lane: lane_length.get(lane, 0.0) for a in j.approaches.values() for lane in a.lanes}
        missing = [lane for lane, length in lanes.items() if length <= 0]
        if missing:
            raise NetworkError(f"intersection {j.intersection_id}: net.xml has no lane(s) {', '.join(missing)}")
        out[j.tls_id] = TlsLinks(
            tls_id=j.tls_id, link_count=counts.get(j.tls_id, 0), movement_links=movement_links,
            phase_links={p: tuple(sorted(v)) for p, v in sorted(phase_links.items())},
            permissive_links={p: tuple(sorted(v)) for p, v in sorted(permissive.items())},
            lane_length_m=lanes, lane_links=lane_links)
    return out
