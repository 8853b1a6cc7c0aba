"""An independent sun calculation for checking astral: NOAA's solar calculator equations (the NOAA Global
Monitoring Laboratory spreadsheet, after Meeus), written out here from the published formulas."""

from __future__ import annotations

import datetime as dt
import math

SUNRISE_ZENITH = 90.833  # 34' refraction + 16' solar radius
CIVIL_ZENITH = 96.0


def _sun(t: dt.datetime) -> tuple[float, float]:
    """(declination in degrees, equation of time in minutes) at instant `t`."""
    jd = t.timestamp() / 86400.0 + 2440587.5
    c = (jd - 2451545.0) / 36525.0
    l0 = (280.46646 + c * (36000.76983 + c * 0.0003032)) % 360
    m = 357.52911 + c * (35999.05029 - 0.0001537 * c)
    e = 0.016708634 - c * (0.000042037 + 0.0000001267 * c)
    mr = math.radians(m)
    center = (math.sin(mr) * (1.914602 - c * (0.004817 + 0.000014 * c)) + math.sin(2 * mr) * (0.019993 - 0.000101 * c)
              + math.sin(3 * mr) * 0.000289)
    omega = math.radians(125.04 - 1934.136 * c)
    apparent = math.radians(l0 + center - 0.00569 - 0.00478 * math.sin(omega))
    eps0 = 23 + (26 + (21.448 - c * (46.815 + c * (0.00059 - c * 0.001813))) / 60) / 60
    eps = math.radians(eps0 + 0.00256 * math.cos(omega))
    declination = math.degrees(math.asin(math.sin(eps) * math.sin(apparent)))
    y = math.tan(eps / 2) ** 2
    l0r = math.radians(l0)
    eq_time = 4 * math.degrees(
        y * math.sin(2 * l0r) - 2 * e * math.sin(mr) + 4 * e * y * math.sin(mr) * math.cos(2 * l0r)
        - 0.5 * y * y * math.sin(4 * l0r) - 1.25 * e * e * math.sin(2 * mr))
    return declination, eq_time


def grazing(lat: float, when: dt.datetime, zenith: float) -> bool:
    """True when the sun crosses `zenith` at `when` so shallowly (|cos H| > 0.95, within ~18° of hour angle of
    never reaching it) that a hundredth of a degree of declination moves the time by minutes."""
    declination, _ = _sun(when)
    la, de = math.radians(lat), math.radians(declination)
    return abs(math.cos(math.radians(zenith)) / (math.cos(la) * math.cos(de)) - math.tan(la) * math.tan(de)) > 0.95


def sun_event(lat: float, lon: float, local_noon_utc: dt.datetime, zenith: float, rising: bool) -> dt.datetime | None:
    """The sunrise-like (`rising`) or sunset-like event at `zenith` degrees nearest the local noon given (UTC),
    or None when the sun does not cross that zenith that day. Iterated: each pass recomputes the sun's position
    at the previous estimate."""
    midnight = local_noon_utc.replace(hour=0, minute=0, second=0, microsecond=0)
    estimate = local_noon_utc
    for _ in range(4):
        declination, eq_time = _sun(estimate)
        la, de = math.radians(lat), math.radians(declination)
        cos_h = math.cos(math.radians(zenith)) / (math.cos(la) * math.cos(de)) - math.tan(la) * math.tan(de)
        if not -1 <= cos_h <= 1:
            return None
        hour_angle = math.degrees(math.acos(cos_h))
        minutes = 720 - 4 * (lon + (hour_angle if rising else -hour_angle)) - eq_time
        event = midnight + dt.timedelta(minutes=minutes)
        # keep the event on the same side of local noon as its kind, whatever UTC day the midnight was
        while rising and event > local_noon_utc:
            event -= dt.timedelta(days=1)
        while rising and event < local_noon_utc - dt.timedelta(days=1):
            event += dt.timedelta(days=1)
        while not rising and event < local_noon_utc:
            event += dt.timedelta(days=1)
        while not rising and event > local_noon_utc + dt.timedelta(days=1):
            event -= dt.timedelta(days=1)
        estimate = event
    return estimate
