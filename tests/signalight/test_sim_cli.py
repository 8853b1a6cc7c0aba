"""`signalight sim --start --signal-cabinets`: the production command takes the simulator's clock start and cabinet
configuration as `python -m firmware_sim` does, and refuses wrong values naming the option before starting."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from typer.testing import CliRunner

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from signalight.cli import app
from tests.servers import Mosquitto, free_port


def test_start_without_offset_is_refused_naming_the_option() -> None:
    result = CliRunner().invoke(app, ["sim", "--start", "2026-12-02T17:00:00"])
    assert result.exit_code == 2 and "--start" in result.output and "UTC offset" in result.output


def test_start_that_is_not_a_time_is_refused() -> None:
    result = CliRunner().invoke(app, ["sim", "--start", "dusk"])
    assert result.exit_code == 2 and "--start: not an ISO 8601 time" in result.output


@pytest.mark.parametrize(("doc", "names"), [
    ({"*": {"remote_conflict_reset": "no"}}, "remote_conflict_reset"),
    ({"tn-sig-001": {"permissive": [[1, 1]]}}, "permissive"),
    ({"*": {"preemption": {"track_clear_s": -1}}}, "track_clear_s"),
    ({"*": []}, "expected an object"),
])
def test_wrong_signal_cabinets_are_refused_naming_the_field(tmp_path: Path, doc: object, names: str) -> None:
    path = tmp_path / "cabinets.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(app, ["sim", "--signal-cabinets", str(path)])
    assert result.exit_code == 2 and names in result.output and "cabinets.json" in result.output


def test_non_finite_number_in_signal_cabinets_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cabinets.json"
    path.write_text('{"*": {"preemption": {"min_dwell_s": NaN}}}')
    result = CliRunner().invoke(app, ["sim", "--signal-cabinets", str(path)])
    assert result.exit_code == 2 and "non_finite" in result.output


async def _controller(host: str, port: int, unit: int) -> tuple[int, int]:
    """(controller clock s, result of a reset_conflict command) read over Modbus."""
    client = AsyncModbusTcpClient(host, port=port, timeout=5)
    await client.connect()
    try:
        rr = await client.read_input_registers(16, count=2, device_id=unit)
        assert not rr.isError(), rr
        clock = rr.registers[0] << 16 | rr.registers[1]
        wr = await client.write_registers(200, [5, 0, 0, 0, 4242], device_id=unit)
        assert not wr.isError(), wr
        for _ in range(50):
            res = await client.read_input_registers(19, count=2, device_id=unit)
            if not res.isError() and res.registers[0] == 4242:
                return clock, res.registers[1]
            await asyncio.sleep(0.1)
        raise AssertionError("no command result")
    finally:
        client.close()


@pytest.mark.integration
def test_sim_runs_from_the_given_start_with_the_given_cabinet(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cabinets = tmp_path / "cabinets.json"
    cabinets.write_text(json.dumps({"*": {"remote_conflict_reset": False}}))
    start = datetime.fromisoformat("2026-12-02T17:00:00+07:00")
    rig = Rig(tmp_path, rig_env(tmp_path, mosquitto.host, mosquitto.port, free_port()))
    try:
        rig.start("sim", "sim", "--intersections", "1", "--cabinets", "0", "--modbus-cabinets", "0",
                  "--start", start.isoformat(), "--signal-cabinets", str(cabinets))
        manifest = eventually(lambda: read_manifest(tmp_path / "manifest.json"), 60, "the manifest", rig)
        device = manifest["devices"][0]
        clock, result = asyncio.run(_controller(device["host"], device["port"], device["unit_id"]))
        # the virtual clock began at the given start (speed 1: a few seconds have passed since)
        assert 0 <= clock - start.timestamp() < 60, clock - start.timestamp()
        # the cabinet forbids a remote reset of a conflict flash: the command is refused (3)
        assert result == 3
    finally:
        rig.stop_all()
