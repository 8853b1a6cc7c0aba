"""The MMU (malfunction management unit) and the coordination watch. Pure.

The MMU knows nothing of the timing plan: its permissive matrix comes from the cabinet (`SignalCabinet`). Every
tick it looks at what the load switches drive (green, yellow, walk of each channel); two channels the matrix does
not permit, active together for longer than the persistence time (300 ms: an MMU must not trip under 200 ms and
must trip by 500 ms), latch a conflict flash.
"""

from __future__ import annotations

from firmware_sim.signal_cabinet import CHANNELS, SignalCabinet

PERSISTENCE_TICKS = 3       # a conflict seen on 4 consecutive 0.1 s ticks has lasted 300..400 ms


class ConflictMonitor:
    """Which channels may not show green, yellow or walk together, from the cabinet's permissive matrix."""

    def __init__(self, cabinet: SignalCabinet) -> None:
        channels = range(1, CHANNELS + 1)
        self.masks = {p: sum(1 << (q - 1) for q in channels if not cabinet.compatible(p, q)) for p in channels}
        self._active, self._conflict = -1, False
        self.persisted = 0          # consecutive ticks with a conflict

    def first_conflicting_pair(self, phases: list[int]) -> tuple[int, int]:
        """Two phases in use that conflict (the forced-conflict fault drives them both green)."""
        for a in sorted(phases):
            for b in sorted(phases):
                if self.masks[a] & (1 << (b - 1)):
                    return a, b
        raise ValueError("no two phases in use conflict")

    def conflict(self, active: int) -> bool:
        """True when any two channels active in `active` (bit n-1 = channel n) conflict. Outputs change a few
        times a cycle, so the answer is cached for the last mask."""
        if active != self._active:
            self._active = active
            self._conflict = any(active & (1 << (p - 1)) and active & mask for p, mask in self.masks.items())
        return self._conflict

    def observe(self, active: int) -> bool:
        """One tick of the monitor: True when a conflict has persisted long enough to latch flash."""
        if self.conflict(active):
            self.persisted += 1
            return self.persisted > PERSISTENCE_TICKS
        self.persisted = 0
        return False


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
