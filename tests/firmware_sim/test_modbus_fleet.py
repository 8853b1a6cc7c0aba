"""A simulated fleet on Modbus TCP, read and commanded by a real external client (`mbpoll`)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from contracts import MANIFEST_SCHEMA
from firmware_sim.fleet import FleetConfig
from tests.firmware_sim.fleet_runner import mbpoll, running_fleet


@pytest.fixture(autouse=True)
def _mbpoll_installed() -> None:
    # Missing mbpoll fails rather than skips: `make services` installs it, and a skipped check proves nothing.
    assert shutil.which("mbpoll"), "these tests read the fleet with Debian's mbpoll: run `make services`"


def modbus_config(tmp_path: Path, speed: float) -> FleetConfig:
    # No MQTT devices: no broker needed. Two units a port proves unit ids behind one port.
    return FleetConfig(intersections=3, cabinets=1, modbus_cabinets=1, speed=speed, units_per_port=2,
                       manifest_path=tmp_path / "manifest.json", control_port=None)


async def test_manifest_lists_every_device_with_its_address(tmp_path: Path) -> None:
    async with running_fleet(modbus_config(tmp_path, 1.0)) as (fleet, manifest):
        on_disk = json.loads((tmp_path / "manifest.json").read_text())
        assert on_disk == manifest
        jsonschema.validate(manifest, json.loads(MANIFEST_SCHEMA.read_text()))
        ids = [d["id"] for d in manifest["devices"]]
        assert ids == ["tn-sig-001", "tn-sig-002", "tn-sig-003", "tn-cab-001"]
        ports = {(d["port"], d["unit_id"]) for d in manifest["devices"]}
        assert len(ports) == 4 and len({p for p, _ in ports}) == 2
        assert manifest["devices"][3]["profile"] == "lighting-cabinet-v2"
        assert len(fleet.ports) == 2


async def test_mbpoll_sees_phases_and_mode_change(tmp_path: Path) -> None:
    async with running_fleet(modbus_config(tmp_path, 20.0)) as (_, manifest):
        dev = manifest["devices"][0]
        addr = ["-a", str(dev["unit_id"]), "-p", str(dev["port"]), dev["host"]]
        seen = []
        for _ in range(40):
            green, yellow, red, _walk, _clear, mode = await mbpoll("-t", "3", "-r", "0", "-c", "6", *addr)
            seen.append((green, yellow, red, mode))
            await asyncio.sleep(0.1)
        modes = {m for *_, m in seen}
        assert 1 in modes and modes & {2, 3}, f"startup flash, then running: {modes}"
        greens = {g for g, *_ in seen if g}
        assert len(greens) >= 2, f"phase greens should change: {seen}"
        for green, yellow, red, _ in seen:
            assert green & yellow == 0 and green & red == 0


async def test_flash_command_block_and_backup_timer(tmp_path: Path) -> None:
    async with running_fleet(modbus_config(tmp_path, 50.0)) as (fleet, manifest):
        dev = manifest["devices"][1]
        addr = ["-a", str(dev["unit_id"]), "-p", str(dev["port"]), dev["host"]]
        await asyncio.sleep(0.3)                    # past startup flash (15 virtual s)
        # flash, pattern 0, backup timer 120 s (u32, high word first), token 4242 - one FC16 write
        await mbpoll("-t", "4", "-r", "200", *addr, "2", "0", "0", "120", "4242")
        token, code = await mbpoll("-t", "3", "-r", "19", "-c", "2", *addr)
        assert (token, code) == (4242, 1)
        modes = []
        for _ in range(60):
            mode, cause = await mbpoll("-t", "3", "-r", "5", "-c", "2", *addr)
            modes.append((mode, cause))
            if (mode, cause) == (1, 3):
                break
            await asyncio.sleep(0.05)
        assert modes[-1] == (1, 3), f"central flash after clearance: {modes}"
        control_source, remaining = await mbpoll("-t", "3", "-r", "10", "-c", "2", *addr)
        assert control_source == 1 and 0 < remaining <= 120
        # not renewed: the backup timer returns the controller to its schedule (120 virtual s = 2.4 s)
        for _ in range(100):
            mode, source = (await mbpoll("-t", "3", "-r", "5", "-c", "6", *addr))[0::5]
            if source == 0 and mode in (2, 3):
                break
            await asyncio.sleep(0.1)
        assert source == 0 and mode in (2, 3)
        assert fleet.controllers[dev["id"]].central is None


async def test_cabinet_unit_reads_circuits_and_switches(tmp_path: Path) -> None:
    async with running_fleet(modbus_config(tmp_path, 1.0)) as (_, manifest):
        dev = manifest["devices"][3]
        addr = ["-a", str(dev["unit_id"]), "-p", str(dev["port"]), dev["host"]]
        circuits = await mbpoll("-t", "3", "-r", "76", *addr)
        assert circuits == [4]
        # switch circuit 2 to 35 % for 600 s, token 9
        await mbpoll("-t", "4", "-r", "200", *addr, "1", "2", "35", "0", "600", "9")
        token, code = await mbpoll("-t", "3", "-r", "55", "-c", "2", *addr)
        assert (token, code) == (9, 1)
        on = await mbpoll("-t", "1", "-r", "1", *addr)
        level, control = (await mbpoll("-t", "3", "-r", "1", "-c", "9", *addr))[0::8]
        assert on == [1] and level == 35 and control == 1
        # circuit 7 does not exist: result invalid_args, nothing changes
        await mbpoll("-t", "4", "-r", "200", *addr, "1", "7", "35", "0", "600", "10")
        assert await mbpoll("-t", "3", "-r", "55", "-c", "2", *addr) == [10, 2]


@pytest.mark.parametrize(("changes", "message"), [
    ({"site": "Thai Nguyen"}, "site"),
    ({"modbus_cabinets": 3, "cabinets": 2}, "modbus_cabinets"),
    ({"speed": 0}, "speed"),
    ({"units_per_port": 300}, "units_per_port"),
    ({"modbus_port": 70000}, "modbus_port"),
])
async def test_bad_options_are_refused_before_anything_starts(changes: dict[str, object], message: str) -> None:
    config = FleetConfig(control_port=None, **changes)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        async with running_fleet(config):
            pass


async def test_a_taken_modbus_port_is_an_os_error(tmp_path: Path) -> None:
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = FleetConfig(intersections=1, cabinets=0, modbus_cabinets=0, modbus_port=port, control_port=None)
        with pytest.raises(OSError, match=str(port)):
            async with running_fleet(config):
                pass
