"""deploy_program on a Modbus lighting cabinet: the gateway's executor against the firmware simulator on real
Modbus TCP. A valid document runs on the cabinet (its CRC read back, its levels applied); a document the validator
refuses or a wrong CRC writes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controllers.commands import CommandEnvelope, DeployProgram, command_args
from controllers.lighting import LightingV1, encode_lighting
from firmware_sim.clock import VirtualClock
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.fleet_runner import run_fleet
from gateways.manifest import DeviceEntry, load_manifest
from gateways.modbus.link import ModbusLink
from gateways.modbus.profile import load_profile
from gateways.modbus.program_deploy import ProgramDeployer
from gateways.modbus.reader import DeviceReader

EXAMPLE = Path(__file__).resolve().parents[2] / "contracts" / "lighting" / "examples" / "thai-nguyen-city.json"
EVENING = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)       # 22:30 in Thái Nguyên, a Wednesday
SPEED = 10.0
STAGING, HEADER = 400, 300


def example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return doc


def command(doc: dict[str, Any], crc: int | None = None) -> tuple[DeployProgram, CommandEnvelope]:
    if crc is None:
        crc = encode_lighting(LightingV1.model_validate(doc)).crc32
    cmd = DeployProgram(document=doc, crc32=crc, deployment_id="lighting-1")
    envelope = CommandEnvelope(id="cmd-program-0001", name="deploy_program", args=command_args(cmd),
                               issued_by="engineer", expires_at=datetime.now(UTC) + timedelta(minutes=5))
    return cmd, envelope


@dataclass
class CabinetRig:
    fleet: Fleet
    entry: DeviceEntry
    reader: DeviceReader
    clock: VirtualClock
    published: list[dict[str, Any]] = field(default_factory=list)

    def deployer(self) -> ProgramDeployer:
        async def publish(payload: dict[str, Any]) -> None:
            self.published.append(payload)

        async def read_state() -> dict[str, Any]:
            return (await self.reader.read_group("fast")).values

        return ProgramDeployer(self.reader, self.clock, publish, read_state, poll_interval_s=1.0)

    async def holding(self, address: int, count: int) -> list[int]:
        return await self.reader.link.read("holding", address, count, unit_id=self.reader.unit_id,
                                           device=self.entry.id)


@contextlib.asynccontextmanager
async def cabinet_rig(tmp_path: Path) -> AsyncIterator[CabinetRig]:
    clock = VirtualClock(SPEED, start=EVENING)
    config = FleetConfig(intersections=0, cabinets=1, modbus_cabinets=1, speed=SPEED, control_port=0,
                         manifest_path=tmp_path / "manifest.json")
    loop = asyncio.get_running_loop()
    built: asyncio.Future[Fleet] = loop.create_future()
    ready: asyncio.Future[dict[str, Any]] = loop.create_future()
    task = asyncio.create_task(run_fleet(config, clock=clock, on_ready=ready.set_result, started=built.set_result))
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert ready in done, "fleet not ready within 30 s"
        entry = next(d for d in load_manifest(tmp_path / "manifest.json") if d.kind == "lighting_cabinet")
        assert entry.host is not None and entry.port is not None and entry.profile is not None
        link = ModbusLink(entry.host, entry.port)
        try:
            yield CabinetRig(built.result(), entry, DeviceReader(entry, load_profile(entry.profile), link), clock)
        finally:
            link.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@pytest.mark.integration
async def test_a_valid_document_runs_on_the_cabinet(tmp_path: Path) -> None:
    async with cabinet_rig(tmp_path) as rig:
        cabinet = rig.fleet.cabinets[rig.entry.id]
        doc = example()
        cmd, envelope = command(doc)
        result = await rig.deployer().run(cmd, envelope)
        assert result["ok"] is True and result["stage"] == "active", result
        assert [p["stage"] for p in rig.published] == ["transferring", "verifying", "activating"]
        assert result["state"]["program_crc32"] == cmd.crc32 == cabinet.program_crc32
        await rig.clock.sleep(5)       # next steps: circuits at the weekday program's 100 % before 23:00
        assert [c.program_level_pct for c in cabinet.circuits] == [100.0, 100.0, 100.0, 40.0]
        # The same document again: nothing is sent, the answer is the state.
        rig.published.clear()
        again = await rig.deployer().run(cmd, envelope)
        assert again["ok"] is True and rig.published == []


@pytest.mark.integration
@pytest.mark.parametrize("case", ["refused", "wrong_crc"])
async def test_a_refused_document_or_a_wrong_crc_writes_nothing(tmp_path: Path, case: str) -> None:
    async with cabinet_rig(tmp_path) as rig:
        doc = example()
        if case == "refused":
            doc["programs"][0]["steps"][1]["level_pct"] = 120
            cmd, envelope = command(doc)
        else:
            cmd, envelope = command(doc, crc=12345)
        before = await rig.holding(HEADER, 4), await rig.holding(STAGING, 100)
        result = await rig.deployer().run(cmd, envelope)
        assert result["ok"] is False and result["stage"] == "rolled_back"
        if case == "refused":
            assert result["error"] == "invalid_program" and "level_range at programs[0].steps[1]" in result["message"]
        else:
            assert result["error"] == "crc_mismatch"
        assert (await rig.holding(HEADER, 4), await rig.holding(STAGING, 100)) == before
        assert rig.fleet.cabinets[rig.entry.id].program_crc32 is None
