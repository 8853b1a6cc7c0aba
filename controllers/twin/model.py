"""The plan-preview twin's data: an intersection's geometry, its demand, a preview request and its result.

Pure data, no I/O. The registry stores `IntersectionGeometry` per intersection; `api` builds a `PreviewRequest`
from the registry, the stored plans and the measured volumes, and a worker process turns it into SUMO files, runs
SUMO and returns a `PreviewResult`. Units are in the field names (`_m` metres, `_kph` km/h, `_s` seconds,
`_deg` compass degrees, `veh_per_h` vehicles per hour).

Conventions:
- An approach is a leg of the intersection named by `leg` ("N", "E", "S", "W" or any short name); `bearing_deg` is
  the compass bearing *from the intersection's centre out along the leg* (0 = the leg to the north, whose traffic
  drives southbound into the intersection).
- Lanes are listed from the median (leftmost, index 0) to the curb, as in the registry's detector `lane` field.
- Vietnam drives on the right: a left turn crosses opposing traffic.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

LegName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,16}$")]
IntersectionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
PhaseNumber = Annotated[int, Field(ge=1, le=16)]


class Movement(StrEnum):
    """A turning movement from an approach (U-turns are not modelled)."""

    LEFT = "left"
    THROUGH = "through"
    RIGHT = "right"


class VehicleClass(StrEnum):
    """SUMO vehicle classes the default demand mix uses (motorcycles dominate Vietnamese city traffic)."""

    MOTORCYCLE = "motorcycle"
    PASSENGER = "passenger"
    BUS = "bus"
    TRUCK = "truck"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Lane(_Frozen):
    """One approach lane: the movements it may make (a shared lane lists several)."""

    movements: Annotated[frozenset[Movement], Field(min_length=1)]


class DetectorPlacement(_Frozen):
    """A vehicle detector on an approach lane: the controller channel it feeds, its setback from the stop bar and
    its length along the lane (a stop-bar presence loop is ~ 6–20 m long, an advance detector ~ 2 m)."""

    channel: Annotated[int, Field(ge=1, le=64)]
    lane: Annotated[int, Field(ge=0, le=7)]
    setback_m: Annotated[float, Field(ge=0, le=300)]
    length_m: Annotated[float, Field(gt=0, le=50)] = 6.0


class Approach(_Frozen):
    """One leg: where it points, how long and fast it is, its lanes, which NEMA phase serves each movement, and
    its detectors. `phases` maps a movement to the phase that gives it right of way (a left turn without its own
    phase is served permissively by the through phase)."""

    leg: LegName
    bearing_deg: Annotated[float, Field(ge=0, lt=360)]
    length_m: Annotated[float, Field(ge=30, le=3000)] = 250.0
    speed_kph: Annotated[float, Field(gt=0, le=130)] = 50.0
    lanes: Annotated[list[Lane], Field(min_length=1, max_length=8)]
    phases: dict[Movement, PhaseNumber]
    detectors: Annotated[list[DetectorPlacement], Field(max_length=32)] = []

    @model_validator(mode="after")
    def _phases_cover_lanes(self) -> Approach:
        used = {m for lane in self.lanes for m in lane.movements}
        missing = sorted(m.value for m in used - self.phases.keys())
        if missing:
            raise ValueError(f"approach {self.leg}: no phase serves movement(s) {', '.join(missing)}")
        for d in self.detectors:
            if d.lane >= len(self.lanes):
                raise ValueError(f"approach {self.leg}: detector {d.channel} is on lane {d.lane}, "
                                 f"which does not exist ({len(self.lanes)} lanes)")
        return self


class IntersectionGeometry(_Frozen):
    """What the twin needs of an intersection beyond its plan: its legs (2 to 6)."""

    approaches: Annotated[list[Approach], Field(min_length=2, max_length=6)]

    @model_validator(mode="after")
    def _distinct_legs(self) -> IntersectionGeometry:
        legs = [a.leg for a in self.approaches]
        if len(set(legs)) != len(legs):
            raise ValueError(f"legs must be distinct, got {legs}")
        return self


class MovementVolume(_Frozen):
    """Demand of one movement of one approach, in vehicles per hour over a bin."""

    leg: LegName
    movement: Movement
    veh_per_h: Annotated[float, Field(ge=0, le=5000)]


class DemandBin(_Frozen):
    """The volumes of one 15-minute bin (or whatever `PreviewRequest.bin_s` says)."""

    volumes: list[MovementVolume]


class Demand(_Frozen):
    """An intersection's demand over the preview: consecutive bins from the preview's start, and the vehicle mix.
    `source` says where it came from ("measured" from the ATSPM volumes, "default" profile) so the UI can say so."""

    bins: Annotated[list[DemandBin], Field(min_length=1, max_length=96)]
    vehicle_mix: dict[VehicleClass, Annotated[float, Field(ge=0, le=1)]]
    source: str = "default"

    @model_validator(mode="after")
    def _mix_sums_to_one(self) -> Demand:
        total = sum(self.vehicle_mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"vehicle_mix shares must sum to 1, got {total:g}")
        return self


class TwinIntersection(_Frozen):
    """One intersection of a preview: its id, geometry, demand and the plans to compare (variant label → a
    `signalight.plan/v1` document, already accepted by the validator) with the pattern to run from each (None:
    the pattern the plan's schedule selects at the preview's start, free operation if none)."""

    intersection_id: IntersectionId
    geometry: IntersectionGeometry
    demand: Demand
    plans: dict[str, dict[str, Any]]
    patterns: dict[str, int | None] = {}


class CorridorLink(_Frozen):
    """Two adjacent intersections joined by a road: leaving `from_id` along leg `from_leg`, arriving at `to_id` on
    leg `to_leg`, `distance_m` stop bar to stop bar."""

    from_id: IntersectionId
    from_leg: LegName
    to_id: IntersectionId
    to_leg: LegName
    distance_m: Annotated[float, Field(ge=30, le=5000)]


class PreviewRequest(_Frozen):
    """A preview: one intersection, or a corridor of adjacent ones joined by `links`. Every intersection names the
    same variant labels (e.g. "running" and "candidate"); each variant is run on the same seeded demand for every
    seed in `seeds`. `warmup_s` of simulated time is run before measuring."""

    intersections: Annotated[list[TwinIntersection], Field(min_length=1, max_length=12)]
    links: list[CorridorLink] = []
    start_local: str = "07:00"
    duration_s: Annotated[int, Field(ge=300, le=4 * 3600)] = 3600
    warmup_s: Annotated[int, Field(ge=0, le=1800)] = 300
    bin_s: Annotated[int, Field(ge=60, le=3600)] = 900
    seeds: Annotated[list[int], Field(min_length=1, max_length=10)] = [1, 2, 3]

    @model_validator(mode="after")
    def _same_variants(self) -> PreviewRequest:
        labels = {frozenset(i.plans) for i in self.intersections}
        if len(labels) != 1 or not next(iter(labels)):
            raise ValueError("every intersection must name the same, non-empty set of plan variants")
        return self


class Spread(_Frozen):
    """A figure across seeds: mean, lowest and highest, and the seeds' count."""

    mean: float
    low: float
    high: float
    n: int


class MovementFigures(_Frozen):
    """Measures of effectiveness of one movement (or a whole approach when `movement` is None):
    average control delay per vehicle (s), stops per vehicle, maximum queue (m, back of queue from the stop bar),
    share of arrivals on green (0..1), split failures (cycles in which the movement's queue did not clear) and the
    vehicles counted."""

    leg: LegName
    movement: Movement | None
    delay_s: Spread
    stops_per_veh: Spread
    max_queue_m: Spread
    arrivals_on_green: Spread
    split_failures: Spread
    vehicles: Spread


class IntersectionFigures(_Frozen):
    intersection_id: IntersectionId
    approaches: list[MovementFigures]
    movements: list[MovementFigures]


class VariantFigures(_Frozen):
    """One plan variant's figures at every intersection of the preview."""

    variant: str
    intersections: list[IntersectionFigures]


class PreviewResult(_Frozen):
    """A preview's answer, with what it ran on: SUMO's version and how fast it ran (simulated s per wall s)."""

    variants: list[VariantFigures]
    seeds: list[int]
    duration_s: int
    sumo_version: str
    simulated_s_per_wall_s: float
