"""MQTT cabinets against a real Mosquitto: retained announcements, a switch command round trip, payloads that
validate against the contract schemas, a clean stop, and the Last Will on a communication fault."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from firmware_sim.clock import rfc3339
from firmware_sim.faults import apply_fault
from firmware_sim.fleet import FleetConfig
from tests.command_signing import signed, write_test_keys
from tests.firmware_sim.broker_watch import collect, validate_all, wait_for
from tests.firmware_sim.fleet_runner import running_fleet
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


def mqtt_config(tmp_path: Path, broker: Mosquitto) -> FleetConfig:
    return FleetConfig(intersections=0, cabinets=2, modbus_cabinets=0, speed=5.0, mqtt_host=broker.host,
                       mqtt_port=broker.port, manifest_path=tmp_path / "m.json", control_port=None,
                       command_keys=write_test_keys(tmp_path))


async def test_switch_round_trip_schemas_and_no_replay_after_a_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A signed switch runs; the simulator is stopped and started again on the same state directory; the same
    command, sent again while still valid, is refused `replayed` and changes nothing."""
    messages: list[tuple[str, dict[str, Any], bool]] = []
    config = replace(mqtt_config(tmp_path, mosquitto), state_dir=tmp_path / "state")
    cmd_id = str(uuid.uuid4())
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="test-observer") as client, \
            asyncio.TaskGroup() as tg:
        async with running_fleet(config) as (fleet, manifest):
            assert [d["client_id"] for d in manifest["devices"]] == ["tn-cab-001", "tn-cab-002"]
            await client.subscribe("sl/v1/tn/#", qos=1)     # after the devices announced: retained copies
            reader = tg.create_task(collect(client, messages))
            for suffix in ("birth", "status", "state"):
                m = await wait_for(messages, lambda m, s=suffix: m[0] == f"sl/v1/tn/tn-cab-002/{s}")
                assert m[2], f"{suffix} is retained"
            until = rfc3339(fleet.clock.now() + timedelta(hours=1))
            genuine = json.dumps(signed(
                {"id": cmd_id, "name": "switch", "args": {"circuit": 2, "level_pct": 25, "until": until},
                 "issued_by": "test", "expires_at": rfc3339(datetime.now(UTC) + timedelta(minutes=5))},
                "tn", "tn-cab-002"))
            await client.publish("sl/v1/tn/tn-cab-002/cmd", genuine, qos=1)
            _, res, _ = await wait_for(messages, lambda m: m[0].endswith("tn-cab-002/cmd/res"))
            assert res["id"] == cmd_id and res["ok"] is True
            # on flash before the answer went out
            assert cmd_id in json.loads((tmp_path / "state" / "tn-cab-002.replay.json").read_text())["seen"]
            _, state, _ = await wait_for(messages, lambda m: m[0].endswith("tn-cab-002/state") and
                                         m[1]["values"]["circuits"][1]["control"] == "override")
            c2 = state["values"]["circuits"][1]
            assert c2["level_pct"] == 25 and c2["on"] is True
            await wait_for(messages, lambda m: m[0].endswith("/telemetry"))
            # a malformed command with an id is answered "malformed"
            await client.publish("sl/v1/tn/tn-cab-001/cmd", json.dumps({"id": "bad-cmd-1", "name": "switch"}),
                                 qos=1)
            _, bad, _ = await wait_for(messages, lambda m: m[0].endswith("tn-cab-001/cmd/res"))
            assert bad == {**bad, "ok": False, "error": "malformed"}
        # Restarted: the override was in RAM and is gone; the replay window was on flash and is not.
        async with running_fleet(config) as (fleet, _):
            assert cmd_id in fleet.links["tn-cab-002"].face.book.seen
            await wait_for(messages, lambda _: sum(m[0] == "sl/v1/tn/tn-cab-002/status" and
                                                   m[1]["status"] == "online" for m in messages) >= 2)
            await client.publish("sl/v1/tn/tn-cab-002/cmd", genuine, qos=1)
            _, replay, _ = await wait_for(messages, lambda m: m[0].endswith("tn-cab-002/cmd/res") and
                                          m[1]["id"] == cmd_id and not m[1]["ok"])
            assert replay["error"] == "replayed"
            assert not fleet.cabinets["tn-cab-002"].circuits[1].overridden
        reader.cancel()
    validate_all(messages)


async def test_clean_stop_and_last_will(tmp_path: Path, mosquitto: Mosquitto) -> None:
    messages: list[tuple[str, dict[str, Any], bool]] = []
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="test-observer-2") as client:
        await client.subscribe("sl/v1/tn/+/status", qos=1)
        reader = asyncio.create_task(collect(client, messages))
        try:
            async with running_fleet(mqtt_config(tmp_path, mosquitto)) as (fleet, _):
                await wait_for(messages, lambda m: m[0].endswith("tn-cab-001/status") and
                               m[1]["status"] == "online")
                apply_fault(fleet, "tn-cab-001", "comm_loss")
                # the broker publishes the Last Will: offline, without the "stopped" reason of a clean stop
                _, will, _ = await wait_for(messages, lambda m: m[0].endswith("tn-cab-001/status") and
                                            m[1]["status"] == "offline", timeout_s=15)
                assert "reason" not in will
                messages.clear()
                apply_fault(fleet, "tn-cab-001", "comm_loss", {"active": False})
                await wait_for(messages, lambda m: m[0].endswith("tn-cab-001/status") and
                               m[1]["status"] == "online", timeout_s=15)
                assert fleet.links["tn-cab-001"].face.bd_seq == 1
                messages.clear()
            _, stopped, _ = await wait_for(messages, lambda m: m[0].endswith("tn-cab-002/status") and
                                           m[1]["status"] == "offline")
            assert stopped["reason"] == "stopped"
        finally:
            reader.cancel()
    validate_all(messages)


async def test_mosquitto_sub_sees_valid_payloads_and_rebirth(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A real external client (`mosquitto_sub`) records everything the cabinets publish for a while."""
    config = FleetConfig(intersections=0, cabinets=3, modbus_cabinets=0, speed=30.0, mqtt_host=mosquitto.host,
                         mqtt_port=mosquitto.port, control_port=None)
    async with running_fleet(config) as (fleet, _):
        sub = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", mosquitto.host, "-p", str(mosquitto.port), "-t", "sl/v1/#", "-v", "-W", "4",
            stdout=asyncio.subprocess.PIPE)
        await asyncio.sleep(1)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="test-rebirth") as client:
            await client.publish("sl/v1/tn/tn-cab-003/rebirth", b"", qos=1)
        apply_fault(fleet, "tn-cab-002", "door_open")
        out, _ = await asyncio.wait_for(sub.communicate(), 15)
    lines = [line.split(" ", 1) for line in out.decode().splitlines()]
    messages = [(topic, json.loads(payload), False) for topic, payload in lines if not topic.endswith("/rebirth")]
    validate_all(messages)
    suffixes = {(t.split("/")[3], t.split("/", 4)[4]) for t, _, _ in messages}
    for device in ("tn-cab-001", "tn-cab-002", "tn-cab-003"):
        assert {(device, "birth"), (device, "status"), (device, "state"), (device, "telemetry")} <= suffixes
    births = [p["bd_seq"] for t, p, _ in messages if t == "sl/v1/tn/tn-cab-003/birth"]
    assert len(births) >= 2, "rebirth republishes birth (same session, same bd_seq)"
    doors = [p for t, p, _ in messages if t.endswith("tn-cab-002/event") and p.get("alarm") == "door_open"]
    assert doors and doors[0]["active"] is True
    seqs = [p["seq"] for t, p, _ in messages if t.startswith("sl/v1/tn/tn-cab-001/") and "seq" in p
            and not t.endswith(("birth", "status"))]
    live = seqs[1:]         # the first is the retained state, published before we subscribed
    assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(live)), seqs


async def test_cabinets_reconnect_after_a_broker_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running_fleet(mqtt_config(tmp_path, mosquitto)) as (fleet, _):
        link = fleet.links["tn-cab-001"]
        assert link.face.bd_seq == 0
        mosquitto.restart()
        async with asyncio.timeout(30):
            while True:                 # sessions counts (re)connects; no event to wait on for the second one
                if link.sessions >= 2:
                    break
                await asyncio.sleep(0.1)
        assert link.face.bd_seq == 1, "a new session announces itself with the next bd_seq"
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="test-after-restart") as client:
            await client.subscribe("sl/v1/tn/tn-cab-001/status", qos=1)
            async with asyncio.timeout(10):
                async for msg in client.messages:
                    assert isinstance(msg.payload, bytes)
                    assert json.loads(msg.payload)["status"] == "online" and msg.retain
                    break
