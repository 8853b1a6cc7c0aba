"""State of the rings and of the signal heads, and phase timings in ticks: the sequencer's data. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.coordination import ticks
from firmware_sim.plan import PhaseTiming

GREEN, YELLOW, RED, IDLE = "green", "yellow", "red", "idle"
WALK, PED_CLEAR, DONT_WALK = "walk", "ped_clear", "dont_walk"


@dataclass(slots=True)
class Ring:
    order: tuple[int, ...]
    phase: int | None = None
    interval: str = IDLE
    t: int = 0
    gap: int = 0
    ready: bool = False
    waiting: bool = False
    reason: int = 0
    deadline: int | None = None
    served: bool = False            # a phase of this ring timed in the current barrier group
    max_from: int | None = None     # green tick when the first conflicting call came (the max timer runs from it)
    next_phase: int | None = None
    ped: str = DONT_WALK
    ped_t: int = 0


@dataclass(frozen=True, slots=True)
class PhaseTicks:
    """A phase's timings in ticks, computed once per plan (the tick loop compares against these)."""

    min_green: int
    max_green: int
    passage: int
    yellow: int
    red_clear: int
    walk: int
    ped_clear: int

    @classmethod
    def of(cls, t: PhaseTiming) -> PhaseTicks:
        return cls(ticks(t.min_green_s), ticks(t.max_green_s), ticks(t.passage_s), ticks(t.yellow_s),
                   ticks(t.red_clear_s), ticks(t.walk_s or 0), ticks(t.ped_clear_s or 0))


@dataclass(frozen=True, slots=True)
class EntryLimits:
    """Preemption entry (ticks; None = not shortened): a green that must end for a preempt keeps at most this
    much min green, walk and pedestrian clearance (MUTCD 4D.27: walk and pedestrian change may be shortened or
    omitted; yellow change and red clearance never are)."""

    min_green: int | None = None
    walk: int | None = None
    ped_clear: int | None = None


@dataclass(slots=True)
class Outputs:
    green: int = 0       # bit masks, bit n-1 = phase n
    yellow: int = 0
    red: int = 0
    walk: int = 0
    ped_clear: int = 0
