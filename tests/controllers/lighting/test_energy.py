"""A cabinet's day of energy: meter increase, power integral, per-circuit apportioning, burning hours, savings."""

from __future__ import annotations

import datetime as dt

import pytest

from controllers.lighting.energy import cabinet_day, counter_increase, integral_hours
from controllers.lighting.faults import CircuitLoad

T0 = dt.datetime(2027, 1, 5, 10, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_counter_increase_skips_a_reset() -> None:
    assert counter_increase([(at(0), 10.0), (at(1), 12.0), (at(2), 0.5), (at(3), 1.5), (at(4), None)]) == 3.0


def test_integral_does_not_bridge_gaps() -> None:
    steady = [(at(m), 1000.0) for m in range(0, 61)]      # 1 kW for an hour
    assert integral_hours(steady) == pytest.approx(1000.0)
    gap = [(at(0), 1000.0), (at(30), 1000.0)]             # 30 min apart: not bridged
    assert integral_hours(gap) == 0.0


def test_a_night_of_two_circuits() -> None:
    # circuit 1: 2 A for 10 h; circuit 2: 1 A for 10 h; meter counts 3 A · 230 V · 0.95 · 10 h.
    minutes = range(0, 601)
    kw = 3 * 230 * 0.95 / 1000
    series = {
        "energy_kwh": [(at(m), 100 + kw * m / 60) for m in minutes],
        "active_power_w": [(at(m), kw * 1000) for m in minutes],
        "circuit1_current_a": [(at(m), 2.0) for m in minutes],
        "circuit2_current_a": [(at(m), 1.0) for m in minutes],
        "circuit1_burning_h": [(at(0), 500.0), (at(600), 510.0)],
        "circuit2_burning_h": [(at(0), 200.0), (at(600), 210.0)],
        "circuit1_switch_count": [(at(0), 7.0), (at(600), 9.0)],
        "circuit2_switch_count": [(at(0), 7.0), (at(600), 9.0)],
    }
    loads = {1: CircuitLoad(1, 10, 50.0), 2: CircuitLoad(2, 5, 50.0)}
    report = cabinet_day("lc-001", T0.date(), series, [1, 2], loads)
    assert report.energy_kwh == pytest.approx(kw * 10)
    assert report.power_integral_kwh == pytest.approx(report.energy_kwh, rel=0.01)
    c1, c2 = report.circuits
    assert c1.energy_kwh == pytest.approx(2 / 3 * report.energy_kwh) and c2.switches == 2
    assert c1.burning_h == 10.0 and c1.full_kwh == pytest.approx(5.0)
    assert c1.savings_kwh == pytest.approx(5.0 - c1.energy_kwh)
    values = report.values()
    assert values["circuit2_day_burning_h"] == 10.0 and "day_energy_kwh" in values


def test_energy_anomaly_against_the_cabinets_own_profile() -> None:
    from controllers.lighting.energy import energy_anomaly

    week = [10.0, 10.2, 9.9, 10.1, 10.0, 9.8, 10.3]
    assert energy_anomaly(10.4, week) is None
    assert energy_anomaly(14.0, week) == "14.00 kWh against 10.00 kWh expected (+40 %, median of the previous 7 days)"
    assert energy_anomaly(6.0, week) is not None                  # half the street dark
    assert energy_anomaly(20.0, [10.0, 10.0]) is None             # too little history to judge
    assert energy_anomaly(1.0, [0.2, 0.2, 0.2]) is None           # too little energy to judge
