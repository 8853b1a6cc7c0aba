"""Signal controller firmware: modes, central commands with backup timer, schedule, and its register image.

`SignalController.step()` advances the firmware one 0.1 s tick of its own clock; `on_write()` receives Modbus
writes (command block, event ack, clock set, plan transfer). Mode precedence, highest first: conflict flash
(latched until `reset_conflict`), central command (until its backup timer runs out or `release`), local schedule.
Programmed flash is entered through yellow and red clearance; startup and leaving flash go through all red.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from firmware_sim.conflict_monitor import ConflictMonitor, CoordinationWatch
from firmware_sim.coordination import Coordination, ticks
from firmware_sim.detectors import Advance, DetectorField, Upstream
from firmware_sim.eventlog import EventFifo
from firmware_sim.plan import Plan, default_plan_doc, parse_plan
from firmware_sim.preemption import Preemptor, PreemptRun
from firmware_sim.ring_state import Outputs
from firmware_sim.schedule import scheduled_action
from firmware_sim.sequencer import Sequencer
from firmware_sim.signal_cabinet import SignalCabinet

log = logging.getLogger(__name__)

MODES = {"dark": 0, "flash": 1, "free": 2, "coordinated": 3, "manual_hold": 4, "preempt": 5}
CAUSES = {"none": 0, "conflict": 1, "local": 2, "central": 3, "startup": 4, "schedule": 5}
RESULT = {"pending": 0, "ok": 1, "invalid_args": 2, "refused": 3, "busy": 4, "device_fault": 5, "unknown": 6}
STARTUP_FLASH_S = 5.0
STARTUP_RED_S = 3.0
EVENT_LOG_ENTRIES = 1024            # a real controller keeps at least 1,000 events
# NTCIP 1202 unitFlashStatus, the parameter of event 173.
FLASH_STATUS = {"none": 2, "schedule": 3, "central": 3, "local": 4, "conflict": 6, "startup": 7, "watchdog": 5}
PREEMPT_FLASH_STATUS = 8    # NTCIP unitFlashStatus preempt: a preempt that exits to flash (cause `local` on the wire)
PATTERN_FREE, PATTERN_FLASH = 254, 255       # event 131 parameters that are not pattern numbers


@dataclass(slots=True)
class Central:
    action: str              # "pattern" | "flash" | "free"
    pattern: int | None
    expires_tick: int | None  # controller tick when the backup timer runs out; None: until release


class SignalController:
    """One NEMA dual-ring controller. Not thread-safe; driven from one event loop. Never blocks."""

    def __init__(self, device_id: str, start: datetime, rng: random.Random, *, plan: Plan | None = None,
                 tz: str = "Asia/Ho_Chi_Minh", offset_s: float = 0.0, cabinet: SignalCabinet | None = None,
                 detector_layout: dict[int, Advance] | None = None) -> None:
        self.device_id = device_id
        self.cabinet = cabinet or SignalCabinet()
        self.rng = rng
        self.tz = ZoneInfo(tz)
        self.plan_doc = default_plan_doc(device_id, offset_s)
        self.plan = plan or parse_plan(self.plan_doc)
        self.cabinet.check_plan(self.plan)
        self.pending_plan: Plan | None = None
        self.on_plan_activated: Callable[[], None] | None = None
        self.temp_c = 28.0 + rng.uniform(-2, 4)
        # Sensor noise is drawn when a master reads, so it gets its own generator: how often the controller is
        # polled must not change its traffic (the run stays reproducible under the seed).
        self.noise = random.Random(rng.random())
        self.powered = True
        self.coordination_watch = CoordinationWatch()
        self._offset_minute, self._offset_ticks = -1, 0
        self._sched_minute = -1
        self._sched: tuple[str, int | None] | None = None
        self.epoch_ticks = ticks(start.astimezone(UTC).timestamp())
        self.uptime_ticks = 0
        self.sim_ticks = 0
        self.seq = Sequencer(self.plan, self._event, recall=frozenset(self._main_phases()))
        self.detector_layout = detector_layout      # advance detectors by phase; None: the default layout
        self._upstream: tuple[Coordination | None, Upstream | None] = (None, None)
        self.detectors = DetectorField(rng, tuple(sorted(self.plan.phases)), layout=detector_layout)
        self.mode = "flash"
        self.flash_cause = "startup"
        self.central: Central | None = None
        self.conflict_latched = False
        self.force_conflict = False
        self.red_until: int | None = None
        self._running: tuple[str, int | None] = ("flash", None)
        self.events = EventFifo(EVENT_LOG_ENTRIES)
        self.alarms: set[str] = set()
        self.event_sink: Callable[[int, int, int], None] | None = None      # (code, param, epoch_ms)
        self.alarm_sink: Callable[[str, bool], None] | None = None
        self.mmu = ConflictMonitor(self.cabinet)
        self.display = Outputs()
        self.preempts = Preemptor()
        self.preempt_flash = False      # a preempt exited to flash: held until a central release or power cycle
        self.watchdog_tripped = False
        self._buttons: set[int] = set()
        self._event(173, FLASH_STATUS["startup"])
        self._log_pattern(PATTERN_FLASH)

    def _log_pattern(self, number: int) -> None:
        """The pattern the controller runs from now (131: its number, 254 free, 255 flash), with its cycle length
        (132) and offset (133) in seconds, 0 when free or flashing: logged together whenever a pattern starts
        (power-up, after flash, after preemption, a pattern change, a new plan), so any window of the log that
        holds a 131 also says the cycle the controller runs, as a real controller's log does."""
        pattern = self.plan.patterns.get(number) if number not in (PATTERN_FREE, PATTERN_FLASH) else None
        self._event(131, number)
        self._event(132, round(pattern.cycle_s) if pattern is not None else 0)
        self._event(133, round(pattern.offset_s) if pattern is not None else 0)

    def _main_phases(self) -> list[int]:
        first = min(self.plan.patterns.values(), key=lambda p: p.pattern, default=None)
        return list(first.coord_phases) if first else [ring[0] for ring in self.plan.rings if ring]

    def accept_plan(self, plan: Plan) -> None:
        """A downloaded plan passed the parser: the cabinet's conflict monitor must permit what it runs together.
        Raises PlanError (the transfer answers invalid_plan); on success it waits for the cycle boundary."""
        self.cabinet.check_plan(plan)
        self.pending_plan = plan

    # ----- time ----------------------------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.epoch_ticks / 10, UTC)

    def local_ticks(self) -> int:
        """Ticks of local wall time since the epoch: the coordination reference (cycle zero at local midnight).
        The zone's UTC offset is looked up once a minute (it changes at most at DST transitions)."""
        minute = self.epoch_ticks // 600
        if minute != self._offset_minute:
            offset = self.now.astimezone(self.tz).utcoffset() or timedelta(0)
            self._offset_minute, self._offset_ticks = minute, ticks(offset.total_seconds())
        return self.epoch_ticks + self._offset_ticks

    def _event(self, code: int, param: int) -> None:
        epoch_ms = self.epoch_ticks * 100
        self.events.add(code, param, epoch_ms)
        if self.event_sink is not None:
            self.event_sink(code, param, epoch_ms)

    def set_alarm(self, name: str, active: bool) -> None:
        """Raise or clear an alarm (names of the register map's alarm_flags bits); reports changes only."""
        if active == (name in self.alarms):
            return
        (self.alarms.add if active else self.alarms.discard)(name)
        log.info("alarm device=%s alarm=%s active=%s", self.device_id, name, active)
        if self.alarm_sink is not None:
            self.alarm_sink(name, active)

    # ----- outputs and the conflict monitor --------------------------------------------------------------------
    def _outputs(self) -> Outputs:
        """What the load switches drive, before the conflict monitor looks at it."""
        if self.mode == "dark":
            return Outputs()
        if self.mode == "flash" and self.seq.idle:
            # The flasher: red, except the channels the cabinet is jumpered to flash yellow (main-street throughs).
            used = sum(1 << (p - 1) for p in self.plan.phases)
            yellow = sum(1 << (p - 1) for p in self.cabinet.flash_yellow) & used
            return Outputs(yellow=yellow, red=used & ~yellow)
        out = self.seq.outputs()
        if self.force_conflict:
            # A welded load switch: the first two conflicting phases both show green.
            a, b = self.mmu.first_conflicting_pair(list(self.plan.phases))
            out.green |= (1 << (a - 1)) | (1 << (b - 1))
            out.red &= ~out.green
        return out

    def monitor(self) -> None:
        """The MMU, every tick: two channels its matrix does not permit, green, yellow or walk together for longer
        than the persistence time, latch flash (the flasher itself is not monitored)."""
        out = self._outputs()
        flashing = self.mode == "dark" or (self.mode == "flash" and self.seq.idle)
        active = 0 if flashing else out.green | out.yellow | out.walk
        if self.mmu.observe(active) and not self.conflict_latched:
            log.warning("conflict_flash device=%s green=%#06x yellow=%#06x walk=%#06x", self.device_id,
                        out.green, out.yellow, out.walk)
            self.conflict_latched = True
            self.seq.halt()
            self.mode, self.flash_cause = "flash", "conflict"
            self._drop_preempt()
            self._event(173, FLASH_STATUS["conflict"])
            self._log_pattern(PATTERN_FLASH)
            self._running = ("flash", None)
            self.set_alarm("conflict_flash", True)
            out = self._outputs()
        self.display = out

    # ----- schedule and mode ---------------------------------------------------------------------------------
    def scheduled(self) -> tuple[str, int | None]:
        """(action, pattern) the local schedule asks for now (re-evaluated once a local minute)."""
        minute_index = self.local_ticks() // 600
        if minute_index != self._sched_minute or self._sched is None:
            self._sched_minute = minute_index
            self._sched = scheduled_action(self.plan, self.now.astimezone(self.tz))
        return self._sched

    def target(self) -> tuple[str, int | None, str, str]:
        """(action, pattern, flash cause, control source) after precedence."""
        if self.conflict_latched:
            return ("flash", None, "conflict", "schedule")
        if self.preempts.run is not None:
            return ("preempt", None, "none", "schedule")
        if self.preempt_flash:
            return ("flash", None, "local", "schedule")
        if self.central is not None:
            return (self.central.action, self.central.pattern, "central", "central")
        action, pattern = self.scheduled()
        return (action, pattern, "schedule", "schedule")

    def _apply_target(self) -> None:
        action, pattern, cause, _ = self.target()
        if action in ("flash", "dark"):
            if self.mode in ("flash", "dark") or self.conflict_latched:
                self.mode, self.flash_cause = action, cause if action == "flash" else "none"
                self.seq.stop()
                return
            self.seq.stop()     # programmed flash: through yellow and red clearance first
            if self.seq.idle:
                self.mode, self.flash_cause = action, cause if action == "flash" else "none"
                if action == "flash":
                    self._event(173, PREEMPT_FLASH_STATUS if self.preempt_flash else FLASH_STATUS[cause])
                    self._log_pattern(PATTERN_FLASH)
                self._running = (action, None)
            return
        if self.mode in ("flash", "dark"):
            if self.uptime_ticks < ticks(STARTUP_FLASH_S):
                return
            self._event(173, FLASH_STATUS["none"])
            self.mode, self.flash_cause = "free", "none"
            self.red_until = self.uptime_ticks + ticks(STARTUP_RED_S)
        if self.red_until is not None:
            if self.uptime_ticks < self.red_until:
                return
            self.red_until = None
            self.seq.set_pattern(self.plan.patterns.get(pattern or 0) if action == "pattern" else None)
            self.seq.restart()
        if action == "preempt":
            self.mode = "preempt"
            return
        if (action, pattern) != self._running:
            self.coordination_watch.reset()
            self.set_alarm("coordination_failure", False)
            self.seq.set_pattern(self.plan.patterns.get(pattern or 0) if action == "pattern" else None)
            self._log_pattern(pattern if action == "pattern" and pattern else PATTERN_FREE)
            self._running = (action, pattern)
        held = self.central is not None and self.central.action == "pattern"
        self.mode = "free" if action == "free" else ("manual_hold" if held else "coordinated")

    # ----- the tick ------------------------------------------------------------------------------------------
    def step(self) -> None:
        """One 0.1 s firmware tick."""
        self.epoch_ticks += 1          # the real-time clock keeps running on its battery
        self.sim_ticks += 1            # the world's time (traffic keeps arriving through a power cut)
        if not self.powered or self.watchdog_tripped:
            return
        self.uptime_ticks += 1
        if self.central is not None and self.central.expires_tick is not None \
                and self.uptime_ticks >= self.central.expires_tick:
            log.info("backup_timer_expired device=%s action=%s", self.device_id, self.central.action)
            self.central = None
        self._apply_target()
        if self.pending_plan is not None:
            self._maybe_activate()
        local = self.local_ticks()
        running = self.mode not in ("flash", "dark") or not self.seq.idle
        greens = self.seq.outputs().green if running else 0
        hour = (local // 36000) % 24
        occupied, pressed, changes = self.detectors.step(self.sim_ticks, hour, greens, local=local,
                                                         upstream=self.upstream() if running else None)
        for det, on in changes:
            self._event(82 if on else 81, det)
        for p in self._buttons - pressed:
            self._event(89, p)
        for p in pressed - self._buttons:
            self._event(90, p)
        self._buttons = pressed
        if self.preempts.active and not self.conflict_latched:
            was = self.preempts.run
            self.preempts.step(self)
            if was is not None and self.preempts.run is None:
                self.end_preempt(flash=was.exit_to_flash)
        if running and self.red_until is None:
            if self.seq.fail_recall:
                occupied = occupied - self.seq.fail_recall     # a failed detector's output is not believed
            self.seq.step(local, occupied, pressed)
            if self.preempts.run is not None:
                self.preempts.observe(self)
            if self.seq.coord_starts:
                self._check_coordination()
        self.monitor()

    def upstream(self) -> Upstream | None:
        """The upstream signal's timing for the platoons: our running coordination's cycle and coordinated phases,
        its coordinated green as long as ours (None when free: no coordination, no platoons)."""
        coord = self.seq.coord
        if coord is not self._upstream[0]:
            up = None if coord is None else Upstream(coord.cycle, coord.force_off[coord.ref_phase] % coord.cycle,
                                                     frozenset(coord.pattern.coord_phases))
            self._upstream = (coord, up)
        return self._upstream[1]

    def _check_coordination(self) -> None:
        for late in self.seq.coord_starts:
            verdict = self.coordination_watch.observe(late)
            if verdict is not None:
                self.set_alarm("coordination_failure", verdict)
        self.seq.coord_starts.clear()

    def _maybe_activate(self) -> None:
        """Switch to the downloaded plan at a cycle boundary (cycle timer 0), or at once in flash, dark or free;
        a plan with another ring/barrier structure goes through all red."""
        new = self.pending_plan
        assert new is not None
        same = new.rings == self.plan.rings and new.barriers == self.plan.barriers and set(new.phases) == set(
            self.plan.phases)
        pattern = self.seq.pattern
        at_boundary = self.mode in ("flash", "dark") or pattern is None or self.seq.at_zero
        if not at_boundary:
            return
        if not same:
            self.seq.stop()
            if not self.seq.idle:
                return
            old = self.seq
            self.seq = Sequencer(new, self._event, recall=frozenset(old.recall), transition=old.transition)
            self.detectors = DetectorField(self.rng, tuple(sorted(new.phases)), start_tick=self.sim_ticks,
                                           layout=self.detector_layout)
            self.red_until = self.uptime_ticks + ticks(STARTUP_RED_S)
        self.plan, self.pending_plan = new, None
        self.seq.set_plan(new)
        self.detector_faults_changed()
        self._running = ("", None)      # re-apply the pattern from the new plan
        self._sched_minute = -1
        log.info("plan_activated device=%s", self.device_id)
        if self.on_plan_activated is not None:
            self.on_plan_activated()

    def power(self, on: bool) -> None:
        """Mains lost (dark, silent) or restored (events 182/184, then startup flash as after any power-up)."""
        if on == self.powered:
            return
        if not on:
            self._event(182, 0)
            self.set_alarm("power_fail", True)
            self.seq.halt()
            self.mode, self.flash_cause, self.powered = "dark", "none", False
            self.display = Outputs()
            return
        self.powered, self.uptime_ticks, self.central = True, 0, None     # central control is volatile
        self.preempt_flash = False
        self.watchdog_tripped = False
        self._drop_preempt()
        self._event(184, 0)
        self._event(173, FLASH_STATUS["startup"])
        self._log_pattern(PATTERN_FLASH)
        self.set_alarm("power_fail", False)
        self.mode, self.flash_cause, self._running = "flash", "startup", ("flash", None)

    def cabinet_temp_c(self) -> float:
        """Cabinet temperature: ambient with a daily swing (hot afternoons in northern Vietnam)."""
        hour = (self.local_ticks() // 36000) % 24
        return self.temp_c + 6.0 * (1 - abs(hour - 14) / 12) + self.noise.uniform(-0.2, 0.2)

    def mains_voltage_v(self) -> float:
        return 0.0 if "power_fail" in self.alarms else 230.0 + self.noise.gauss(0, 1.5)

    # ----- commands ------------------------------------------------------------------------------------------
    def command(self, code: int, pattern: int, duration_s: int) -> str:
        """Execute a central command; returns a result name of `RESULT`."""
        expires = self.uptime_ticks + ticks(duration_s) if duration_s > 0 else None
        if code == 1:
            if pattern not in self.plan.patterns:
                return "invalid_args"
            if self.conflict_latched:
                return "refused"
            self.central = Central("pattern", pattern, expires)
        elif code == 2:
            self.central = Central("flash", None, expires)
        elif code == 3:
            if self.conflict_latched:
                return "refused"
            self.central = Central("free", None, expires)
        elif code == 4:
            self.central = None
            self.preempt_flash = False      # a preempt's exit to flash ends with a release too
        elif code == 5:
            if not self.cabinet.remote_conflict_reset or self.watchdog_tripped:
                return "refused"        # the agency wants a technician at the cabinet to reset a conflict flash
            if self.force_conflict:
                return "refused"        # the cause is still there: a real MMU will not reset either
            if self.conflict_latched:
                self.conflict_latched = False
                self.set_alarm("conflict_flash", False)
        elif code == 6:
            if self.conflict_latched or self.mode == "dark" or not self.powered:
                return "refused"
            self.preempt_input(True, exit_phase=pattern or None, hold_s=duration_s or None)
        elif code == 7:
            self.preempt_input(False)
        else:
            return "unknown"
        log.info("command device=%s code=%d pattern=%d duration_s=%d", self.device_id, code, pattern, duration_s)
        return "ok"

    def backup_remaining_s(self) -> int:
        if self.central is None or self.central.expires_tick is None:
            return 0
        return max(0, -(-(self.central.expires_tick - self.uptime_ticks) // 10))

    # ----- clock, detectors, preemption ----------------------------------------------------------------------
    def set_clock(self, epoch_s: float) -> None:
        """The controller clock was set (central time sync or a technician): event 181."""
        self.epoch_ticks = ticks(epoch_s)
        self._offset_minute = -1
        self._event(181, 0)

    def detector_faults_changed(self) -> None:
        """A detector's diagnostics changed: failed detectors put their phase on fail-safe max recall (its
        input is ignored: a stuck-on loop would extend for ever, a dead one would never call)."""
        failed = {d.phase for d in self.detectors.detectors.values() if d.fault is not None}
        self.seq.fail_recall = failed & set(self.plan.phases)
        self.set_alarm("detector_fault", bool(failed))

    def fail_detector(self, det: int, kind: str | None) -> None:
        """Detector `det` reports fault `kind` (open, shorted, chatter, watchdog, other), or None: restored."""
        d = self.detectors.detectors[det]
        if d.fault == kind:
            return
        d.fault = kind
        self._event(83 if kind is None else DETECTOR_FAULT_EVENTS[kind], det)
        self.detector_faults_changed()

    @property
    def preempt(self) -> PreemptRun | None:
        """The preempt being served, if any."""
        return self.preempts.run

    def preempt_input(self, on: bool, *, number: int = 1, exit_phase: int | None = None,
                      hold_s: float | None = None) -> None:
        """Preempt input `number` (railroad or emergency vehicle) turned on or off. Raises ValueError for an
        input the cabinet does not wire."""
        if number not in self.cabinet.preempts:
            raise ValueError(f"preempt {number} is not wired in this cabinet (wired: {sorted(self.cabinet.preempts)})")
        self.preempts.input(self, number, on, exit_phase, hold_s)

    def gate_down_input(self, down: bool, *, number: int = 1) -> None:
        """The railroad gate-down input of preempt `number` (event 103 when the gates come down)."""
        if number not in self.cabinet.preempts:
            raise ValueError(f"preempt {number} is not wired in this cabinet (wired: {sorted(self.cabinet.preempts)})")
        self.preempts.gate(self, number, down)

    def _drop_preempt(self) -> None:
        self.preempts.clear()
        self.seq.forced = None
        self.seq.entry = None
        self.seq.omit_walk = False

    def watchdog_trip(self) -> None:
        """The firmware failed (an exception in its tick): the MMU's watchdog sees the controller stop and puts
        the intersection in flash, latched until the power is cycled; the device still answers its masters."""
        if self.watchdog_tripped:
            return
        self.watchdog_tripped = True
        self.seq.halt()
        self._drop_preempt()
        self.mode, self.flash_cause, self.conflict_latched = "flash", "conflict", True
        self._event(173, FLASH_STATUS["watchdog"])
        self.set_alarm("conflict_flash", True)
        used = sum(1 << (p - 1) for p in self.plan.phases)
        yellow = sum(1 << (p - 1) for p in self.cabinet.flash_yellow) & used
        self.display = Outputs(yellow=yellow, red=used & ~yellow)

    def end_preempt(self, *, flash: bool = False) -> None:
        """The exit phase runs: back to normal operation (the pattern is taken up again by a transition); or,
        `flash`, the preempt exits to flash, held until a central release (or a power cycle)."""
        self.preempt_flash = flash
        self.preempts.clear()
        self.seq.forced = None
        self.seq.entry = None
        self.seq.omit_walk = False
        self._running = ("", None)


DETECTOR_FAULT_EVENTS = {"other": 84, "watchdog": 85, "open": 86, "shorted": 87, "chatter": 88}
