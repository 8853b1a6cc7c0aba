"""The conflict monitor's test (the MMU's permissive matrix) and the coordination watch. Pure."""

from __future__ import annotations

from firmware_sim.plan import Plan


class ConflictMonitor:
    """Which phases may not show green, yellow or walk together, from the plan's rings and barriers."""

    def __init__(self, plan: Plan) -> None:
        self.masks = {p: sum(1 << (q - 1) for q in plan.phases if plan.conflicts(p, q)) for p in plan.phases}
        self._active, self._conflict = -1, False

    def first_conflicting_pair(self) -> tuple[int, int]:
        """Two phases that conflict (the forced-conflict fault drives them both green)."""
        a = min(self.masks)
        return a, min(q for q in self.masks if self.masks[a] & (1 << (q - 1)))

    def conflict(self, active: int) -> bool:
        """True when any two phases active in `active` (bit n-1 = phase n) conflict. Outputs change a few times a
        cycle, so the answer is cached for the last mask."""
        if active != self._active:
            self._active = active
            self._conflict = any(active & (1 << (p - 1)) and active & mask for p, mask in self.masks.items())
        return self._conflict


class CoordinationWatch:
    """Coordination failure: the coordinated phase started more than `late_ticks` late in `cycles` cycles running;
    cleared after as many cycles in step. The first cycles after a pattern change (the transition) do not count."""

    def __init__(self, cycles: int = 3, late_ticks: int = 20) -> None:
        self.cycles, self.late_ticks = cycles, late_ticks
        self.reset()

    def reset(self) -> None:
        self._seen, self._run = 0, 0

    def observe(self, late: int) -> bool | None:
        """Record one coordinated-phase start `late` ticks after schedule; returns True (raise), False (clear) or
        None (no change)."""
        if self._seen < self.cycles:
            self._seen += 1
            return None
        self._run = max(self._run, 0) + 1 if late > self.late_ticks else min(self._run, 0) - 1
        if self._run >= self.cycles:
            return True
        if self._run <= -self.cycles:
            return False
        return None
