"""The fleet's firmware loop: advances every device to the virtual clock's time in fixed steps.

Controllers step in 0.1 s ticks, cabinets in 1 s steps (the photocell every 10 s: a sun position is costly), so
what a device does depends on virtual time only. One asyncio task drives the whole fleet; it yields to the
event loop between slices so Modbus and MQTT traffic is served even when a fast clock makes it catch up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from firmware_sim.cabinet import LightingCabinet
from firmware_sim.clock import TICK_S, SimClock
from firmware_sim.signal_controller import SignalController

log = logging.getLogger(__name__)

CABINET_STEP_S = 1.0
LUX_EVERY_S = 10.0
LOOP_REAL_S = 0.05          # how often the loop wakes in real time
MAX_LAG_S = 60.0            # virtual seconds the fleet may fall behind before it skips ahead (and says so)


@dataclass
class Engine:
    clock: SimClock
    controllers: list[SignalController] = field(default_factory=list)
    cabinets: list[LightingCabinet] = field(default_factory=list)
    ticks_done: int = 0
    cabinet_t: float = 0.0
    lux_t: float = -LUX_EVERY_S
    skipped_s: float = 0.0
    lagging: bool = False

    def __post_init__(self) -> None:
        self._t0 = self.clock.now()
        self._m0 = self.clock.monotonic()

    def advance(self, max_ticks: int | None = None) -> bool:
        """Bring every device up to the clock's time, at most `max_ticks` controller ticks in this call.
        Returns True when caught up. CPU work; call from the loop task only, in slices (see `run`)."""
        target_s = self.clock.monotonic() - self._m0
        target = int(target_s / TICK_S + 1e-9)
        if (target - self.ticks_done) * TICK_S > MAX_LAG_S:
            skip = target - self.ticks_done - int(MAX_LAG_S / TICK_S)
            if not self.lagging:        # log the change, not every slice
                log.warning("fleet_lagging behind_s=%.0f devices=%d speed_too_high_for_host=true",
                            (target - self.ticks_done) * TICK_S, len(self.controllers) + len(self.cabinets))
                self.lagging = True
            self.skipped_s += skip * TICK_S
            for ctrl in self.controllers:
                ctrl.epoch_ticks += skip
            self.ticks_done += skip
        clamped = max_ticks is not None and target - self.ticks_done > max_ticks
        if clamped:
            target = self.ticks_done + (max_ticks or 0)
            target_s = target * TICK_S
        while self.ticks_done < target:
            self.ticks_done += 1
            for ctrl in self.controllers:
                try:
                    ctrl.step()
                except Exception:       # a firmware fault flashes that intersection; the rest keep running
                    log.exception("controller_fault device=%s", ctrl.device_id)
                    ctrl.watchdog_trip()
        while self.cabinet_t + CABINET_STEP_S <= target_s:
            self.cabinet_t += CABINET_STEP_S
            now = self._t0 + timedelta(seconds=self.cabinet_t)
            if self.cabinet_t - self.lux_t >= LUX_EVERY_S:
                self.lux_t = self.cabinet_t
                for cab in self.cabinets:
                    cab.photocell_lux = cab.lux(cab.clock(now))
            for cab in self.cabinets:
                cab.step(now, CABINET_STEP_S)
        if self.lagging and not clamped:
            log.info("fleet_caught_up skipped_s=%.1f", self.skipped_s)
            self.lagging = False
        return not clamped

    def slice_ticks(self) -> int:
        """Controller ticks per slice so that one slice costs about 20 ms of CPU (about 15 us a tick)."""
        return max(1, 1300 // max(1, len(self.controllers)))

    async def run(self) -> None:
        """Run until cancelled. Catching up after a stall (or at high speed) is done in slices with a yield
        between them, so Modbus and MQTT traffic is served meanwhile."""
        while True:
            caught_up = self.advance(self.slice_ticks())
            await asyncio.sleep(LOOP_REAL_S if caught_up else 0)
