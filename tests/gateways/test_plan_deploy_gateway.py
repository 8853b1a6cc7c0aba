"""deploy_plan through the whole gateway on real Mosquitto and the simulated controller on real Modbus: the command
arrives on `cmd`, progress and the final answer come back on `cmd/res` in order (each valid against the contract),
the published state shows the new plan; a repeated id is answered again without a second transfer, an expired or
refused deploy touches nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from controllers.clock import SystemClock
from controllers.plans import PlanV1, encode_plan
from gateways.gateway import run_gateway
from gateways.manifest import load_manifest
from tests.command_signing import TEST_KEYS
from tests.gateways.gateway_rig import Watcher, bus, cmd, watching
from tests.gateways.plan_rig import NEW_CYCLE_S, Rig, controller_rig, new_plan
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def gateway(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[Rig, Watcher]]:
    async with controller_rig(tmp_path) as rig, watching(mosquitto) as w:
        await rig.settled()
        task = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-plan"), clock=SystemClock(),
                                               devices=load_manifest(tmp_path / "manifest.json"),
                                               command_keys=TEST_KEYS))
        try:
            await w.wait_for(f"sl/v1/tn/{rig.entry.id}/state", within_s=15)
            yield rig, w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def answers(w: Watcher, topic: str, command_id: str) -> list[dict[str, Any]]:
    return [p for t, p, _ in w.messages if t == topic and p["id"] == command_id]


async def test_deploy_through_the_gateway(mosquitto: Mosquitto, tmp_path: Path) -> None:
    async with gateway(mosquitto, tmp_path) as (rig, w), aiomqtt.Client(mosquitto.host, mosquitto.port) as sender:
        dev = rig.entry.id
        res_topic, state_topic = f"sl/v1/tn/{dev}/cmd/res", f"sl/v1/tn/{dev}/state"
        plan = new_plan(dev)
        crc = encode_plan(PlanV1.model_validate(plan)).crc32
        deploy = cmd("deploy_plan", {"plan": plan, "crc32": crc, "deployment_id": "dep-42"}, expires_in_s=120,
                     device=dev)
        await sender.publish(f"sl/v1/tn/{dev}/cmd", json.dumps(deploy), qos=1)
        final = await w.wait_for(res_topic, lambda p: p["id"] == deploy["id"] and p.get("final", True),
                                 within_s=60)
        assert final["ok"] is True and final["stage"] == "active", final
        assert final["state"]["plan_crc32"] == crc and final["state"]["cycle_s"] == NEW_CYCLE_S
        seen = answers(w, res_topic, deploy["id"])
        assert [p["stage"] for p in seen] == ["transferring", "verifying", "activating", "active"]
        assert [p.get("final", True) for p in seen] == [False, False, False, True]
        await w.wait_for(state_topic, lambda p: p["values"]["cycle_s"] == NEW_CYCLE_S
                         and p["values"]["plan_crc32"] == crc, within_s=15)

        # A resent id: the stored answer again, no second transfer (no new progress reports).
        await sender.publish(f"sl/v1/tn/{dev}/cmd", json.dumps(deploy), qos=1)
        await w.wait_for(res_topic, lambda p: p["id"] == deploy["id"], count=5, within_s=15)
        again = answers(w, res_topic, deploy["id"])
        assert again[4] == final and [p.get("stage") for p in again].count("transferring") == 1

        # Expired, and refused by the validator: answered at once, nothing written, the new plan still runs.
        expired = cmd("deploy_plan", {"plan": new_plan(dev), "crc32": crc}, expires_in_s=-1, device=dev)
        bad_plan = new_plan(dev)
        bad_plan["patterns"][0]["cycle_s"] = 20
        refused = cmd("deploy_plan", {"plan": bad_plan, "crc32": 1}, device=dev)
        header = rig.fleet.registers[dev].image.tables["holding"][300:304]
        for c in (expired, refused):
            await sender.publish(f"sl/v1/tn/{dev}/cmd", json.dumps(c), qos=1)
        r1 = await w.wait_for(res_topic, lambda p: p["id"] == expired["id"], within_s=15)
        r2 = await w.wait_for(res_topic, lambda p: p["id"] == refused["id"], within_s=15)
        assert r1["ok"] is False and r1["error"] == "expired", r1
        assert r2["ok"] is False and r2["error"] == "invalid_plan" and "cycle_range" in r2["message"], r2
        assert len(answers(w, res_topic, refused["id"])) == 1, "no progress for a refused plan"
        assert rig.fleet.registers[dev].image.tables["holding"][300:304] == header
        assert (await rig.read("plan_crc32"))["plan_crc32"] == crc
