"""Synthetic detector and pushbutton input for the sequencing harness: vehicle arrivals and pushbutton presses
per phase, each a Poisson stream, drawn from one random generator in a fixed global order (tick, vehicles before
pushbuttons, phase order), so a run that jumps over ticks draws exactly what a run stepping every tick draws."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

OCCUPY = 4          # ticks a passing vehicle occupies the loop
NEVER = 1 << 60


@dataclass
class Traffic:
    """Per phase: mean ticks between vehicles (0 = none), a stuck-on detector, and pushbutton presses."""

    gap_ticks: dict[int, int]
    stuck_on: set[int] = field(default_factory=set)
    ped_gap_ticks: dict[int, int] = field(default_factory=dict)


class Arrivals:
    """The input streams of one run. `advance(now)` takes every arrival up to tick `now`: a vehicle occupies its
    detector from its arrival for `OCCUPY` ticks; a press counts in the tick it happens (presses in ticks the
    harness jumped over are dropped: it jumps only over presses that change nothing)."""

    def __init__(self, traffic: Traffic, phases: set[int], seed: int, start: int) -> None:
        self._rng = random.Random(seed)
        self._gap = {p: g for p, g in traffic.gap_ticks.items() if p in phases}
        self._ped_gap = {p: g for p, g in traffic.ped_gap_ticks.items() if p in phases}
        self.stuck = frozenset(traffic.stuck_on & phases)
        self.next_car = {p: start + self._draw(g) if g else NEVER for p, g in self._gap.items()}
        self.next_ped = {p: start + self._draw(g) if g else NEVER for p, g in self._ped_gap.items()}
        self.busy_until = dict.fromkeys(self.next_car, 0)
        self._heap = [(at, 0, i, p) for i, (p, at) in enumerate(self.next_car.items()) if at < NEVER]
        self._heap += [(at, 1, i, p) for i, (p, at) in enumerate(self.next_ped.items()) if at < NEVER]
        heapq.heapify(self._heap)

    def _draw(self, gap: int) -> int:
        return 1 + int(self._rng.expovariate(1 / gap))

    def advance(self, now: int) -> set[int]:
        """Take the arrivals up to `now`; returns the phases whose pushbutton is pressed at `now`."""
        pressed: set[int] = set()
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, kind, i, p = heap[0]
            if kind == 0:
                self.busy_until[p] = at + OCCUPY
                nxt = self.next_car[p] = at + self._draw(self._gap[p])
            else:
                if at == now:
                    pressed.add(p)
                nxt = self.next_ped[p] = at + self._draw(self._ped_gap[p])
            heapq.heapreplace(heap, (nxt, kind, i, p))
        return pressed

    def occupied(self, now: int) -> set[int]:
        """Phases whose detector is occupied at `now` (after `advance(now)`)."""
        occupied = set(self.stuck)
        for p, until in self.busy_until.items():
            if until > now:
                occupied.add(p)
        return occupied
