"""Sun times of a place, from astral (NOAA's solar equations): sunrise, sunset, civil dawn and dusk per local date.

Pure computation, no clock: the caller names the date. A date's evening events (sunset, civil dusk) are the first
after its local noon and its morning events (sunrise, civil dawn) the last before it: astral answers "the event
that falls on this local date", which near 60° N in June is last evening's dusk at 00:22, not tonight's (and on
the date the event crosses midnight, one of two). The one zone 12 h west of UTC (Baker Island) is not supported.
An event that does not happen on a date (midnight sun, polar night, a summer night that never gets 6° dark) is
None, never an exception, so a program can be checked for the nights where its step would never fire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from astral import Observer
from astral.sun import dawn, dusk, sunrise, sunset

SunEventName = Literal["sunset", "sunrise", "civil_dusk", "civil_dawn"]
_CACHE_DAYS = 1200  # three years of dates: a year's validation and a running cabinet never evict what they reuse


@dataclass(frozen=True, slots=True)
class SunDay:
    """The sun events of one local date, as aware UTC datetimes (None: it does not happen that date)."""

    date: dt.date
    sunrise: dt.datetime | None
    sunset: dt.datetime | None
    civil_dawn: dt.datetime | None
    civil_dusk: dt.datetime | None

    def event(self, name: SunEventName) -> dt.datetime | None:
        """The event called `name` on this date."""
        value: dt.datetime | None = getattr(self, name)
        return value


class SunTable(Protocol):
    """Sun events by local date at one place (a fake in tests, `AstralSun` for real)."""

    def day(self, date: dt.date) -> SunDay:
        """The events of local `date`."""
        ...


class AstralSun:
    """Sun events at (`lat`, `lon`) for dates of the time zone `timezone`, computed by astral and cached."""

    def __init__(self, lat: float, lon: float, timezone: str) -> None:
        self.observer = Observer(latitude=lat, longitude=lon)
        self.tz = ZoneInfo(timezone)
        self._cache: dict[dt.date, SunDay] = {}

    def day(self, date: dt.date) -> SunDay:
        found = self._cache.get(date)
        if found is None:
            if len(self._cache) >= _CACHE_DAYS:
                self._cache.clear()
            # astral answers "the event on local date X of zone Z". In a zone 12 h behind the site's, a local date
            # runs from the site's noon to the next noon: date D there holds the evening events of the night of D,
            # date D - 1 the morning events before noon of D.
            offset = dt.datetime.combine(date, dt.time(12), tzinfo=self.tz).utcoffset() or dt.timedelta(0)
            shifted = dt.timezone(offset - dt.timedelta(hours=12))
            before = date - dt.timedelta(days=1)
            found = SunDay(
                date=date,
                sunrise=self._event(sunrise, before, shifted),
                sunset=self._event(sunset, date, shifted),
                civil_dawn=self._event(dawn, before, shifted),
                civil_dusk=self._event(dusk, date, shifted),
            )
            self._cache[date] = found
        return found

    def _event(self, fn: Callable[..., object], date: dt.date, tz: dt.tzinfo) -> dt.datetime | None:
        try:
            value = fn(self.observer, date=date, tzinfo=tz)
        except ValueError:
            return None  # astral's way of saying the sun does not reach that depression on that date
        if not isinstance(value, dt.datetime):
            return None
        return value.astimezone(dt.UTC)
