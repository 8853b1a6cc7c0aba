"""Vehicle detectors and pedestrian pushbuttons: arrivals per approach with a time-of-day volume profile, bunched
in platoons released by the upstream signal on the coordinated phases.

One stop-bar presence detector per vehicle phase (detector n serves phase n). Arrivals on red queue over the
detector, which stays occupied while a vehicle waits (that is the call); on green the queue discharges at the
saturation headway and every vehicle crossing occupies the detector for its occupancy time and is counted.

Advance detectors (the layout: `parse_layout`, the API's detector export) sit `setback_m` upstream of the stop bar:
every vehicle of their phase crosses one (on for its occupancy time: events 82/81 with the detector's channel)
and reaches the stop bar `setback_m / SPEED_MS` later. They only report; calls come from the stop-bar detectors.

Platoons: on a coordinated phase, `PLATOON_SHARE` of the volume comes from the upstream signal, `LINK_M` away,
which runs the same cycle with its cycle zero (start of its coordinated green) at local midnight +
`UPSTREAM_OFFSET_S` + k·cycle, as ours is at our offset. At each of its green starts it releases the cycle's
platoon at the saturation headway (at most what its green discharges), dispersing on the way (a random extra
travel time per vehicle); the rest of the volume arrives at random (Poisson: side streets, driveways). So our
offset decides whether the platoon meets green: about `UPSTREAM_OFFSET_S + LINK_M / SPEED_MS` (less the queue's
discharge) is the best. In free operation (no pattern) every arrival is random.
Stepped in 0.1 s ticks; randomness from the caller's seeded `random.Random`, so runs are reproducible.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: Hourly volume factor over the local day (0..23 h): night low, peaks 7-8 h and 17-18 h.
DAY_PROFILE = (0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.7, 1.0, 1.0, 0.8, 0.7, 0.75,
               0.8, 0.75, 0.7, 0.75, 0.9, 1.0, 1.0, 0.8, 0.6, 0.45, 0.3, 0.2)
#: Peak-hour volumes (veh/h) per phase: through movements 2/6 busiest, protected lefts light.
PEAK_VEH_H = {1: 120.0, 2: 700.0, 3: 80.0, 4: 350.0, 5: 120.0, 6: 700.0, 7: 80.0, 8: 350.0}
PEAK_PEDS_H = {2: 40.0, 4: 60.0, 6: 40.0, 8: 60.0}
HEADWAY_TICKS = 20          # saturation flow 1800 veh/h: one vehicle every 2.0 s
OCCUPY_TICKS = 4            # ~0.4 s on a 2 m loop at 50 km/h
WINDOW_TICKS = 100          # occupancy measured over 10 s, the slow poll interval
SPEED_MS = 13.9             # approach speed, 50 km/h
LINK_M = 300.0              # from the upstream signal's stop bar to ours
UPSTREAM_OFFSET_S = 0.0     # the upstream signal's offset (cycle zero at local midnight + this + k·cycle)
PLATOON_SHARE = 0.7         # of a coordinated phase's volume that comes in the upstream signal's platoon
DISPERSION_S = 2.0          # mean extra travel time a platoon vehicle picks up on the link (exponential)
DAY_TICKS = 864_000
#: The default layout: an advance detector on each through phase, channel phase + 8, 100 m upstream.
DEFAULT_ADVANCE = {2: (10, 100.0), 4: (12, 100.0), 6: (14, 100.0), 8: (16, 100.0)}
MAX_SETBACK_M = LINK_M - 10.0
LAYOUT_TYPES = ("stop_bar", "stop_bar_count", "advance", "yellow_red", "ped")


class LayoutError(ValueError):
    """A detector layout the simulator cannot wire; the message names the entry and field."""


@dataclass(frozen=True, slots=True)
class Advance:
    channel: int
    phase: int
    setback_m: float


def default_layout(phases: Iterable[int]) -> list[dict[str, Any]]:
    """The simulator's default wiring in the API's detector export shape (GET .../detectors): a stop bar per phase
    (channel = phase) and the `DEFAULT_ADVANCE` detectors of the phases present."""
    ps = sorted(set(phases))
    out: list[dict[str, Any]] = [{"channel": p, "phase": p, "type": "stop_bar", "lane": None, "setback_m": 0.0}
                                 for p in ps]
    out += [{"channel": c, "phase": p, "type": "advance", "lane": None, "setback_m": s}
            for p, (c, s) in sorted(DEFAULT_ADVANCE.items()) if p in ps]
    return out


def parse_layout(doc: Any, where: str = "detectors") -> dict[int, Advance]:
    """The advance detectors of a layout in the API's detector export shape (a list of {channel, phase, type,
    setback_m, lane}), by phase. The simulator's stop bars are wired channel n -> phase n, so a stop_bar entry
    must say so; other types (ped buttons, yellow/red, count) are the controller's own and accepted as they are.
    Raises LayoutError naming the entry."""
    if not isinstance(doc, list):
        raise LayoutError(f"{where}: expected a list of detectors")
    out: dict[int, Advance] = {}
    channels: set[int] = set()
    for i, d in enumerate(doc):
        at = f"{where}[{i}]"
        if not isinstance(d, dict):
            raise LayoutError(f"{at}: expected an object")
        kind, channel, phase = d.get("type"), d.get("channel"), d.get("phase")
        if kind not in LAYOUT_TYPES:
            raise LayoutError(f"{at}.type: one of {', '.join(LAYOUT_TYPES)}, got {kind!r}")
        for name, value, top in (("channel", channel, 64), ("phase", phase, 16)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise LayoutError(f"{at}.{name}: an integer 1..{top}, got {value!r}")
        assert isinstance(channel, int) and isinstance(phase, int)
        if kind == "stop_bar" and channel != phase:
            raise LayoutError(f"{at}: the simulator's stop bar of phase {phase} is channel {phase}, not {channel}")
        if kind != "advance":
            continue
        setback = d.get("setback_m")
        if not isinstance(setback, int | float) or isinstance(setback, bool) or not math.isfinite(setback) \
                or not 0 < setback <= MAX_SETBACK_M:
            raise LayoutError(f"{at}.setback_m: a number of metres in (0, {MAX_SETBACK_M:g}], got {setback!r}")
        if any(isinstance(e, dict) and e.get("type") == "stop_bar" and e.get("channel") == channel for e in doc):
            raise LayoutError(f"{at}.channel: {channel} is a stop bar's channel")
        if channel in channels:
            raise LayoutError(f"{at}.channel: advance channel {channel} is listed twice")
        if phase in out:
            raise LayoutError(f"{at}.phase: the simulator models one advance detector per phase ({phase} twice)")
        channels.add(channel)
        out[phase] = Advance(channel, phase, float(setback))
    return out


@dataclass(frozen=True, slots=True)
class Upstream:
    """What the platoons need of the running coordination: the cycle, how long the upstream signal's coordinated
    green lasts (it discharges the platoon), and which phases are coordinated (all in ticks)."""

    cycle: int
    green: int
    phases: frozenset[int]


@dataclass(slots=True)
class Detector:
    phase: int
    next_arrival: float = 0.0    # tick of the next random arrival (at the advance detector, or at the stop bar)
    queue: int = 0
    occupied_until: int = 0
    headway_until: int = 0
    count: int = 0
    occupied_ticks: int = 0
    occupancy_pct: float = 0.0
    active: bool = False
    fault: str | None = None     # open, shorted, chatter, watchdog, other (the detector card's diagnostics)
    _chatter: bool = False

    @property
    def failed(self) -> bool:
        return self.fault is not None

    @failed.setter
    def failed(self, value: bool) -> None:
        self.fault = "open" if value else None

    def reads(self, on: bool) -> bool:
        """What the detector output shows under its fault: an open loop never calls, a shorted one always does,
        a chattering one flips every tick."""
        if self.fault is None:
            return on
        if self.fault == "shorted":
            return True
        if self.fault == "chatter":
            self._chatter = not self._chatter
            return self._chatter
        return False


@dataclass(slots=True)
class AdvanceDetector:
    spec: Advance
    travel: int                                  # ticks from this detector to the stop bar
    occupied_until: int = 0
    active: bool = False
    count: int = 0
    transit: deque[int] = field(default_factory=deque)     # ticks at which crossed vehicles reach the stop bar


@dataclass
class DetectorField:
    rng: random.Random
    phases: tuple[int, ...]
    volume_factor: float = 1.0
    start_tick: int = 0
    layout: dict[int, Advance] | None = None      # advance detectors by phase; None = DEFAULT_ADVANCE
    detectors: dict[int, Detector] = field(default_factory=dict)
    advance: dict[int, AdvanceDetector] = field(default_factory=dict)     # by phase
    next_ped: dict[int, float] = field(default_factory=dict)      # phase -> tick of the next push
    platoons: dict[int, list[float]] = field(default_factory=dict)  # phase -> heap of platoon ticks at the entry
    _window: int = 0
    _up_timer: int = -1

    def __post_init__(self) -> None:
        layout = self.layout if self.layout is not None else {
            p: Advance(c, p, s) for p, (c, s) in DEFAULT_ADVANCE.items()}
        for p in self.phases:
            self.detectors[p] = Detector(p, next_arrival=self.start_tick + self._gap(PEAK_VEH_H.get(p, 100.0), 1.0))
            self.platoons[p] = []
            spec = layout.get(p)
            # the stop bars are channels 1..16 (channel = phase): an advance detector on a phase's channel is not
            # wired (a plan with more phases than the layout was written for)
            if spec is not None and spec.channel not in self.phases:
                self.advance[p] = AdvanceDetector(spec, round(spec.setback_m / SPEED_MS * 10))
        for p in PEAK_PEDS_H:
            if p in self.phases:
                self.next_ped[p] = self.start_tick + self._gap(PEAK_PEDS_H[p], 1.0)

    def _gap(self, per_hour: float, factor: float) -> float:
        rate = per_hour * factor * self.volume_factor / 36000.0      # arrivals per tick
        return math.inf if rate <= 0 else self.rng.expovariate(rate)

    def _release(self, tick: int, factor: float, up: Upstream) -> None:
        """The upstream signal's coordinated green starts: its platoon of this cycle sets off towards us."""
        for p in up.phases:
            if p not in self.platoons:
                continue
            mean = PLATOON_SHARE * PEAK_VEH_H.get(p, 100.0) * factor * self.volume_factor * up.cycle / 36000.0
            size = min(_poisson(self.rng, mean), max(1, up.green // HEADWAY_TICKS))
            adv = self.advance.get(p)
            to_entry = LINK_M / SPEED_MS * 10 - (adv.travel if adv else 0)
            heap = self.platoons[p]
            for i in range(size):
                lag = self.rng.expovariate(1.0 / (DISPERSION_S * 10))
                heapq.heappush(heap, tick + to_entry + i * HEADWAY_TICKS + lag)

    def step(self, tick: int, hour: int, greens: int, *, local: int | None = None,
             upstream: Upstream | None = None) -> tuple[set[int], set[int], list[tuple[int, bool]]]:
        """Advance one tick. `local` (ticks of local time) and `upstream` (None: free, no platoons) shape the
        coordinated phases' arrivals. Returns (occupied detector phases, pressed ped buttons, [(detector channel,
        on)] changes). Runs every tick for every controller: kept lean (absolute event times)."""
        factor = DAY_PROFILE[hour % 24]
        if upstream is not None and local is not None:
            timer = (local % DAY_TICKS - round(UPSTREAM_OFFSET_S * 10)) % upstream.cycle
            if timer < self._up_timer:
                self._release(tick, factor, upstream)
            self._up_timer = timer
        else:
            self._up_timer = -1
        occupied: set[int] = set()
        changes: list[tuple[int, bool]] = []
        for p, d in self.detectors.items():
            random_share = 1.0 - PLATOON_SHARE if upstream is not None and p in upstream.phases else 1.0
            adv = self.advance.get(p)
            entered = 0
            while d.next_arrival <= tick:
                entered += 1
                d.next_arrival += self._gap(PEAK_VEH_H.get(p, 100.0) * random_share, factor)
            heap = self.platoons[p]
            while heap and heap[0] <= tick:
                heapq.heappop(heap)
                entered += 1
            if adv is None:
                d.queue += entered
            else:
                if entered:
                    adv.count = (adv.count + entered) & 0xFFFF
                    adv.occupied_until = tick + OCCUPY_TICKS
                    adv.transit.extend([tick + adv.travel] * entered)
                while adv.transit and adv.transit[0] <= tick:
                    adv.transit.popleft()
                    d.queue += 1
                a_on = tick < adv.occupied_until
                if a_on != adv.active:
                    adv.active = a_on
                    changes.append((adv.spec.channel, a_on))
            green = greens >> (p - 1) & 1
            if green and d.queue and tick >= d.headway_until:
                d.queue -= 1
                d.count = (d.count + 1) & 0xFFFF
                d.occupied_until = tick + OCCUPY_TICKS
                d.headway_until = tick + HEADWAY_TICKS
            on = d.reads(tick < d.occupied_until or (not green and d.queue > 0))
            if on != d.active:
                d.active = on
                changes.append((p, on))
            if on:
                occupied.add(p)
                d.occupied_ticks += 1
        pressed: set[int] = set()
        for p, at in self.next_ped.items():
            if at <= tick:
                pressed.add(p)
        for p in pressed:
            while self.next_ped[p] <= tick:
                self.next_ped[p] += self._gap(PEAK_PEDS_H[p], factor)
        self._window += 1
        if self._window >= WINDOW_TICKS:
            for d in self.detectors.values():
                d.occupancy_pct, d.occupied_ticks = 100.0 * d.occupied_ticks / self._window, 0
            self._window = 0
        return occupied, pressed, changes

    @property
    def mask(self) -> int:
        return sum(1 << (p - 1) for p, d in self.detectors.items() if d.active)


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are a few tens at most)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, prod = math.exp(-mean), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k
