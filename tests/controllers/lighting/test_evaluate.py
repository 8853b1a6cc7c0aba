"""Evaluation: which program a night runs, when a circuit switches, its level at an instant (with the photocell
and the burn window), in Thái Nguyên (UTC+7, no DST) and Oslo (CET/CEST)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controllers.lighting import (
    AstralSun,
    LightingV1,
    SunDay,
    circuit_night,
    level_at,
    night_of,
    switching_times,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
OSLO = ZoneInfo("Europe/Oslo")


class FixedSun:
    """Sunset 18:00, sunrise 06:00, civil dusk 18:25, civil dawn 05:35 local, every day: evaluation tested apart
    from astronomy."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def day(self, date: dt.date) -> SunDay:
        def at(h: int, m: int) -> dt.datetime:
            return dt.datetime.combine(date, dt.time(h, m), tzinfo=self.tz).astimezone(dt.UTC)
        return SunDay(date, sunrise=at(6, 0), sunset=at(18, 0), civil_dawn=at(5, 35), civil_dusk=at(18, 25))


def local(tz: ZoneInfo, *args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)  # type: ignore[misc]


def doc_with(city: dict[str, Any], **changes: Any) -> LightingV1:
    city.update(changes)
    return LightingV1.model_validate(city)


def test_night_runs_noon_to_noon() -> None:
    assert night_of(dt.datetime(2027, 1, 5, 12, 0)) == dt.date(2027, 1, 5)
    assert night_of(dt.datetime(2027, 1, 6, 11, 59)) == dt.date(2027, 1, 5)


def test_weekday_night_switches_at_sun_and_fixed_times(city: dict[str, Any]) -> None:
    doc = LightingV1.model_validate(city)
    sun = FixedSun(HCM)
    switches = switching_times(doc, 1, dt.date(2027, 1, 5), sun)  # a Tuesday
    assert [(s.at.astimezone(HCM).strftime("%d %H:%M"), s.level_pct) for s in switches] == [
        ("05 18:10", 100.0), ("05 23:00", 50.0), ("06 05:50", 0.0)]
    assert level_at(doc, 1, local(HCM, 2027, 1, 5, 18, 9), sun) == 0.0
    assert level_at(doc, 1, local(HCM, 2027, 1, 5, 18, 10), sun) == 100.0
    assert level_at(doc, 1, local(HCM, 2027, 1, 6, 3, 0), sun) == 50.0
    assert level_at(doc, 1, local(HCM, 2027, 1, 6, 5, 50), sun) == 0.0
    assert level_at(doc, 1, local(HCM, 2027, 1, 6, 13, 0), sun) == 0.0


def test_calendar_priorities_pick_weekend_tet_and_national_day(city: dict[str, Any]) -> None:
    doc = LightingV1.model_validate(city)
    sun = FixedSun(HCM)
    assert circuit_night(doc, 1, dt.date(2027, 1, 8), sun).program == "weekend"      # Friday
    assert circuit_night(doc, 1, dt.date(2027, 1, 10), sun).program == "standard"    # Sunday
    tet = circuit_night(doc, 1, dt.date(2027, 2, 6), sun)                             # a Saturday in Tết
    assert (tet.rule, tet.program) == ("Tết Nguyên Đán 2027", "festival")
    assert circuit_night(doc, 1, dt.date(2027, 9, 2), sun).program == "festival"     # yearly 09-02
    assert circuit_night(doc, 1, dt.date(2028, 9, 2), sun).program == "festival"
    assert circuit_night(doc, 4, dt.date(2027, 2, 6), sun).program == "festival"     # park calendar too
    assert circuit_night(doc, 4, dt.date(2027, 2, 12), sun).program == "park"
    # An unassigned circuit stays off.
    assert circuit_night(doc, 7, dt.date(2027, 1, 5), sun).switches == ()


def test_yearly_range_across_new_year(city: dict[str, Any]) -> None:
    city["calendars"][0]["rules"].append(
        {"name": "Mùa lễ hội", "priority": 50, "program": "festival", "from_day": "12-20", "to_day": "01-05"})
    doc = LightingV1.model_validate(city)
    sun = FixedSun(HCM)
    assert circuit_night(doc, 1, dt.date(2026, 12, 22), sun).program == "festival"
    assert circuit_night(doc, 1, dt.date(2027, 1, 4), sun).program == "festival"
    assert circuit_night(doc, 1, dt.date(2027, 1, 6), sun).program == "standard"


def test_burn_window_clips_steps(city: dict[str, Any]) -> None:
    city["programs"][0]["burn_window"] = {"earliest_on": {"at": "18:30"}, "latest_off": {"at": "05:00"}}
    doc = LightingV1.model_validate(city)
    switches = switching_times(doc, 1, dt.date(2027, 1, 5), FixedSun(HCM))
    assert [(s.at.astimezone(HCM).strftime("%H:%M"), s.level_pct, s.cause) for s in switches] == [
        ("18:30", 100.0, "burn window opens"), ("23:00", 50.0, "step 2 (23:00)"),
        ("05:00", 0.0, "burn window closes")]


def test_photocell_lights_an_overcast_afternoon_and_dims_with_the_steps(city: dict[str, Any]) -> None:
    doc = LightingV1.model_validate(city)
    sun = FixedSun(HCM)
    afternoon = local(HCM, 2027, 1, 5, 15, 0)
    assert level_at(doc, 4, afternoon, sun) == 0.0                      # no reading: steps alone
    assert level_at(doc, 4, afternoon, sun, dark=True) == 100.0         # storm clouds: dark_level_pct
    assert level_at(doc, 4, local(HCM, 2027, 1, 5, 23, 0), sun, dark=True) == 40.0  # dark at night: step level
    assert level_at(doc, 4, local(HCM, 2027, 1, 5, 19, 0), sun, dark=False) == 0.0  # bright (a flood light?): off
    # The burn window (14:00–08:00) holds even a dark photocell: no lamps at 13:00.
    assert level_at(doc, 4, local(HCM, 2027, 1, 5, 13, 0), sun, dark=True) == 0.0


def test_fixed_steps_follow_the_wall_clock_in_a_dst_zone(city: dict[str, Any]) -> None:
    city["site"] = {"lat": 59.9139, "lon": 10.7522, "timezone": "Europe/Oslo"}
    city["programs"][0]["burn_window"] = None
    doc = LightingV1.model_validate(city)
    sun = AstralSun(59.9139, 10.7522, "Europe/Oslo")
    winter = switching_times(doc, 1, dt.date(2027, 1, 5), sun)
    summer = switching_times(doc, 1, dt.date(2027, 6, 8), sun)
    assert winter[1].at.astimezone(OSLO).strftime("%H:%M") == "23:00" and winter[1].at.hour == 22  # CET
    assert summer[1].at.astimezone(OSLO).strftime("%H:%M") == "23:00" and summer[1].at.hour == 21  # CEST
    # The night DST starts (Sat 27 → Sun 28 March 2027, a weekend night): the dim step stays at 00:00 local,
    # the morning step follows the sun; the night is an hour shorter in real time.
    night = switching_times(doc, 1, dt.date(2027, 3, 27), sun)
    assert night[1].at.astimezone(OSLO).strftime("%d %H:%M") == "28 00:00"
    assert night[2].at.astimezone(OSLO).utcoffset() == dt.timedelta(hours=2)


def test_fixed_step_in_the_spring_gap_fires_an_hour_later_on_the_wall_clock(city: dict[str, Any]) -> None:
    city["site"] = {"lat": 59.9139, "lon": 10.7522, "timezone": "Europe/Oslo"}
    city["programs"][0]["burn_window"] = None
    city["programs"][0]["steps"][1]["at"] = "02:30"    # does not exist on 28 March 2027 in Oslo
    city["calendars"][0]["rules"][0]["weekdays"] = ["mon", "tue", "wed", "thu", "sun", "sat"]
    city["calendars"][0]["rules"][1]["weekdays"] = ["fri"]
    doc = LightingV1.model_validate(city)
    switches = switching_times(doc, 1, dt.date(2027, 3, 27), AstralSun(59.9139, 10.7522, "Europe/Oslo"))
    assert switches[1].at.astimezone(OSLO).strftime("%H:%M") == "03:30"


def test_level_at_refuses_naive_times(city: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        level_at(LightingV1.model_validate(city), 1, dt.datetime(2027, 1, 5, 20), FixedSun(HCM))


def test_real_sun_in_thai_nguyen_winter_and_summer(city: dict[str, Any]) -> None:
    doc = LightingV1.model_validate(city)
    sun = AstralSun(21.5942, 105.8482, "Asia/Ho_Chi_Minh")
    dec = switching_times(doc, 1, dt.date(2026, 12, 22), sun)
    jun = switching_times(doc, 1, dt.date(2027, 6, 22), sun)
    assert dec[0].at.astimezone(HCM).strftime("%H:%M") < "17:35" < jun[0].at.astimezone(HCM).strftime("%H:%M")
    assert "06:00" < dec[-1].at.astimezone(HCM).strftime("%H:%M") < "06:40"
    assert "05:00" < jun[-1].at.astimezone(HCM).strftime("%H:%M") < "05:25"
