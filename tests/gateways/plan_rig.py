"""A rig for plan-deploy tests: one simulated controller (firmware_sim) on real Modbus TCP, a deployer wired to it,
the new plan to deploy, and a reader of the controller's event FIFO over Modbus."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controllers.commands import CommandEnvelope, DeployPlan, command_args
from controllers.plans import PlanV1, encode_plan
from firmware_sim.clock import VirtualClock
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.fleet_runner import run_fleet
from firmware_sim.plan import default_plan_doc
from gateways.manifest import DeviceEntry, load_manifest
from gateways.modbus.link import ModbusLink
from gateways.modbus.plan_deploy import PlanDeployer
from gateways.modbus.profile import load_profile
from gateways.modbus.reader import DeviceReader

# 10:00 on Monday in Hà Nội: the simulator's default plan runs pattern 1, a 100 s cycle.
MORNING = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
SPEED = 20.0
NEW_CYCLE_S = 90
NEW_SPLITS = {"1": 12, "2": 38, "3": 12, "4": 28, "5": 12, "6": 38, "7": 12, "8": 28}
NEW_YELLOW_2_S = 4.2


def new_plan(device_id: str) -> dict[str, Any]:
    """The simulator's default plan with one all-day pattern: a 90 s cycle, new splits, phase 2/6 yellow 4.2 s."""
    doc = default_plan_doc(device_id)
    doc["name"] = "deploy test 90 s"
    doc["patterns"] = [{"pattern": 1, "cycle_s": NEW_CYCLE_S, "offset_s": 0, "coord_phases": [2, 6],
                        "splits_s": dict(NEW_SPLITS)}]
    doc["day_plans"] = [{"day_plan": 1, "events": [{"at": "00:00", "action": "pattern", "pattern": 1}]}]
    for phase in doc["phases"]:
        if phase["phase"] in (2, 6):
            phase["yellow_s"] = NEW_YELLOW_2_S
    return doc


def deploy_command(plan: dict[str, Any], crc: int | None = None, *, deployment_id: str = "dep-1",
                   command_id: str = "cmd-deploy-0001") -> tuple[DeployPlan, CommandEnvelope]:
    """A deploy_plan command for `plan`; `crc` defaults to the plan's own CRC (0 if the plan does not parse)."""
    if crc is None:
        try:
            crc = encode_plan(PlanV1.model_validate(plan)).crc32
        except ValueError:
            crc = 0
    command = DeployPlan(plan=plan, crc32=crc, deployment_id=deployment_id)
    envelope = CommandEnvelope(id=command_id, name="deploy_plan", args=command_args(command), issued_by="test",
                               expires_at=datetime.now(UTC) + timedelta(minutes=5))
    return command, envelope


@dataclass
class Rig:
    fleet: Fleet
    manifest: dict[str, Any]
    entry: DeviceEntry
    reader: DeviceReader
    clock: VirtualClock
    published: list[dict[str, Any]] = field(default_factory=list)

    def deployer(self, **kw: Any) -> PlanDeployer:
        async def publish(payload: dict[str, Any]) -> None:
            self.published.append(payload)

        async def read_state() -> dict[str, Any]:
            return (await self.reader.read_group("fast")).values

        return PlanDeployer(self.reader, self.clock, publish, read_state, poll_interval_s=1.0, **kw)

    async def read(self, *names: str) -> dict[str, Any]:
        return (await self.reader.read_points(names)).values

    async def settled(self, within_s: float = 300.0) -> dict[str, Any]:
        """Wait (virtual time) until the controller runs a coordination pattern after its startup flash."""
        deadline = self.clock.monotonic() + within_s
        while True:
            values = await self.read("plan_crc32", "cycle_s", "pattern", "mode")
            if values["mode"] == "coordinated" or self.clock.monotonic() > deadline:
                return values
            await self.clock.sleep(1.0)

    async def holding(self, address: int, count: int) -> list[int]:
        out: list[int] = []
        for i in range(0, count, 125):
            out += await self.reader.link.read("holding", address + i, min(125, count - i),
                                               unit_id=self.reader.unit_id, device=self.entry.id)
        return out


@contextlib.asynccontextmanager
async def controller_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """One Modbus signal controller at virtual 10:00, running at SPEED, with its fault endpoint."""
    clock = VirtualClock(SPEED, start=MORNING)
    config = FleetConfig(intersections=1, cabinets=0, modbus_cabinets=0, speed=SPEED, control_port=0,
                         manifest_path=tmp_path / "manifest.json")
    loop = asyncio.get_running_loop()
    built: asyncio.Future[Fleet] = loop.create_future()
    ready: asyncio.Future[dict[str, Any]] = loop.create_future()
    task = asyncio.create_task(run_fleet(config, clock=clock, on_ready=ready.set_result, started=built.set_result))
    try:
        waits: set[asyncio.Future[Any]] = {task, ready}
        done, _ = await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert ready in done, "fleet not ready within 30 s"
        fleet, manifest = built.result(), ready.result()
        entry = next(d for d in load_manifest(tmp_path / "manifest.json") if d.kind == "signal_controller")
        assert entry.host is not None and entry.port is not None and entry.profile is not None
        link = ModbusLink(entry.host, entry.port)
        try:
            yield Rig(fleet, manifest, entry, DeviceReader(entry, load_profile(entry.profile), link), clock)
        finally:
            link.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def record_events(rig: Rig, into: list[tuple[float, int, int]], stop: asyncio.Event) -> None:
    """Drain the controller's event FIFO over Modbus every 1 virtual s: (epoch seconds, code, param), acked."""
    area = rig.reader.profile.areas["event_fifo"]
    ack = rig.reader.profile.point("event_ack").address
    last: int | None = None
    while not stop.is_set():
        count = (await rig.read("event_count"))["event_count"]
        if count:
            regs = await rig.reader.link.read("input", area.address, count * 6, unit_id=rig.reader.unit_id)
            for i in range(count):
                seq, code, param, hi, lo, ms = regs[i * 6:i * 6 + 6]
                if seq and seq != last:
                    into.append((((hi << 16) | lo) + ms / 1000, code, param))
                    last = seq
            await rig.reader.link.write_registers(ack, [last or 0], unit_id=rig.reader.unit_id)
        await rig.clock.sleep(1.0)
