"""The twin's demand: flows per route and bin, the vehicle mix with motorcycles, corridor routes that keep volume."""

from __future__ import annotations

import re

import pytest

from controllers.twin.demand import DEFAULT_VEHICLE_MIX, build_routes, default_demand, routes_for_bin
from controllers.twin.model import CorridorLink, Demand, VehicleClass
from controllers.twin.network import build_network
from tests.twin_fixtures import L, R, T, demand, four_leg


def test_the_default_mix_is_mostly_motorcycles_and_sums_to_one() -> None:
    assert sum(DEFAULT_VEHICLE_MIX.values()) == pytest.approx(1.0)
    assert DEFAULT_VEHICLE_MIX[VehicleClass.MOTORCYCLE] == max(DEFAULT_VEHICLE_MIX.values())
    profile = default_demand(four_leg())
    assert profile.source == "default" and len(profile.bins) == 4
    west = {v.movement: v.veh_per_h for v in profile.bins[1].volumes if v.leg == "W"}
    # The through-right lane carries 500 veh/h, split 500:150 between its two movements.
    assert west == {L: 150.0, T: pytest.approx(384.6), R: pytest.approx(115.4)}


def test_route_file_has_sumo_vehicle_classes_and_a_flow_per_route_and_bin() -> None:
    net = build_network([("x", four_leg())])
    text, routes = build_routes(net, {"x": default_demand(four_leg())}, warmup_s=300, duration_s=1800, bin_s=900)
    assert '<vType id="motorcycle" vClass="motorcycle"' in text and '<vType id="truck" vClass="truck"/>' in text
    assert 'vTypes="motorcycle passenger bus truck" probabilities="0.800000 0.150000 0.020000 0.030000"' in text
    assert len(routes) == 12  # 4 legs x 3 movements
    flows = re.findall(r'<flow id="f(\d+)_(\d+)" route="r\d+" type="mix" begin="(\d+)" end="(\d+)" '
                       r'period="exp\(([0-9.]+)\)"', text)
    assert len(flows) == 12 * 2
    # Bin 0 also drives the warm-up; bin 1 starts after it.
    assert {(int(b), int(e)) for _, k, b, e, _ in flows} == {(0, 1200), (1200, 2100)}
    west_through = next(r for r, route in routes.items() if route.moves == (("x", "W", T),))
    rate = next(float(x) for f, k, _, _, x in flows if f == west_through[1:] and k == "0")
    assert rate == pytest.approx(0.8 * 384.6 / 3600, abs=1e-4)


def test_the_last_bin_repeats_and_empty_movements_get_no_flow() -> None:
    net = build_network([("x", four_leg())])
    text, _ = build_routes(net, {"x": demand({("W", T): 600})}, warmup_s=0, duration_s=1800, bin_s=600)
    assert len(re.findall("<flow ", text)) == 3


def test_corridor_routes_carry_an_entry_volume_through_with_the_next_turning_shares() -> None:
    turning = four_leg()
    link = CorridorLink(from_id="a", from_leg="E", to_id="b", to_leg="W", distance_m=300)
    net = build_network([("a", four_leg()), ("b", turning)], [link])
    volumes = {"a": {("W", T): 600.0}, "b": {("W", L): 100.0, ("W", T): 200.0, ("W", R): 100.0}}
    routes = routes_for_bin(net, volumes)
    # Only a's west entry has volume; b's west leg is joined, so its volumes only split what arrives.
    assert sum(rate for _, rate in routes) == pytest.approx(600.0)
    by_last = {route.moves[-1]: rate for route, rate in routes}
    assert by_last[("b", "W", T)] == pytest.approx(300.0)
    assert by_last[("b", "W", L)] == pytest.approx(150.0)
    assert all(route.edges[1] == "J0_E_out" for route, _ in routes)


def test_a_route_carries_on_through_every_joined_intersection() -> None:
    links = [CorridorLink(from_id="a", from_leg="E", to_id="b", to_leg="W", distance_m=300),
             CorridorLink(from_id="b", from_leg="E", to_id="c", to_leg="W", distance_m=300)]
    net = build_network([("a", four_leg()), ("b", four_leg()), ("c", four_leg())], links)
    through = {("W", T): 100.0, ("W", L): 0.0, ("W", R): 0.0}
    routes = routes_for_bin(net, {"a": {("W", T): 600.0}, "b": through, "c": {("W", T): 1.0, ("W", R): 1.0}})
    [(route, rate)] = [(r, x) for r, x in routes if r.moves[-1] == ("c", "W", R)]
    assert route.moves == (("a", "W", T), ("b", "W", T), ("c", "W", R))
    assert route.edges == ("J0_W_in", "J0_E_out", "J1_E_out", "J2_S_out")
    assert rate == pytest.approx(300.0)


def test_a_demand_whose_mix_does_not_sum_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        Demand(bins=demand({}).bins, vehicle_mix={VehicleClass.MOTORCYCLE: 0.5})


def test_a_demand_of_too_many_flows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import controllers.twin.demand as module

    monkeypatch.setattr(module, "MAX_FLOWS", 20)
    net = build_network([("x", four_leg())])
    with pytest.raises(ValueError, match="more than 20 flows"):
        build_routes(net, {"x": default_demand(four_leg())}, warmup_s=0, duration_s=1800, bin_s=900)
