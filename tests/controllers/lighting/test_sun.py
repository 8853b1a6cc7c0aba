"""astral's sun times (as the lighting domain reads them) against an independent NOAA calculation, ±2 min, for
Hà Nội and Thái Nguyên (no DST) and Oslo (60° N, with DST), on dates through the year and both DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from controllers.lighting import AstralSun
from tests.controllers.lighting.noaa import CIVIL_ZENITH, SUNRISE_ZENITH, grazing, sun_event

PLACES = {
    "ha-noi": (21.0285, 105.8542, "Asia/Ho_Chi_Minh"),
    "thai-nguyen": (21.5942, 105.8482, "Asia/Ho_Chi_Minh"),
    "oslo": (59.9139, 10.7522, "Europe/Oslo"),
}
DATES = [dt.date(2027, month, day) for month in range(1, 13) for day in (1, 15)] + [
    dt.date(2027, 3, 27), dt.date(2027, 3, 28), dt.date(2027, 10, 30), dt.date(2027, 10, 31),  # Oslo's DST changes
    dt.date(2027, 6, 21), dt.date(2027, 12, 21),
]
TOLERANCE = dt.timedelta(minutes=2)
# Where the sun only grazes the event's depression (Oslo's civil dusk around midsummer, 0.1° from never happening)
# the time is ill-conditioned: astral and NOAA evaluate the declination at instants minutes apart and land 2–3 min
# apart. Those few events are held to 4 min; every other event to 2.
GRAZING_TOLERANCE = dt.timedelta(minutes=4)


@pytest.mark.parametrize("place", sorted(PLACES))
def test_astral_sun_agrees_with_noaa_within_two_minutes(place: str) -> None:
    lat, lon, zone = PLACES[place]
    table = AstralSun(lat, lon, zone)
    compared = grazed = 0
    for date in DATES:
        noon = dt.datetime.combine(date, dt.time(12), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
        day = table.day(date)
        for name, zenith, rising in (("sunrise", SUNRISE_ZENITH, True), ("sunset", SUNRISE_ZENITH, False),
                                     ("civil_dawn", CIVIL_ZENITH, True), ("civil_dusk", CIVIL_ZENITH, False)):
            ours = day.event(name)  # type: ignore[arg-type]
            theirs = sun_event(lat, lon, noon, zenith, rising)
            if theirs is None or ours is None:
                # Oslo's midsummer nights hover within a tenth of a degree of -6°: the two may disagree on
                # whether civil twilight ends at all; anything else must be found by both.
                assert place == "oslo" and name.startswith("civil") and date.month in (5, 6, 7), (place, date, name)
                continue
            shallow = grazing(lat, theirs, zenith)
            limit = GRAZING_TOLERANCE if shallow else TOLERANCE
            assert abs(ours - theirs) <= limit, (place, date, name, ours, theirs)
            compared += 1
            grazed += shallow
    assert compared >= len(DATES) * 4 - 12
    assert grazed <= 6, grazed  # the relaxed tolerance stays the exception


def test_sun_times_are_local_dates_in_a_dst_zone() -> None:
    """Oslo's sunset on the day DST starts is on that local date and an hour 'later' on the wall clock."""
    table = AstralSun(*PLACES["oslo"])
    tz = ZoneInfo("Europe/Oslo")
    before, after = table.day(dt.date(2027, 3, 27)).sunset, table.day(dt.date(2027, 3, 28)).sunset
    assert before is not None and after is not None
    assert before.astimezone(tz).date() == dt.date(2027, 3, 27)
    assert after.astimezone(tz).date() == dt.date(2027, 3, 28)
    real = (after - before).total_seconds()
    assert abs(real - 86400) < 300        # a day of real time apart (sunset moves ~2.5 min a day in March)
    assert after.astimezone(tz).hour - before.astimezone(tz).hour == 1  # while the wall clock jumped an hour


def test_polar_events_are_none_not_errors() -> None:
    tromso = AstralSun(69.6492, 18.9553, "Europe/Oslo")
    midsummer, midwinter = tromso.day(dt.date(2027, 6, 21)), tromso.day(dt.date(2027, 12, 21))
    assert midsummer.sunset is None and midsummer.sunrise is None
    assert midwinter.sunrise is None and midwinter.sunset is None
    assert midwinter.civil_dawn is not None  # polar night still has a civil twilight at noon at 69.6° N
