"""What a signal cabinet is wired and programmed for, apart from the controller: the MMU's permissive matrix
(its compatibility card), which phases flash yellow, the preemption inputs, and whether a conflict flash may be
reset remotely. A downloaded timing plan cannot change any of it: that is the point of an independent monitor.

The default is the NEMA dual-ring cabinet: compatible pairs 1-5, 1-6, 2-5, 2-6, 3-7, 3-8, 4-7, 4-8; the main
street throughs 2 and 6 flash yellow, everything else red. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.plan import Plan, PlanError

NEMA_DUAL_RING = frozenset(frozenset(p) for p in ((1, 5), (1, 6), (2, 5), (2, 6), (3, 7), (3, 8), (4, 7), (4, 8)))
CHANNELS = 16


@dataclass(frozen=True, slots=True)
class Preemption:
    """A railroad/emergency preempt run: track clearance phases, then dwell phases while the input holds, then the
    exit phases. Times in seconds."""

    track_phases: tuple[int, ...] = ()
    track_clear_s: float = 15.0
    dwell_phases: tuple[int, ...] = (2, 6)
    min_dwell_s: float = 10.0
    exit_phases: tuple[int, ...] = (2, 6)
    max_presence_s: float = 600.0


@dataclass(frozen=True, slots=True)
class SignalCabinet:
    permissive: frozenset[frozenset[int]] = NEMA_DUAL_RING
    flash_yellow: frozenset[int] = frozenset({2, 6})
    remote_conflict_reset: bool = True
    preemption: Preemption = field(default_factory=Preemption)

    def compatible(self, a: int, b: int) -> bool:
        return a == b or frozenset((a, b)) in self.permissive

    def forbidden_pairs(self, plan: Plan) -> list[tuple[int, int]]:
        """Pairs of phases that `plan` lets time together but this cabinet's matrix does not permit."""
        phases = sorted(plan.phases)
        return [(a, b) for i, a in enumerate(phases) for b in phases[i + 1:]
                if not plan.conflicts(a, b) and not self.compatible(a, b)]

    def check_plan(self, plan: Plan) -> None:
        """Raise PlanError when the plan would run phases together that the MMU forbids (or flash a phase yellow
        with a conflicting one)."""
        bad = self.forbidden_pairs(plan)
        if bad:
            pairs = ", ".join(f"{a}+{b}" for a, b in bad)
            raise PlanError(f"rings/barriers: the cabinet's conflict monitor forbids {pairs} together")

    @classmethod
    def from_doc(cls, doc: dict[str, Any], where: str = "cabinet") -> SignalCabinet:
        """From JSON: {"permissive": [[1, 5], ...], "flash_yellow": [2, 6], "remote_conflict_reset": true,
        "preemption": {...}}; missing keys keep the defaults. Raises ValueError naming the field."""
        def phase(value: Any, at: str) -> int:
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= CHANNELS:
                raise ValueError(f"{at}: expected a phase 1..{CHANNELS}, found {value!r}")
            return value

        def phases(value: Any, at: str) -> tuple[int, ...]:
            if not isinstance(value, list):
                raise ValueError(f"{at}: expected a list of phases, found {value!r}")
            return tuple(phase(v, f"{at}[{i}]") for i, v in enumerate(value))

        def seconds(value: Any, at: str) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"{at}: expected a finite number of seconds >= 0, found {value!r}")
            return float(value)

        base = cls()
        permissive = base.permissive
        if "permissive" in doc:
            raw = doc["permissive"]
            if not isinstance(raw, list):
                raise ValueError(f"{where}.permissive: expected a list of phase pairs, found {raw!r}")
            pairs = [phases(pair, f"{where}.permissive[{i}]") for i, pair in enumerate(raw)]
            if any(len(pair) != 2 or pair[0] == pair[1] for pair in pairs):
                raise ValueError(f"{where}.permissive: every entry is a pair of two different phases")
            permissive = frozenset(frozenset(pair) for pair in pairs)
        flash_yellow = frozenset(phases(doc["flash_yellow"], f"{where}.flash_yellow")) \
            if "flash_yellow" in doc else base.flash_yellow
        remote = doc.get("remote_conflict_reset", True)
        if not isinstance(remote, bool):
            raise ValueError(f"{where}.remote_conflict_reset: expected true or false, found {remote!r}")
        pre = base.preemption
        raw_pre = doc.get("preemption", {})
        if not isinstance(raw_pre, dict):
            raise ValueError(f"{where}.preemption: expected an object, found {raw_pre!r}")
        at = f"{where}.preemption"
        pre = Preemption(
            phases(raw_pre.get("track_phases", list(pre.track_phases)), f"{at}.track_phases"),
            seconds(raw_pre.get("track_clear_s", pre.track_clear_s), f"{at}.track_clear_s"),
            phases(raw_pre.get("dwell_phases", list(pre.dwell_phases)), f"{at}.dwell_phases"),
            seconds(raw_pre.get("min_dwell_s", pre.min_dwell_s), f"{at}.min_dwell_s"),
            phases(raw_pre.get("exit_phases", list(pre.exit_phases)), f"{at}.exit_phases"),
            seconds(raw_pre.get("max_presence_s", pre.max_presence_s), f"{at}.max_presence_s"))
        return cls(permissive, flash_yellow, remote, pre)
