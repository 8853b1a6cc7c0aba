"""Lighting cabinet firmware: circuits with contactor and dim level, a sun-driven lighting program, overrides
with expiry, a three-phase meter, a photocell, and faults. Stepped by the fleet in virtual time; pure otherwise.

Program (per circuit): on at sunset + `on_offset_min`, off at sunrise - `off_offset_min` (sun from astral at the
cabinet's location), dimmed to `night_level_pct` between 23:00 and 05:00 local. An override (`switch` with
`until`) holds a circuit at a level until it expires or is released. Power is P = n_ok · rated_w · level/100
per circuit (LED drivers are near-constant power), spread over phases a/b/c by circuit.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import elevation, sun

log = logging.getLogger(__name__)

NOMINAL_V = 230.0
POWER_FACTOR = 0.95
LUX_ON = 30.0          # photocell switch-on threshold


@dataclass(slots=True)
class Circuit:
    number: int
    luminaires: int
    rated_w: float
    on: bool = False
    level_pct: float = 0.0
    override_until: datetime | None = None
    override_level: float = 0.0
    overridden: bool = False
    failed: int = 0
    breaker_tripped: bool = False
    contactor_stuck: bool | None = None     # stuck closed (True) / open (False) / healthy (None)
    burning_s: float = 0.0
    switch_count: int = 0

    @property
    def current_a(self) -> float:
        if not self.on or self.breaker_tripped:
            return 0.0
        watts = (self.luminaires - self.failed) * self.rated_w * max(self.level_pct, 1.0) / 100.0
        return watts / (NOMINAL_V * POWER_FACTOR)


@dataclass
class LightingCabinet:
    device_id: str
    lat: float
    lon: float
    rng: random.Random
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Ho_Chi_Minh"))
    circuits: list[Circuit] = field(default_factory=list)
    on_offset_min: float = 10.0
    off_offset_min: float = 10.0
    night_level_pct: float = 50.0
    door_open: bool = False
    mains_ok: bool = True
    energy_kwh: float = 0.0
    photocell_lux: float = 0.0
    clock_offset_s: float = 0.0
    drift_s_per_h: float = 0.0
    temp_c: float = 30.0
    noise: random.Random = field(default_factory=random.Random)
    _sun: dict[date, tuple[datetime, datetime]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.circuits:
            self.circuits = [Circuit(n, self.rng.randint(12, 30), self.rng.choice((60.0, 90.0, 120.0, 150.0)))
                             for n in range(1, 5)]
        self.temp_c += self.rng.uniform(-2, 2)
        # Meter noise is drawn per read (Modbus poll or telemetry): its own generator keeps behaviour reproducible.
        self.noise = random.Random(self.rng.random())

    # ----- program -------------------------------------------------------------------------------------------
    def sun_times(self, day: date) -> tuple[datetime, datetime]:
        """(sunrise, sunset) of a local date at the cabinet, UTC."""
        if day not in self._sun:
            times = sun(Observer(self.lat, self.lon), date=day, tzinfo=self.tz)
            self._sun = {day: (times["sunrise"].astimezone(UTC), times["sunset"].astimezone(UTC))}
        return self._sun[day]

    def program_level(self, now: datetime) -> float:
        """Level (0 = off) the lighting program asks for at `now` (cabinet clock, UTC)."""
        local = now.astimezone(self.tz)
        sunrise, sunset = self.sun_times(local.date())
        on_at = sunset + timedelta(minutes=self.on_offset_min)
        off_at = sunrise - timedelta(minutes=self.off_offset_min)
        if off_at <= now < on_at:
            return 0.0
        return self.night_level_pct if local.hour >= 23 or local.hour < 5 else 100.0

    def lux(self, now: datetime) -> float:
        """Photocell: clear-sky illuminance from the sun's elevation, with sensor noise."""
        elev = elevation(Observer(self.lat, self.lon), now)
        if elev <= -6:
            base = 1.0
        elif elev <= 0:
            base = 1.0 + 400.0 * (elev + 6) / 6
        else:
            base = 400.0 + 100000.0 * math.sin(math.radians(elev)) ** 1.2
        return max(0.0, base * (1 + self.rng.gauss(0, 0.03)))

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
        self.clock_offset_s += self.drift_s_per_h * dt_s / 3600.0
        local_now = self.clock(now)
        program = self.program_level(local_now)
        for c in self.circuits:
            if c.overridden and c.override_until is not None and local_now >= c.override_until:
                log.info("override_expired device=%s circuit=%d", self.device_id, c.number)
                c.overridden, c.override_until = False, None
            level = c.override_level if c.overridden else program
            want_on = level > 0 and self.mains_ok
            if c.contactor_stuck is not None:
                want_on = c.contactor_stuck and self.mains_ok
            if want_on != c.on:
                c.on = want_on
                c.switch_count += 1
            c.level_pct = level if c.on else 0.0
            if c.on and not c.breaker_tripped:
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
        found = []
        if self.door_open:
            found.append("door_open")
        if not self.mains_ok:
            found.append("power_fail")
        if any(c.breaker_tripped for c in self.circuits):
            found.append("breaker_trip")
        if any(c.failed for c in self.circuits if c.on):
            found.append("lamp_failure")
        if any(c.contactor_stuck is not None for c in self.circuits):
            found.append("contactor_stuck")
        if abs(self.clock_offset_s) > 60:
            found.append("clock_drift")
        if self.mains_ok and any(c.on and not c.overridden for c in self.circuits) and self.photocell_lux > 1000:
            found.append("day_burner")
        if self.mains_ok and self.photocell_lux < LUX_ON / 3 and any(
                not c.on and not c.overridden for c in self.circuits):
            found.append("dark_lamp")
        return found
