"""The twin's detectors: the geometry's own ones actuate the controller and place the measuring loops."""

from __future__ import annotations

import re

from controllers.twin.detectors import ADVANCE_M, STOP_BAR_LENGTH_M, build_detectors
from controllers.twin.links import TlsLinks
from controllers.twin.model import Approach, DetectorPlacement, IntersectionGeometry
from controllers.twin.network import build_network
from tests.twin_fixtures import L, R, T, lane


def _build(geometry: IntersectionGeometry) -> tuple[str, dict[int, tuple[str, ...]], dict[str, float]]:
    net = build_network([("x", geometry)])
    lengths = {lane_id: 180.0 for a in net.junctions[0].approaches.values() for lane_id in a.lanes}
    links = {"J0": TlsLinks(tls_id="J0", link_count=0, movement_links={}, phase_links={}, permissive_links={},
                            lane_length_m=lengths, lane_links={})}
    d = build_detectors(net, links, {"x": geometry}, period_s=300)
    return d.additional_xml, d.phase_detectors["J0"], {k: p.advance_setback_m for k, p in d.lanes.items()}


def _area(xml: str, det_id: str) -> tuple[float, float]:
    m = re.search(rf'<laneAreaDetector id="{det_id}" lane="[^"]+" pos="([0-9.]+)" endPos="([0-9.]+)"', xml)
    assert m, det_id
    return float(m.group(1)), float(m.group(2))


def test_the_geometry_s_detectors_actuate_their_lanes_phases_and_place_the_measuring_loops() -> None:
    west = Approach(leg="W", bearing_deg=270, lanes=[lane(L), lane(T, R)], phases={L: 5, T: 2, R: 2},
                    detectors=[DetectorPlacement(channel=2, lane=1, setback_m=0, length_m=15),
                               DetectorPlacement(channel=12, lane=1, setback_m=60, length_m=2),
                               DetectorPlacement(channel=5, lane=0, setback_m=0, length_m=6)])
    east = Approach(leg="E", bearing_deg=90, lanes=[lane(T)], phases={T: 6})
    north = Approach(leg="N", bearing_deg=0, lanes=[lane(T)], phases={T: 4})
    south = Approach(leg="S", bearing_deg=180, lanes=[lane(T)], phases={T: 8})
    xml, calls, advance = _build(IntersectionGeometry(approaches=[west, east, north, south]))
    # Geometry lane 1 (curb) is SUMO lane 0.
    assert _area(xml, "act_J0_W_in_0_2") == (180 - 0.1 - 15, 180 - 0.1)
    assert _area(xml, "act_J0_W_in_0_12") == (180 - 60 - 0.1 - 2, 180 - 60 - 0.1)
    # A stop-bar and an advance loop on one lane: SUMO's NEMA controller reads one detector per lane, so the one
    # nearest the stop bar calls the phase and the advance loop only measures.
    assert calls[2] == ("act_J0_W_in_0_2",) and calls[5] == ("act_J0_W_in_1_5",)
    # The stop-bar zone is the stop-bar detector's 15 m; arrivals are read at the advance detector's 60 m.
    assert '<instantInductionLoop id="za_J0_W_in_0" lane="J0_W_in_0" pos="165.00"' in xml
    assert advance["J0_W_in_0"] == 60 and advance["J0_W_in_1"] == ADVANCE_M
    # An approach without detectors gets a stop-bar detector per lane.
    assert _area(xml, "act_J0_E_in_0") == (180 - 0.1 - STOP_BAR_LENGTH_M, 180 - 0.1)
    assert calls[6] == ("act_J0_E_in_0",)


def test_a_permissive_left_lane_calls_no_phase_of_its_own() -> None:
    shared = Approach(leg="W", bearing_deg=270, lanes=[lane(L), lane(T)], phases={L: 2, T: 2})
    east = Approach(leg="E", bearing_deg=90, lanes=[lane(T, L)], phases={T: 6, L: 1})
    north = Approach(leg="N", bearing_deg=0, lanes=[lane(T)], phases={T: 4})
    south = Approach(leg="S", bearing_deg=180, lanes=[lane(T)], phases={T: 8})
    _, calls, _ = _build(IntersectionGeometry(approaches=[shared, east, north, south]))
    assert calls[2] == ("act_J0_W_in_0",)  # the left lane (SUMO 1) gets only a minor green: SUMO binds it nowhere
    assert calls[1] == calls[6] == ("act_J0_E_in_0",)
