"""The lighting cabinet's Modbus face: its register image (lighting-cabinet-v2) and what writes do.

Its clock (`device_time_s`/`_ms`) is the cabinet's own at each refresh, and each circuit's last switching
(`circuitN_changed_s`/`_ms`) is on that clock: the gateway stamps what it reads with them (the map's `device_clock`).

The command block (cmd_code .. cmd_token) executes when a write covers `cmd_token`; the result goes to
cmd_result_token / cmd_result_code. Arguments out of range give result invalid_args (the write itself is
accepted, as the map's result registers are how this device reports command errors). `program_commit` ends a
lighting document transfer (`cabinet_transfer`); a value other than 0/1 there is refused (illegal data value).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from firmware_sim.cabinet import LUX_ON, LightingCabinet
from firmware_sim.cabinet_transfer import ProgramTransfer
from firmware_sim.regmap import RegisterImage, load_map

log = logging.getLogger(__name__)

PROFILE = "lighting-cabinet-v2"
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
ALARM_BITS = ("door_open", "power_fail", "breaker_trip", "lamp_failure", "contactor_stuck", "clock_drift",
              "day_burner", "dark_lamp")
OK, INVALID_ARGS, UNKNOWN = 1, 2, 6


class CabinetRegisters:
    def __init__(self, cab: LightingCabinet, *, model: str = "SL-LC4", firmware: str = "fw-1.7.0") -> None:
        self.cab = cab
        self.map = load_map(PROFILE)
        self.image = RegisterImage(self.map)
        self._writable = self.map.writable()
        self.now: datetime | None = None
        self.image.set("firmware", firmware)
        self.image.set("model", model)
        self.image.set("circuits", len(cab.circuits))
        self.transfer = ProgramTransfer(cab, self.image, lambda: self.now)

    def refresh(self, now: datetime) -> None:
        """Copy the cabinet's state at virtual time `now` into the image."""
        self.now = now
        cab, img = self.cab, self.image
        clock = cab.clock(now)
        for c in cab.circuits[:4]:
            n = c.number
            img.set(f"circuit{n}_on", c.on)
            img.set(f"breaker{n}_tripped", c.breaker_tripped)
            img.set(f"circuit{n}_level_pct", c.level_pct)
            img.set(f"circuit{n}_current_a", c.current_a)
            img.set(f"circuit{n}_control", 1 if c.overridden else 0)
            remaining = (c.override_until - clock).total_seconds() if c.overridden and c.override_until else 0
            img.set(f"circuit{n}_override_remaining_s", max(0.0, remaining))
            img.set(f"circuit{n}_burning_h", c.burning_s / 3600.0)
            img.set(f"circuit{n}_switch_count", c.switch_count)
            changed = cab.clock(c.changed_at).timestamp() if c.changed_at is not None else 0.0
            img.set(f"circuit{n}_changed_s", int(changed))
            img.set(f"circuit{n}_changed_ms", int((changed - int(changed)) * 1000))
        img.set("door_open", cab.door_open)
        img.set("mains_ok", cab.mains_ok)
        img.set("photocell_dark", cab.photocell_lux < LUX_ON)
        for name, value in cab.phase_values().items():
            if name in self.map.points:      # the map has per-phase V and I; power only as a total
                img.set(name, value)
        img.set("active_power_w", cab.active_power_w())
        img.set("energy_kwh", cab.energy_kwh)
        img.set("photocell_lux", cab.photocell_lux)
        img.set("cabinet_temp_c", cab.temp_c)
        img.set("controller_time_s", int(clock.timestamp()))
        stamp = clock.timestamp()
        img.set("device_time_s", int(stamp))
        img.set("device_time_ms", int((stamp - int(stamp)) * 1000))
        img.set("clock_offset_s", cab.clock_offset_s)
        alarms = cab.alarms(now)
        img.set("alarm_flags", sum(1 << i for i, name in enumerate(ALARM_BITS) if name in alarms))
        img.set("program_crc32", cab.program_crc32 or 0)
        img.set("program_status", self.transfer.status)
        img.set("program_error", self.transfer.error)

    def write(self, address: int, values: list[int]) -> int | None:
        """A master wrote holding registers; returns a Modbus exception code or None."""
        holding = self.image.tables["holding"]
        if not set(range(address, address + len(values))) <= self._writable:
            return ILLEGAL_ADDRESS          # a gap in the map, or past its end: refused, nothing written
        before = holding[address:address + len(values)]
        holding[address:address + len(values)] = values
        touched = set(range(address, address + len(values)))
        if self.map.points["program_commit"].address in touched:
            try:
                self.transfer.commit(self.image.raw("program_commit"))
            except ValueError as exc:
                holding[address:address + len(values)] = before
                log.warning("write_refused device=%s address=%d error=%s", self.cab.device_id, address, exc)
                return ILLEGAL_VALUE
        self.transfer.touched(touched)
        if self.map.points["cmd_token"].address in touched:
            code = self._command()
            self.image.set("cmd_result_token", self.image.raw("cmd_token"))
            self.image.set("cmd_result_code", code)
        clock_at = self.map.points["clock_set_s"].address
        if touched & {clock_at, clock_at + 1} and self.now is not None:
            self.cab.clock_offset_s = self.image.raw("clock_set_s") - self.now.timestamp()
        if self.now is not None:
            self.refresh(self.now)
        return None

    def _command(self) -> int:
        img, now = self.image, self.now
        code, circuit = img.raw("cmd_code"), img.raw("cmd_circuit")
        level, duration = img.raw("cmd_level_pct"), img.raw("cmd_duration_s")
        try:
            if code == 1:
                until = self.cab.clock(now) + timedelta(seconds=duration) if duration and now else None
                self.cab.switch(circuit, level, until)
            elif code == 2:
                self.cab.release(circuit)
            else:
                return UNKNOWN
        except ValueError as exc:
            log.warning("command_refused device=%s code=%d error=%s", self.cab.device_id, code, exc)
            return INVALID_ARGS
        if now is not None:
            self.cab.step(now, 0.0)     # contactors follow at once, so the next read shows the new state
        return OK
