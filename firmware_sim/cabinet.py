"""Lighting cabinet firmware: circuits with contactor and dim level, a deployed lighting program (format v1,
`cabinet_program`), overrides with expiry, a three-phase meter, a photocell, and faults. Stepped by the fleet in
virtual time; pure otherwise.

The program is the last good lighting document deployed (`deploy`), else the factory one (sunset + 10 min on,
50 % from 23:00, sunrise - 10 min off); a refused document changes nothing. An override (`switch` with `until`)
holds a circuit at a level until it expires or is released. A circuit is lit when its contactor is closed, its
breaker is in and mains is present; a tripped breaker shows the circuit off (0 A), whatever the contactor does.
Power is P = n_ok · rated_w · level/100 per lit circuit (LED drivers are near-constant power); a contactor stuck
closed while the program says off lights its lamps at full power (no dimming signal: the drivers' default), which
is what a day burner costs. Phases a/b/c carry circuits 1/2/3, 4/5/6, ...

The photocell sees a clear-sky illuminance from the sun's elevation (twilight from measured curves: ~400 lx at
sunset, ~25 lx at -4°, ~3 lx at -6°), times `sky_factor` (1 clear, ~0.01 under storm clouds), with sensor noise.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import elevation, sun

from firmware_sim.cabinet_program import CabinetProgram, ProgramError, default_document

log = logging.getLogger(__name__)

NOMINAL_V = 230.0
POWER_FACTOR = 0.95
LUX_ON = 30.0          # photocell switch-on threshold
LUX_DAYLIGHT = 1000.0  # above this a lit lamp is a day burner
# Horizontal illuminance under a clear sky by the sun's elevation in twilight (degrees, lux): the civil-twilight
# curve of the IES/USNO tables. Interpolated on log(lux), since it falls by a decade every ~2.5°.
TWILIGHT = ((-18.0, 0.0008), (-12.0, 0.008), (-9.0, 0.3), (-6.0, 3.4), (-5.0, 8.0), (-4.0, 25.0), (-3.0, 60.0),
            (-2.0, 130.0), (-1.0, 250.0), (0.0, 400.0))


@dataclass(slots=True)
class Circuit:
    number: int
    luminaires: int
    rated_w: float
    on: bool = False            # lit: contactor closed, breaker in, mains present
    contactor: bool = False     # contactor closed
    program_level_pct: float = 0.0
    level_pct: float = 0.0
    override_until: datetime | None = None
    override_level: float = 0.0
    overridden: bool = False
    failed: int = 0
    breaker_tripped: bool = False
    contactor_stuck: bool | None = None     # stuck closed (True) / open (False) / healthy (None)
    burning_s: float = 0.0
    switch_count: int = 0
    rated_life_h: float = 50_000.0  # LED luminaires' rated life (L70), the usual datasheet figure
    changed_at: datetime | None = None  # the step at which it last went on/off or changed level (its event log)

    def load(self) -> dict[str, Any]:
        """What the circuit feeds, as a birth's (or a manifest's) `loads` entry."""
        return {"circuit": self.number, "luminaires": self.luminaires, "rated_w": self.rated_w,
                "rated_life_h": self.rated_life_h}

    @property
    def current_a(self) -> float:
        if not self.on or self.breaker_tripped:
            return 0.0
        watts = (self.luminaires - self.failed) * self.rated_w * max(self.level_pct, 1.0) / 100.0
        return watts / (NOMINAL_V * POWER_FACTOR)

    def faults(self, lux: float) -> list[str]:
        """This circuit's faults, as the cabinet's own monitor sees them."""
        found = []
        if self.breaker_tripped:
            found.append("breaker_trip")
        if self.on and self.failed:
            found.append("lamp_failure")
        if self.contactor_stuck is not None:
            found.append("contactor_stuck")
        if self.on and not self.overridden and self.program_level_pct == 0 and lux > LUX_DAYLIGHT:
            found.append("day_burner")
        if not self.on and not self.overridden and self.program_level_pct > 0:
            found.append("dark_lamp")
        return found


@dataclass
class LightingCabinet:
    device_id: str
    lat: float
    lon: float
    rng: random.Random
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    circuits: list[Circuit] = field(default_factory=list)
    program: CabinetProgram | None = None
    program_crc32: int | None = None        # None: the factory program
    program_activated_at: datetime | None = None
    sky_factor: float = 1.0
    door_open: bool = False
    mains_ok: bool = True
    energy_kwh: float = 0.0
    photocell_lux: float = 0.0
    clock_offset_s: float = 0.0
    drift_s_per_h: float = 0.0
    temp_c: float = 30.0
    noise: random.Random = field(default_factory=random.Random)
    flash: Path | None = None   # where the cabinet keeps its deployed program across a power cycle (None: RAM only)
    _sun: dict[date, tuple[datetime, datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.circuits:
            self.circuits = [Circuit(n, self.rng.randint(12, 30), self.rng.choice((60.0, 90.0, 120.0, 150.0)))
                             for n in range(1, 5)]
        self.temp_c += self.rng.uniform(-2, 2)
        # Meter noise is drawn per read (Modbus poll or telemetry): its own generator keeps behaviour reproducible.
        self.noise = random.Random(self.rng.random())
        if self.program is None and self.flash is not None and self.flash.is_file():
            try:
                kept = json.loads(self.flash.read_text(encoding="utf-8"))
                self.program, self.program_crc32 = CabinetProgram(kept["document"], self.lat, self.lon), kept["crc32"]
                log.info("program_restored device=%s crc32=%08x", self.device_id, self.program_crc32)
            except (OSError, ValueError, KeyError, TypeError, ProgramError) as exc:  # a bad flash: factory program
                log.warning("program_flash_unreadable device=%s path=%s error=%s", self.device_id, self.flash, exc)
        if self.program is None:
            self.program = CabinetProgram(default_document(len(self.circuits), self.lat, self.lon, self.tz.key),
                                          self.lat, self.lon)

    # ----- program -------------------------------------------------------------------------------------------
    def sun_times(self, day: date) -> tuple[datetime, datetime]:
        """(sunrise, sunset) of a local date at the cabinet, UTC."""
        if day not in self._sun:
            times = sun(Observer(self.lat, self.lon), date=day, tzinfo=self.tz)
            self._sun = {day: (times["sunrise"].astimezone(UTC), times["sunset"].astimezone(UTC))}
        return self._sun[day]

    def program_level(self, now: datetime, circuit: int = 1) -> float:
        """Level (0 = off) the lighting program asks of `circuit` at `now` (cabinet clock, UTC)."""
        assert self.program is not None
        return self.program.level(circuit, now)

    def deploy(self, doc: dict[str, Any], crc32: int, now: datetime) -> None:
        """Run the lighting document `doc` from now on. Raises ProgramError (naming the field) and keeps the
        running program when the firmware refuses it."""
        program = CabinetProgram(doc, self.lat, self.lon)
        if self.program is not None:
            # The photocell's verdict belongs to the sensor, not to the document: carry it over.
            verdicts = [cell.dark for cell in self.program.cells.values() if cell.dark is not None]
            for cell in program.cells.values():
                cell.dark = verdicts[0] if verdicts else None
        self.program, self.program_crc32, self.program_activated_at = program, crc32, now
        log.info("program_deployed device=%s crc32=%08x name=%s", self.device_id, crc32, program.name)
        if self.flash is not None:
            self.flash.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.flash.with_suffix(".tmp")
            tmp.write_text(json.dumps({"crc32": crc32, "document": doc}, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.flash)

    def lux(self, now: datetime) -> float:
        """Photocell: illuminance from the sun's elevation and the sky, with sensor noise."""
        elev = elevation(Observer(self.lat, self.lon), now)
        if elev <= TWILIGHT[0][0]:
            base = TWILIGHT[0][1]
        elif elev <= 0:
            for (e0, l0), (e1, l1) in itertools.pairwise(TWILIGHT):
                if e0 <= elev <= e1:
                    base = math.exp(math.log(l0) + (math.log(l1) - math.log(l0)) * (elev - e0) / (e1 - e0))
                    break
        else:
            base = 400.0 + 100000.0 * math.sin(math.radians(elev)) ** 1.2
        return max(0.0, base * self.sky_factor * (1 + self.rng.gauss(0, 0.03)))

    # ----- commands ------------------------------------------------------------------------------------------
    def switch(self, circuit: int, level_pct: float, until: datetime | None) -> None:
        """Override `circuit` (1..N) at `level_pct` (0 = off) until `until` (None: until release).
        Raises ValueError naming the bad argument."""
        c = self._circuit(circuit)
        if not 0 <= level_pct <= 100:
            raise ValueError(f"level_pct must be 0..100, got {level_pct}")
        c.overridden, c.override_level, c.override_until = True, float(level_pct), until
        log.info("override device=%s circuit=%d level_pct=%s until=%s", self.device_id, circuit, level_pct, until)

    def release(self, circuit: int | None) -> None:
        """Return `circuit` (None: all) to the lighting program."""
        for c in self.circuits if circuit is None else [self._circuit(circuit)]:
            c.overridden, c.override_until = False, None

    def _circuit(self, number: int) -> Circuit:
        if not 1 <= number <= len(self.circuits):
            raise ValueError(f"circuit must be 1..{len(self.circuits)}, got {number}")
        return self.circuits[number - 1]

    # ----- the tick ------------------------------------------------------------------------------------------
    def clock(self, now: datetime) -> datetime:
        """The cabinet's own clock (drifts under the clock-drift fault)."""
        return now + timedelta(seconds=self.clock_offset_s)

    def step(self, now: datetime, dt_s: float) -> None:
        """Advance `dt_s` seconds to virtual time `now` (UTC)."""
        assert self.program is not None
        self.clock_offset_s += self.drift_s_per_h * dt_s / 3600.0
        local_now = self.clock(now)
        self.program.observe(self.photocell_lux, local_now)
        for c in self.circuits:
            if c.overridden and c.override_until is not None and local_now >= c.override_until:
                log.info("override_expired device=%s circuit=%d", self.device_id, c.number)
                c.overridden, c.override_until = False, None
            c.program_level_pct = self.program.level(c.number, local_now)
            level = c.override_level if c.overridden else c.program_level_pct
            closed = level > 0 if c.contactor_stuck is None else c.contactor_stuck
            if closed != c.contactor:
                c.contactor = closed
                c.switch_count += 1
            was = (c.on, c.level_pct)
            c.on = closed and self.mains_ok and not c.breaker_tripped
            # A contactor stuck closed with the program off: no dimming signal, the drivers burn at full power.
            c.level_pct = (level if level > 0 else 100.0) if c.on else 0.0
            if (c.on, c.level_pct) != was:
                c.changed_at = now
            if c.on:
                c.burning_s += dt_s
        self.energy_kwh += self.active_power_w() * dt_s / 3.6e6

    def active_power_w(self) -> float:
        return sum(c.current_a for c in self.circuits) * NOMINAL_V * POWER_FACTOR if self.mains_ok else 0.0

    def phase_values(self) -> dict[str, float]:
        """Per-phase voltage, current and power with meter noise; circuit n is on phase (n-1) mod 3."""
        values: dict[str, float] = {}
        for i, ph in enumerate("abc"):
            amps = sum(c.current_a for c in self.circuits if (c.number - 1) % 3 == i)
            volts = NOMINAL_V + self.noise.gauss(0, 1.2) if self.mains_ok else 0.0
            values[f"phase_{ph}_voltage_v"] = round(volts, 1)
            values[f"phase_{ph}_current_a"] = round(max(0.0, amps * (1 + self.noise.gauss(0, 0.01))), 2)
            values[f"phase_{ph}_power_w"] = round(values[f"phase_{ph}_current_a"] * volts * POWER_FACTOR, 1)
        return values

    def alarms(self, now: datetime) -> list[str]:
        """The cabinet's active alarms: its own, and each circuit fault once (which circuits: `circuit_faults`)."""
        found = []
        if self.door_open:
            found.append("door_open")
        if not self.mains_ok:
            found.append("power_fail")
        faults = {f for c in self.circuits for f in c.faults(self.photocell_lux)} if self.mains_ok else set()
        found += [name for name in ("breaker_trip", "lamp_failure", "contactor_stuck") if name in faults]
        if abs(self.clock_offset_s) > 60:
            found.append("clock_drift")
        found += [name for name in ("day_burner", "dark_lamp") if name in faults]
        return found

    def circuit_faults(self) -> dict[int, list[str]]:
        """Faults per circuit number (mains loss is the cabinet's, not a circuit's)."""
        if not self.mains_ok:
            return {c.number: [] for c in self.circuits}
        return {c.number: c.faults(self.photocell_lux) for c in self.circuits}
