"""Vehicle detectors and pedestrian pushbuttons: Poisson arrivals per approach with a time-of-day volume profile.

One stop-bar presence detector per vehicle phase (detector n serves phase n). Arrivals on red queue over the
detector, which stays occupied while a vehicle waits (that is the call); on green the queue discharges at the
saturation headway and every vehicle crossing occupies the detector for its occupancy time and is counted.
Stepped in 0.1 s ticks; randomness from the caller's seeded `random.Random`, so runs are reproducible.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

#: Hourly volume factor over the local day (0..23 h): night low, peaks 7-8 h and 17-18 h.
DAY_PROFILE = (0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.7, 1.0, 1.0, 0.8, 0.7, 0.75,
               0.8, 0.75, 0.7, 0.75, 0.9, 1.0, 1.0, 0.8, 0.6, 0.45, 0.3, 0.2)
#: Peak-hour volumes (veh/h) per phase: through movements 2/6 busiest, protected lefts light.
PEAK_VEH_H = {1: 120.0, 2: 700.0, 3: 80.0, 4: 350.0, 5: 120.0, 6: 700.0, 7: 80.0, 8: 350.0}
PEAK_PEDS_H = {2: 40.0, 4: 60.0, 6: 40.0, 8: 60.0}
HEADWAY_TICKS = 20          # saturation flow 1800 veh/h: one vehicle every 2.0 s
OCCUPY_TICKS = 4            # ~0.4 s on a 2 m loop at 50 km/h
WINDOW_TICKS = 100          # occupancy measured over 10 s, the slow poll interval


@dataclass(slots=True)
class Detector:
    phase: int
    next_arrival: float = 0.0    # tick of the next arrival
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


@dataclass
class DetectorField:
    rng: random.Random
    phases: tuple[int, ...]
    volume_factor: float = 1.0
    start_tick: int = 0
    detectors: dict[int, Detector] = field(default_factory=dict)
    next_ped: dict[int, float] = field(default_factory=dict)      # phase -> tick of the next push
    _window: int = 0

    def __post_init__(self) -> None:
        for p in self.phases:
            self.detectors[p] = Detector(p, next_arrival=self.start_tick + self._gap(PEAK_VEH_H.get(p, 100.0), 1.0))
        for p in PEAK_PEDS_H:
            if p in self.phases:
                self.next_ped[p] = self.start_tick + self._gap(PEAK_PEDS_H[p], 1.0)

    def _gap(self, per_hour: float, factor: float) -> float:
        rate = per_hour * factor * self.volume_factor / 36000.0      # arrivals per tick
        return math.inf if rate <= 0 else self.rng.expovariate(rate)

    def step(self, tick: int, hour: int, greens: int) -> tuple[set[int], set[int], list[tuple[int, bool]]]:
        """Advance one tick. Returns (occupied detector phases, pressed ped buttons, [(detector, on)] changes).
        Runs every tick for every controller: kept lean (absolute event times, no per-tick allocation of note)."""
        factor = DAY_PROFILE[hour % 24]
        occupied: set[int] = set()
        changes: list[tuple[int, bool]] = []
        for p, d in self.detectors.items():
            while d.next_arrival <= tick:
                d.queue += 1
                d.next_arrival += self._gap(PEAK_VEH_H.get(p, 100.0), factor)
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
