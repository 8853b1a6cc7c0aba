"""The twin's network: bearings to movements, lanes to connections, corridors joined by shared edges."""

from __future__ import annotations

import pytest

from controllers.twin.model import Approach, CorridorLink, IntersectionGeometry
from controllers.twin.network import NetworkError, build_network, destinations, turn_deg
from tests.twin_fixtures import L, R, T, arterial_node, four_leg, lane


def test_turns_follow_compass_bearings_in_right_hand_traffic() -> None:
    # Arriving from the south leg (bearing 180) heading north: the east leg is a right turn, the west a left.
    assert turn_deg(180, 0) == 0
    assert turn_deg(180, 90) == 90
    assert turn_deg(180, 270) == -90
    dest = destinations(four_leg())
    assert dest[("S", T)] == "N" and dest[("S", R)] == "E" and dest[("S", L)] == "W"
    assert dest[("W", L)] == "N" and dest[("N", L)] == "E"


def test_skewed_legs_go_to_the_nearest_leg_of_their_kind() -> None:
    skewed = IntersectionGeometry(approaches=[
        Approach(leg="A", bearing_deg=10, lanes=[lane(T, L)], phases={T: 4, L: 4}),
        Approach(leg="B", bearing_deg=200, lanes=[lane(T, R)], phases={T: 8, R: 8}),
        Approach(leg="C", bearing_deg=120, lanes=[lane(L, R)], phases={L: 2, R: 2}),
        Approach(leg="D", bearing_deg=300, lanes=[lane(T)], phases={T: 6}),
    ])
    dest = destinations(skewed)
    assert dest[("A", T)] == "B"  # a 10° bend is still through
    assert dest[("A", L)] == "C" and dest[("B", R)] == "C"  # 70° and 100° turns
    # From C (heading 300): B is 100° to the left, A 70° to the right; D is through.
    assert dest[("C", L)] == "B" and dest[("C", R)] == "A"


def test_a_movement_with_nowhere_to_go_is_named() -> None:
    tee = IntersectionGeometry(approaches=[
        Approach(leg="W", bearing_deg=270, lanes=[lane(T, L)], phases={T: 2, L: 2}),
        Approach(leg="E", bearing_deg=90, lanes=[lane(T)], phases={T: 6}),
    ])
    with pytest.raises(NetworkError, match=r"approach W: no leg to take its left movement"):
        build_network([("t", tee)])


def test_lanes_count_from_the_median_and_connect_per_movement() -> None:
    net = build_network([("x", four_leg())])
    j = net.junctions[0]
    west = j.approaches["W"]
    # Geometry lane 0 (median, left only) is SUMO's highest index on that edge.
    assert west.lanes == ("J0_W_in_1", "J0_W_in_0")
    assert j.movements[("W", L)].lanes == (0,) and j.movements[("W", T)].lanes == (1,)
    assert '<connection from="J0_W_in" to="J0_N_out" fromLane="1" toLane="1"/>' in net.connections_xml
    assert '<connection from="J0_W_in" to="J0_E_out" fromLane="0" toLane="0"/>' in net.connections_xml
    assert net.connections_xml.count("<connection ") == 12
    assert 'type="traffic_light" tl="J0"' in net.nodes_xml


def test_a_left_turn_timed_by_the_through_phase_is_permissive() -> None:
    shared = IntersectionGeometry(approaches=[
        Approach(leg="N", bearing_deg=0, lanes=[lane(L, T)], phases={L: 4, T: 4}),
        Approach(leg="S", bearing_deg=180, lanes=[lane(L), lane(T)], phases={L: 3, T: 8}),
        Approach(leg="E", bearing_deg=90, lanes=[lane(T)], phases={T: 6}),
        Approach(leg="W", bearing_deg=270, lanes=[lane(T)], phases={T: 2}),
    ])
    j = build_network([("x", shared)]).junctions[0]
    assert j.movements[("N", L)].permissive
    assert not j.movements[("S", L)].permissive


def test_a_corridor_link_shares_the_road_between_two_junctions() -> None:
    link = CorridorLink(from_id="a", from_leg="E", to_id="b", to_leg="W", distance_m=400)
    net = build_network([("a", arterial_node()), ("b", arterial_node())], [link])
    a, b = net.junctions
    assert a.approaches["E"].out_edge == b.approaches["W"].in_edge == "J0_E_out"
    assert b.approaches["W"].out_edge == a.approaches["E"].in_edge == "J1_W_out"
    assert not b.approaches["W"].entry and b.approaches["E"].entry
    assert 'from="J0" to="J1"' in net.edges_xml and 'length="400.00"' in net.edges_xml
    assert net.edges_xml.count("<edge ") == 2 * 8 - 2  # the two joined legs' four edges become two shared ones


@pytest.mark.parametrize(("link", "message"), [
    (CorridorLink(from_id="a", from_leg="E", to_id="zz", to_leg="W", distance_m=400), "intersection zz is not in"),
    (CorridorLink(from_id="a", from_leg="Q", to_id="b", to_leg="W", distance_m=400), "a has no leg Q"),
    (CorridorLink(from_id="a", from_leg="E", to_id="a", to_leg="W", distance_m=400), "to itself"),
])
def test_bad_links_are_named(link: CorridorLink, message: str) -> None:
    with pytest.raises(NetworkError, match=message):
        build_network([("a", arterial_node()), ("b", arterial_node())], [link])


def test_a_leg_joined_twice_is_refused() -> None:
    links = [CorridorLink(from_id="a", from_leg="E", to_id="b", to_leg="W", distance_m=400),
             CorridorLink(from_id="c", from_leg="W", to_id="b", to_leg="W", distance_m=300)]
    with pytest.raises(NetworkError, match="leg W of b is already joined"):
        build_network([("a", arterial_node()), ("b", arterial_node()), ("c", arterial_node())], links)
