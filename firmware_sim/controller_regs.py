"""The signal controller's Modbus face: its register image (signal-controller-v1) and what writes do.

`refresh()` copies the firmware state into the image (called before a master reads). `write()` takes a master's
write to the holding table, stores it and acts on it: the command block executes when the write covers
`cmd_token`; `event_ack` drops acknowledged events; `clock_set_s` sets the clock; `plan_commit` ends a plan
transfer. Out-of-range values get Modbus exception 3 (illegal data value) and change nothing.
"""

from __future__ import annotations

import logging

from firmware_sim.eventlog import ENTRY_REGISTERS
from firmware_sim.plan_transfer import PlanTransfer
from firmware_sim.regmap import RegisterImage, load_map
from firmware_sim.signal_controller import CAUSES, MODES, RESULT, SignalController

log = logging.getLogger(__name__)

PROFILE = "signal-controller-v1"
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
ALARM_BITS = ("conflict_flash", "local_flash", "door_open", "power_fail", "detector_fault", "coordination_failure",
              "clock_drift", "plan_deploy_failed")


class ControllerRegisters:
    def __init__(self, ctrl: SignalController, *, model: str = "SL-TS2-8", firmware: str = "fw-2.4.1") -> None:
        self.ctrl = ctrl
        self.map = load_map(PROFILE)
        self.image = RegisterImage(self.map)
        self._writable = self.map.writable()
        self.transfer = PlanTransfer(ctrl, self.image)
        ctrl.on_plan_activated = self.transfer.activated
        fifo = self.map.areas["event_fifo"]
        self._fifo_at, self._fifo_len = fifo.address, fifo.registers
        self._fifo_entries = fifo.registers // ENTRY_REGISTERS      # the window on the (longer) device log
        self.image.set("firmware", firmware)
        self.image.set("model", model)
        self.image.set("phases_in_use", sum(1 << (p - 1) for p in ctrl.plan.phases))
        self.refresh()

    def refresh(self) -> None:
        """Copy the controller's state into the input registers."""
        c, img = self.ctrl, self.image
        out = c.display
        img.set("phase_green", out.green)
        img.set("phase_yellow", out.yellow)
        img.set("phase_red", out.red)
        img.set("ped_walk", out.walk)
        img.set("ped_clear", out.ped_clear)
        img.set("mode", MODES[c.mode])
        img.set("flash_cause", CAUSES[c.flash_cause if c.mode == "flash" else "none"])
        pattern = c.seq.pattern
        running = c.mode in ("coordinated", "manual_hold") and pattern is not None
        img.set("pattern", pattern.pattern if running and pattern else 0)
        img.set("cycle_timer_s", c.seq.cycle_timer(c.local_ticks()) / 10 if running else 0)
        img.set("cycle_s", pattern.cycle_s if running and pattern else 0)
        img.set("control_source", 1 if c.central is not None else 0)
        img.set("backup_remaining_s", c.backup_remaining_s())
        img.set("alarm_flags", sum(1 << i for i, name in enumerate(ALARM_BITS) if name in c.alarms))
        img.set("detectors", c.detectors.mask)
        img.set("plan_crc32", self.transfer.active_crc)
        img.set("controller_time_s", c.epoch_ticks // 10)
        img.set("event_count", min(len(c.events.entries), self._fifo_entries))
        img.set("events_waiting", min(len(c.events.entries), 0xFFFF))
        img.set("events_lost", c.events.overflows & 0xFFFFFFFF)
        img.set("plan_status", self.transfer.status)
        img.set("plan_error", self.transfer.error)
        for n, det in c.detectors.detectors.items():
            if n <= 8:
                img.set(f"det{n}_count", det.count)
                img.set(f"det{n}_occupancy_pct", det.occupancy_pct)
        img.set("cabinet_temp_c", c.cabinet_temp_c())
        img.set("mains_voltage_v", c.mains_voltage_v())
        img.set("uptime_s", c.uptime_ticks // 10)
        if c.events.changed:
            words = c.events.registers(self._fifo_entries)
            self.image.tables["input"][self._fifo_at:self._fifo_at + self._fifo_len] = words
            c.events.changed = False

    def write(self, address: int, values: list[int]) -> int | None:
        """A master wrote `values` at holding `address`; returns a Modbus exception code or None."""
        holding = self.image.tables["holding"]
        if not set(range(address, address + len(values))) <= self._writable:
            return ILLEGAL_ADDRESS          # a gap in the map, or past its end: refused, nothing written
        before = holding[address:address + len(values)]
        holding[address:address + len(values)] = values
        touched = set(range(address, address + len(values)))
        pts = self.map.points
        try:
            if pts["cmd_token"].address in touched:
                self._command()
            if pts["event_ack"].address in touched:
                self.ctrl.events.ack(self.image.raw("event_ack"))
            if touched & {pts["clock_set_s"].address, pts["clock_set_s"].address + 1}:
                self.ctrl.set_clock(self.image.raw("clock_set_s"))
                log.info("clock_set device=%s epoch_s=%d", self.ctrl.device_id, self.image.raw("clock_set_s"))
            if pts["plan_commit"].address in touched:
                self.transfer.commit(self.image.raw("plan_commit"))
        except ValueError as exc:
            holding[address:address + len(values)] = before
            log.warning("write_refused device=%s address=%d error=%s", self.ctrl.device_id, address, exc)
            return ILLEGAL_VALUE
        self.transfer.touched(touched)
        return None

    def _command(self) -> None:
        token = self.image.raw("cmd_token")
        if token == 0:
            raise ValueError("cmd_token 0 is reserved; use 1..65535")
        result = self.ctrl.command(self.image.raw("cmd_code"), self.image.raw("cmd_pattern"),
                                   self.image.raw("cmd_duration_s"))
        self.image.set("cmd_result_token", token)
        self.image.set("cmd_result_code", RESULT[result])
        self.refresh()
