"""Per-circuit faults judged from measurements: a lamp failure from the current, not from a flag."""

from __future__ import annotations

from typing import Any

from controllers.lighting.faults import CircuitLoad, circuit_faults, expected_current_a, loads_from_birth

LOADS = {1: CircuitLoad(1, 20, 100.0), 2: CircuitLoad(2, 12, 150.0)}


def state(*circuits: dict[str, Any], mains_ok: bool = True) -> dict[str, Any]:
    return {"circuits": list(circuits), "mains_ok": mains_ok}


def test_expected_current_follows_the_level() -> None:
    assert expected_current_a(LOADS[1], 100) == 2000 / (230 * 0.95)
    assert expected_current_a(LOADS[1], 50) == expected_current_a(LOADS[1], 100) / 2


def test_healthy_circuits_have_no_faults() -> None:
    full = expected_current_a(LOADS[1], 50)
    faults = circuit_faults(state({"circuit": 1, "on": True, "level_pct": 50, "current_a": full * 0.98},
                                  {"circuit": 2, "on": False, "level_pct": 0, "current_a": 0.0,
                                   "program_level_pct": 0}), LOADS)
    assert faults == {1: {}, 2: {}}


def test_dropped_current_is_a_lamp_failure_naming_the_circuit_and_count() -> None:
    expected = expected_current_a(LOADS[2], 100)
    faults = circuit_faults(state({"circuit": 2, "on": True, "level_pct": 100, "current_a": expected * 9 / 12}),
                            LOADS)
    assert set(faults[2]) == {"lamp_failure"}
    assert "circuit 2" in faults[2]["lamp_failure"] and "~3 of 12 luminaires out" in faults[2]["lamp_failure"]
    # within tolerance (one lamp of 20 is 5 %): no fault
    ok = circuit_faults(state({"circuit": 1, "on": True, "level_pct": 100,
                               "current_a": expected_current_a(LOADS[1], 100) * 19 / 20}), LOADS)
    assert ok == {1: {}}


def test_breaker_trip_is_not_also_a_dark_lamp_and_mains_loss_judges_nothing() -> None:
    tripped = {"circuit": 1, "on": False, "level_pct": 0, "current_a": 0, "breaker_tripped": True,
               "program_level_pct": 100}
    assert set(circuit_faults(state(tripped), LOADS)[1]) == {"breaker_trip"}
    dark = {"circuit": 1, "on": False, "level_pct": 0, "current_a": 0, "program_level_pct": 100}
    assert set(circuit_faults(state(dark), LOADS)[1]) == {"dark_lamp"}
    overridden = dark | {"control": "override"}
    assert circuit_faults(state(overridden), LOADS)[1] == {}
    assert circuit_faults(state(tripped, mains_ok=False), LOADS) == {1: {}}


def test_a_tripped_breaker_on_a_lit_circuit_is_one_fault_not_a_lamp_failure_too() -> None:
    """The contactor still says on and the level 100 %, but the breaker is out at 0 A: the crew is sent for the
    breaker, not also for lamps (the crew app once showed both for one circuit)."""
    tripped = {"circuit": 2, "on": True, "level_pct": 100, "current_a": 0.0, "breaker_tripped": True,
               "program_level_pct": 100}
    assert set(circuit_faults(state(tripped), LOADS)[2]) == {"breaker_trip"}


def test_cabinet_judged_faults_pass_through_and_bad_loads_are_skipped() -> None:
    burner = {"circuit": 2, "on": True, "level_pct": 100, "current_a": expected_current_a(LOADS[2], 100),
              "faults": ["contactor_stuck", "day_burner"]}
    assert set(circuit_faults(state(burner), LOADS)[2]) == {"contactor_stuck", "day_burner"}
    loads = loads_from_birth({"loads": [{"circuit": 1, "luminaires": 10, "rated_w": 90},
                                        {"circuit": 2, "luminaires": 10, "rated_w": float("nan")}, "x"]})
    assert loads == {1: CircuitLoad(1, 10, 90.0)}
