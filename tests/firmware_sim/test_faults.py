"""Fault injection: the HTTP control endpoint and its client, scenario files, and what each fault does on the wire."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx
import pytest

from firmware_sim.clock import ManualClock
from firmware_sim.control import inject_fault
from firmware_sim.engine import Engine
from firmware_sim.faults import FaultError, apply_fault
from firmware_sim.fleet import Fleet, FleetConfig, build_fleet
from firmware_sim.scenario import ScenarioError, load_scenario, parse_scenario, run_scenario
from tests.firmware_sim.fleet_runner import mbpoll, running_fleet

ROOT = Path(__file__).resolve().parents[2]


def small(speed: float = 10.0) -> FleetConfig:
    return FleetConfig(intersections=2, cabinets=1, modbus_cabinets=1, speed=speed, control_port=0)


def built() -> tuple[Fleet, Engine, ManualClock]:
    clock = ManualClock()
    fleet = build_fleet(small(), clock)
    return fleet, Engine(clock, list(fleet.controllers.values()), list(fleet.cabinets.values())), clock


def advance(engine: Engine, clock: ManualClock, seconds: float) -> None:
    for _ in range(int(seconds)):
        clock.advance(1.0)
        engine.advance()


def test_bad_requests_name_what_is_wrong_and_change_nothing() -> None:
    fleet, _, _ = built()
    with pytest.raises(FaultError, match="no device 'tn-sig-009'"):
        apply_fault(fleet, "tn-sig-009", "door_open")
    with pytest.raises(FaultError, match="breaker_trip"):
        apply_fault(fleet, "tn-sig-001", "breaker_trip")
    with pytest.raises(FaultError, match="circuit"):
        apply_fault(fleet, "tn-cab-001", "breaker_trip", {"circuit": 9})
    assert not any(c.breaker_tripped for c in fleet.cabinets["tn-cab-001"].circuits)


def test_cabinet_faults_show_in_its_registers() -> None:
    fleet, engine, clock = built()
    cab, regs = fleet.cabinets["tn-cab-001"], fleet.registers["tn-cab-001"]
    cab.switch(1, 100, None)
    cab.switch(2, 100, None)
    advance(engine, clock, 2)
    regs.refresh(clock.now())       # type: ignore[call-arg]
    full = regs.image.get("circuit1_current_a")
    apply_fault(fleet, "tn-cab-001", "lamp_failure", {"circuit": 1, "count": cab.circuits[0].luminaires // 2})
    apply_fault(fleet, "tn-cab-001", "breaker_trip", {"circuit": 2})
    apply_fault(fleet, "tn-cab-001", "door_open")
    advance(engine, clock, 2)
    regs.refresh(clock.now())       # type: ignore[call-arg]
    assert float(regs.image.get("circuit1_current_a")) < 0.6 * float(full)
    assert regs.image.get("breaker2_tripped") is True and regs.image.get("circuit2_current_a") == 0
    assert regs.image.get("door_open") is True
    flags = int(regs.image.get("alarm_flags"))
    assert flags & 0b1101 == 0b1101          # door_open, breaker_trip, lamp_failure
    apply_fault(fleet, "tn-cab-001", "power_fail")
    advance(engine, clock, 2)
    assert not cab.mains_ok and not any(c.on for c in cab.circuits)
    apply_fault(fleet, "tn-cab-001", "clock_drift", {"s_per_h": 3600})
    advance(engine, clock, 90)
    assert "clock_drift" in cab.alarms(clock.now())


def test_controller_power_fail_and_restore_logs_events_and_starts_in_flash() -> None:
    fleet, engine, clock = built()
    ctrl, regs = fleet.controllers["tn-sig-001"], fleet.registers["tn-sig-001"]
    advance(engine, clock, 30)
    ctrl.events.entries.clear()
    apply_fault(fleet, "tn-sig-001", "power_fail")
    advance(engine, clock, 10)
    assert ctrl.mode == "dark" and ctrl.display.green == 0
    apply_fault(fleet, "tn-sig-001", "power_fail", {"active": False})
    advance(engine, clock, 1)
    regs.refresh()                  # type: ignore[call-arg]
    assert regs.image.get("mode") == 1 and regs.image.get("flash_cause") == 4
    codes = [e.code for e in ctrl.events.entries]
    assert codes[:2] == [182, 184]


async def test_control_endpoint_over_http_and_the_wire_effects(tmp_path: Path) -> None:
    async with running_fleet(small(20.0)) as (fleet, manifest):
        url = manifest["control"]["url"]
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            devices = (await http.get("/devices")).json()
            assert [d["id"] for d in devices] == ["tn-sig-001", "tn-sig-002", "tn-cab-001"]
            bad = await http.post("/faults", json={"device": "tn-sig-001", "fault": "melt"})
            assert bad.status_code == 400 and "melt" in bad.json()["error"]
            assert (await http.post("/faults", content=b"{nope")).status_code == 400
            assert (await http.get("/nowhere")).status_code == 404
        dev = manifest["devices"][0]
        addr = ["-a", str(dev["unit_id"]), "-p", str(dev["port"]), dev["host"]]
        await asyncio.sleep(0.5)
        await inject_fault(url, "tn-sig-001", "force_conflict")
        await asyncio.sleep(0.1)
        mode, cause = await mbpoll("-t", "3", "-r", "5", "-c", "2", *addr)
        alarms = (await mbpoll("-t", "3", "-r", "12", *addr))[0]
        assert (mode, cause) == (1, 1) and alarms & 1
        await inject_fault(url, "tn-sig-001", "force_conflict", {"active": False})
        await mbpoll("-t", "4", "-r", "200", *addr, "5", "0", "0", "0", "31")        # reset_conflict
        assert await mbpoll("-t", "3", "-r", "19", "-c", "2", *addr) == [31, 1]
        with pytest.raises(FaultError, match="no device"):
            await inject_fault(url, "tn-sig-077", "door_open")
        # communication fault: the unit stops answering (exception 0x0B), then recovers
        await inject_fault(url, "tn-sig-001", "comm_loss")
        with pytest.raises(AssertionError, match="mbpoll"):
            await mbpoll("-t", "3", "-r", "5", *addr)
        other = manifest["devices"][1]
        assert len(await mbpoll("-t", "3", "-r", "5", "-a", str(other["unit_id"]), "-p", str(other["port"]),
                                other["host"])) == 1, "the other unit on the same port still answers"
        await inject_fault(url, "tn-sig-001", "comm_loss", {"active": False})
        assert len(await mbpoll("-t", "3", "-r", "5", *addr)) == 1
        assert not fleet.comm_fault


async def test_scenario_file_runs_on_virtual_time(tmp_path: Path) -> None:
    path = tmp_path / "night.yaml"
    path.write_text("- at: 2 min\n  device: tn-cab-001\n  fault: door_open\n"
                    "- {at: 30 s, device: tn-sig-002, fault: detector_fault, args: {detector: 4}}\n"
                    "- {at: 3 min, device: tn-cab-001, fault: door_open, args: {active: false}}\n")
    steps = load_scenario(path)
    assert [s.at_s for s in steps] == [30.0, 120.0, 180.0]
    clock = ManualClock()
    fleet = build_fleet(small(), clock)
    task = asyncio.create_task(run_scenario(fleet, steps))
    seen = set()
    while not task.done():
        await asyncio.sleep(0)
        seen.add((clock.monotonic(), fleet.cabinets["tn-cab-001"].door_open,
                  fleet.controllers["tn-sig-002"].detectors.detectors[4].failed))
    assert (120.0, True, True) in seen and (30.0, False, True) in seen
    assert not fleet.cabinets["tn-cab-001"].door_open
    assert clock.monotonic() == 180.0


@pytest.mark.parametrize(("doc", "message"), [
    ({"at": 1}, "a list"),
    ([{"at": "soon", "device": "x", "fault": "door_open"}], "step 1.at"),
    ([{"at": 1, "device": "x"}], "step 1: needs"),
    ([{"at": 1, "device": "x", "fault": "door_open", "when": 2}], "unknown fields"),
])
def test_bad_scenarios_are_refused(doc: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(doc)


def test_engine_catches_up_in_slices_and_skips_beyond_its_lag_limit() -> None:
    fleet, engine, clock = built()
    ctrl = fleet.controllers["tn-sig-001"]
    epoch0 = ctrl.epoch_ticks
    clock.advance(30)
    slices = 0
    while not engine.advance(max_ticks=50):
        slices += 1
    assert slices == 5 and ctrl.uptime_ticks == 300 and not engine.lagging
    clock.advance(200)                       # the host stalled: 200 virtual s behind, 60 s is the most it replays
    assert engine.advance(max_ticks=10) is False and engine.lagging
    while not engine.advance(max_ticks=1000):
        pass
    assert engine.skipped_s == 140.0 and not engine.lagging
    assert ctrl.uptime_ticks == 300 + 600
    assert ctrl.epoch_ticks - epoch0 == 2300, "the controller's clock still matches the virtual clock"


async def test_fault_command_line(tmp_path: Path) -> None:
    async with running_fleet(small(1.0)) as (fleet, manifest):
        url = manifest["control"]["url"]

        async def cli(*args: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "firmware_sim.control", url, *args, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            return proc.returncode or 0, out.decode(), err.decode()

        code, out, _ = await cli("tn-cab-001", "breaker_trip", '{"circuit": 3}')
        assert code == 0 and json.loads(out)["fault"] == "breaker_trip"
        assert fleet.cabinets["tn-cab-001"].circuits[2].breaker_tripped
        code, _, err = await cli("tn-cab-001", "breaker_trip", '{"circuit": 30}')
        assert code == 1 and "circuit" in err
        code, out, _ = await cli("--devices")
        assert code == 0 and len(json.loads(out)) == 3
