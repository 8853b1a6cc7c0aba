"""The twin's figures from SUMO outputs, on hand-written outputs whose answer is known."""

from __future__ import annotations

import pytest

from controllers.twin.demand import Route
from controllers.twin.detectors import build_detectors
from controllers.twin.links import TlsLinks
from controllers.twin.model import Approach, IntersectionGeometry
from controllers.twin.network import build_network
from controllers.twin.outputs import RunSetup, aggregate, run_figures
from tests.twin_fixtures import T, lane

GEOMETRY = IntersectionGeometry(approaches=[
    Approach(leg="W", bearing_deg=270, length_m=200, speed_kph=36, lanes=[lane(T)], phases={T: 2}),
    Approach(leg="E", bearing_deg=90, length_m=200, speed_kph=36, lanes=[lane(T)], phases={T: 6}),
])
# W through is link 0, E through link 1. A 65 s cycle: W green 0–30, yellow to 33, red from 33; E green 35–60.
SIGNAL = [(0, "Gr"), (30, "yr"), (33, "rr"), (35, "rG"), (60, "ry"), (63, "rr"), (65, "Gr"), (95, "yr"),
          (98, "rr"), (100, "rG"), (125, "ry"), (128, "rr"), (130, "Gr")]


def _setup(end_s: float = 130.0) -> RunSetup:
    net = build_network([("x", GEOMETRY)])
    lanes = {"J0_W_in_0": 190.0, "J0_E_in_0": 190.0}
    links = {"J0": TlsLinks(tls_id="J0", link_count=2, movement_links={("W", T): (0,), ("E", T): (1,)},
                            phase_links={2: (0,), 6: (1,)}, permissive_links={}, lane_length_m=lanes,
                            lane_links={("J0_W_in_0", T): 0, ("J0_E_in_0", T): 1})}
    detectors = build_detectors(net, links, {"x": GEOMETRY}, period_s=60)
    routes = {"r0": Route(("J0_W_in", "J0_E_out"), (("x", "W", T),)),
              "r1": Route(("J0_E_in", "J0_W_out"), (("x", "E", T),))}
    return RunSetup(network=net, links=links, detectors=detectors, routes=routes, warmup_s=0, end_s=end_s)


def _tls() -> bytes:
    rows = "".join(f'<tlsState time="{t}" id="J0" programID="p" phase="0" state="{s}"/>' for t, s in SIGNAL)
    return f"<tlsStates>{rows}</tlsStates>".encode()


def _instant(events: list[tuple[str, float, str, str]]) -> bytes:
    rows = "".join(f'<instantOut id="{d}" time="{t}" state="{s}" vehID="{v}" speed="5" length="2" type="m"/>'
                   for d, t, s, v in events)
    return f"<instantE1>{rows}</instantE1>".encode()


def _stay_in_zone(veh: str, enter: float, leave: float) -> list[tuple[str, float, str, str]]:
    return [("za_J0_W_in_0", enter, "enter", veh), ("zb_J0_W_in_0", leave, "leave", veh)]


@pytest.mark.parametrize(("red_occupied_s", "failures"), [(5.0, 1.0), (4.0, 1.0), (3.0, 0.0)])
def test_a_split_fails_when_the_zone_is_full_over_the_green_and_the_red_s_first_seconds(
        red_occupied_s: float, failures: float) -> None:
    # Red starts at 33 (after the yellow). Vehicles keep the zone occupied through the green; one more sits on it
    # for `red_occupied_s` of the red's first 5 s. The second green (65–95) is half occupied: no failure.
    events = _stay_in_zone("f0_0.1", -1, 20) + _stay_in_zone("f0_0.2", 19, 31)
    events += _stay_in_zone("f0_0.3", 33, 33 + red_occupied_s)
    events += _stay_in_zone("f0_0.4", 65, 80)
    figures = run_figures(_setup(), b"<detector/>", _instant(events), _tls())
    assert figures[("x", "W", T)]["split_failures"] == failures
    assert figures[("x", "W", None)]["split_failures"] == failures
    assert figures[("x", "E", T)]["split_failures"] == 0.0


def test_arrivals_are_projected_to_the_stop_bar_at_the_speed_limit() -> None:
    setup = _setup()
    points = setup.detectors.lanes["J0_W_in_0"]
    travel = points.advance_setback_m / points.speed_mps  # 100 m at 10 m/s
    assert travel == pytest.approx(10.0)
    # Projected arrivals at 5, 29 (green), 31, 50 (not), 70 (green): 3 of 5.
    events = [("adv_J0_W_in_0", t - travel, "enter", f"f0_0.{n}") for n, t in enumerate((5, 29, 31, 50, 70))]
    events += [("zb_J0_W_in_0", t, "enter", f"f0_0.{n}") for n, t in enumerate((6, 29.5, 66, 67, 71))]
    figures = run_figures(setup, b"<detector/>", _instant(events), _tls())
    assert figures[("x", "W", T)]["arrivals_on_green"] == pytest.approx(3 / 5)
    assert figures[("x", "W", T)]["vehicles"] == 5
    assert figures[("x", "E", T)]["vehicles"] == 0


def test_delay_and_stops_come_from_the_movement_s_lane_area_detectors_over_the_window() -> None:
    setup = _setup()
    area = (b'<detector>'
            b'<interval begin="0" end="60" id="m_J0_W_in_0_through" meanTimeLoss="20" nVehSeen="3" '
            b'startedHalts="2" maxJamLengthInMeters="0"/>'
            b'<interval begin="0" end="60" id="q_J0_W_in_0" meanTimeLoss="20" nVehSeen="3" startedHalts="2" '
            b'maxJamLengthInMeters="14.5"/>'
            b'<interval begin="60" end="120" id="q_J0_W_in_0" meanTimeLoss="0" nVehSeen="0" startedHalts="0" '
            b'maxJamLengthInMeters="30.0"/>'
            b'<interval begin="130" end="190" id="q_J0_W_in_0" meanTimeLoss="99" nVehSeen="9" startedHalts="9" '
            b'maxJamLengthInMeters="99.0"/>'
            b'</detector>')
    events = [("zb_J0_W_in_0", t, "enter", f"f0_0.{n}") for n, t in enumerate((6, 29.5))]
    figures = run_figures(setup, area, _instant(events), _tls())
    w = figures[("x", "W", T)]
    assert w["delay_s"] == pytest.approx(60 / 2) and w["stops_per_veh"] == pytest.approx(1.0)
    assert w["max_queue_m"] == 30.0  # the interval after the window (begin 130) does not count


def test_seeds_spread_into_mean_low_and_high() -> None:
    setup = _setup()
    runs = []
    for n in (2, 4):
        events = [("zb_J0_W_in_0", 10.0 + k, "enter", f"f0_0.{k}") for k in range(n)]
        runs.append(run_figures(setup, b"<detector/>", _instant(events), _tls()))
    [x] = aggregate(setup.network, runs)
    west = next(m for m in x.movements if m.leg == "W")
    assert (west.vehicles.mean, west.vehicles.low, west.vehicles.high, west.vehicles.n) == (3.0, 2.0, 4.0, 2)
    assert [a.leg for a in x.approaches] == ["W", "E"] and all(a.movement is None for a in x.approaches)
