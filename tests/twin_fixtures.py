"""Small intersections, corridors and plans the twin's tests share (built in code: no files to keep in step)."""

from __future__ import annotations

from typing import Any

from controllers.twin.model import (
    Approach,
    Demand,
    DemandBin,
    IntersectionGeometry,
    Lane,
    Movement,
    MovementVolume,
    VehicleClass,
)

L, T, R = Movement.LEFT, Movement.THROUGH, Movement.RIGHT
#: Splits (s) of an eight-phase 100 s cycle: E-W through 30, N-S through 40, lefts 15.
EIGHT_PHASE_SPLITS = {1: 15.0, 2: 30.0, 3: 15.0, 4: 40.0, 5: 15.0, 6: 30.0, 7: 15.0, 8: 40.0}
MIX = {VehicleClass.MOTORCYCLE: 0.8, VehicleClass.PASSENGER: 0.15, VehicleClass.BUS: 0.02,
       VehicleClass.TRUCK: 0.03}


def lane(*movements: Movement) -> Lane:
    return Lane(movements=frozenset(movements))


def four_leg(length_m: float = 200.0) -> IntersectionGeometry:
    """A four-leg crossing: on each leg a left-turn lane and a through-right lane; E-W on phases 2/6 (lefts 5/1),
    N-S on 4/8 (lefts 7/3), the usual NEMA numbering."""
    def approach(leg: str, bearing: float, through: int, left: int) -> Approach:
        return Approach(leg=leg, bearing_deg=bearing, length_m=length_m, speed_kph=50, lanes=[lane(L), lane(T, R)],
                        phases={L: left, T: through, R: through})
    return IntersectionGeometry(approaches=[approach("N", 0, 4, 7), approach("E", 90, 6, 1),
                                            approach("S", 180, 8, 3), approach("W", 270, 2, 5)])


def arterial_node(length_m: float = 200.0) -> IntersectionGeometry:
    """A corridor's intersection: E-W arterial with two through lanes (phases 2 eastbound from W, 6 westbound),
    N-S side street with one through lane (phases 4/8); no turns."""
    def approach(leg: str, bearing: float, phase: int, lanes: int) -> Approach:
        return Approach(leg=leg, bearing_deg=bearing, length_m=length_m, speed_kph=50,
                        lanes=[lane(T) for _ in range(lanes)], phases={T: phase})
    return IntersectionGeometry(approaches=[approach("N", 0, 4, 1), approach("E", 90, 6, 2),
                                            approach("S", 180, 8, 1), approach("W", 270, 2, 2)])


def demand(volumes: dict[tuple[str, Movement], float], bins: int = 1) -> Demand:
    row = DemandBin(volumes=[MovementVolume(leg=leg, movement=m, veh_per_h=v) for (leg, m), v in volumes.items()])
    return Demand(bins=[row] * bins, vehicle_mix=dict(MIX), source="test")


def _phase(number: int, max_green: float) -> dict[str, Any]:
    return {"phase": number, "min_green_s": 5, "max_green_s": max_green, "passage_s": 2.0, "yellow_s": 3.0,
            "red_clear_s": 2.0, "ped_actuated": False, "approach_speed_kph": 50, "grade_pct": 0,
            "clearing_width_m": 20}


def plan(intersection_id: str, splits: dict[int, float], *, cycle_s: float, offset_s: float = 0.0,
         eight_phases: bool = True) -> dict[str, Any]:
    """A `signalight.plan/v1` document with one pattern (1) that runs all day: eight phases (lefts first) or just
    2, 4, 6, 8."""
    numbers = [1, 2, 3, 4, 5, 6, 7, 8] if eight_phases else [2, 4, 6, 8]
    rings = [[1, 2, 3, 4], [5, 6, 7, 8]] if eight_phases else [[2, 4], [6, 8]]
    barriers = [[1, 2, 5, 6], [3, 4, 7, 8]] if eight_phases else [[2, 6], [4, 8]]
    return {
        "format": "signalight.plan/v1", "intersection_id": intersection_id, "name": f"{intersection_id} test",
        "phases": [_phase(n, splits[n] - 5) for n in numbers], "rings": rings, "barriers": barriers,
        "patterns": [{"pattern": 1, "cycle_s": cycle_s, "offset_s": offset_s, "coord_phases": [2, 6],
                      "splits_s": {str(n): splits[n] for n in numbers}}],
        "day_plans": [{"day_plan": 1, "events": [{"at": "00:00", "action": "pattern", "pattern": 1}]}],
        "week": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), 1),
    }
