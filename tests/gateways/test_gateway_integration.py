"""The gateway against a real pymodbus server and a real Mosquitto: birth, status, state, telemetry, commands,
comm loss, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta

import aiomqtt
import pytest

from controllers.clock import SystemClock, to_rfc3339
from gateways.gateway import run_gateway
from tests.command_signing import TEST_KEYS, signed
from tests.gateways.gateway_rig import Watcher, bus, cmd, entry, watching
from tests.gateways.helpers import eventually
from tests.gateways.modbus_device import ModbusTestDevice
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

async def test_gateway_publishes_birth_status_state_and_telemetry(
        mosquitto: Mosquitto, signal_device: ModbusTestDevice, cabinet_device: ModbusTestDevice) -> None:
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1),
               entry("sc-2", "signal_controller", "signal-controller-v1", signal_device.port, 2),
               entry("cab-1", "lighting_cabinet", "lighting-cabinet-v1", cabinet_device.port, 7)]
    async with watching(mosquitto) as w:
        gw = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-t1"), devices=devices, clock=SystemClock()))
        try:
            await check_publications(w)
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw
        # clean shutdown: every device marked offline
        for d in ("sc-1", "sc-2", "cab-1"):
            await w.wait_for(f"sl/v1/tn/{d}/status", lambda p: p["status"] == "offline")


async def check_publications(w: Watcher) -> None:
    birth = await w.wait_for("sl/v1/tn/sc-1/birth")
    assert birth["model"] == "SC-2070" and birth["firmware"] == "1.2.0" and birth["phases"] == list(range(1, 9))
    assert "flash" in birth["capabilities"]
    assert (await w.wait_for("sl/v1/tn/sc-1/status"))["status"] == "online"
    state = await w.wait_for("sl/v1/tn/sc-2/state")
    assert state["values"]["mode"] == "coordinated" and state["values"]["pattern"] == 3
    assert state["values"]["phases"]["2"] == "green" and state["values"]["peds"]["2"] == "walk"
    assert state["values"]["cycle_timer_s"] == pytest.approx(12.3)
    cab = await w.wait_for("sl/v1/tn/cab-1/state")
    assert cab["values"]["circuits"][0]["on"] is True and cab["values"]["circuits"][0]["current_a"] == 4.25
    assert len(cab["values"]["circuits"]) == 4
    slow = await w.wait_for("sl/v1/tn/cab-1/telemetry", lambda p: "energy_kwh" in p["values"], within_s=15)
    assert slow["values"]["energy_kwh"] == pytest.approx(0x15678 * 0.01)
    tele = await w.wait_for("sl/v1/tn/sc-1/telemetry", lambda p: "cabinet_temp_c" in p["values"], within_s=15)
    assert tele["values"]["cabinet_temp_c"] == pytest.approx(-5.5)
    # one seq counter per device across state/telemetry/event, in publication order, no gaps
    seqs = [p["seq"] for t, p, _ in w.messages if t.startswith("sl/v1/tn/sc-1/") and p and "seq" in p]
    assert seqs == list(range(len(seqs)))


async def test_command_round_trip_expiry_and_at_most_once(
        mosquitto: Mosquitto, signal_device: ModbusTestDevice, cabinet_device: ModbusTestDevice) -> None:
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1),
               entry("cab-1", "lighting_cabinet", "lighting-cabinet-v1", cabinet_device.port, 7)]
    async with watching(mosquitto) as w, aiomqtt.Client(mosquitto.host, mosquitto.port) as sender:
        gw = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-t2"), devices=devices, clock=SystemClock(),
                                             command_keys=TEST_KEYS))
        try:
            await w.wait_for("sl/v1/tn/sc-1/state")
            await w.wait_for("sl/v1/tn/cab-1/state")
            until = to_rfc3339(datetime.now(UTC) + timedelta(minutes=10))
            flash = cmd("flash", {"until": until})
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(flash), qos=1)
            res = await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == flash["id"])
            assert res["ok"] is True, res
            assert res["state"]["mode"] == "flash" and res["state"]["phases"]["1"] == "flash_red"
            writes = [x for x in signal_device.writes if x[1] == 200]
            assert len(writes) == 1 and writes[0][0] == 1
            code, pattern, dur_hi, dur_lo, token = writes[0][2]
            assert code == 2 and pattern == 0 and 590 <= (dur_hi << 16 | dur_lo) <= 600 and token > 0
            # the same id again: answered from the ledger, not executed twice
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(flash), qos=1)
            again = await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == flash["id"], count=2)
            assert again == res
            assert len([x for x in signal_device.writes if x[1] == 200]) == 1
            # expired: refused, nothing written
            old = cmd("flash", {"until": until}, expires_in_s=-1)
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(old), qos=1)
            res = await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == old["id"])
            assert res == {"id": old["id"], "ok": False, "error": "expired", "message": res["message"],
                           "ts": res["ts"]}
            # invalid arguments and malformed payloads are answered, nothing written
            bad = cmd("hold_pattern", {"pattern": 999, "until": until})
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(bad), qos=1)
            assert (await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == bad["id"]))["error"] == \
                "invalid_args"
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(signed({"id": "abcdefgh-1", "name": 5}, "tn", "sc-1")),
                                 qos=1)
            assert (await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == "abcdefgh-1"))["error"] == \
                "malformed"
            assert len([x for x in signal_device.writes if x[1] == 200]) == 1
            # a cabinet circuit switched
            sw = cmd("switch", {"circuit": 2, "level_pct": 60, "until": until}, device="cab-1")
            await sender.publish("sl/v1/tn/cab-1/cmd", json.dumps(sw), qos=1)
            res = await w.wait_for("sl/v1/tn/cab-1/cmd/res", lambda p: p["id"] == sw["id"])
            assert res["ok"] is True, res
            c2 = res["state"]["circuits"][1]
            assert c2["on"] is True and c2["level_pct"] == 60 and c2["control"] == "override"
            assert c2["override_until"] is not None
            # the device refuses: the error code comes back
            cabinet_device.memory[7].result_code = 3
            sw2 = cmd("switch", {"circuit": 1, "level_pct": 0, "until": until}, device="cab-1")
            await sender.publish("sl/v1/tn/cab-1/cmd", json.dumps(sw2), qos=1)
            res = await w.wait_for("sl/v1/tn/cab-1/cmd/res", lambda p: p["id"] == sw2["id"])
            assert res["ok"] is False and res["error"] == "refused"
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw


async def test_comm_loss_and_recovery_without_disturbing_other_devices(
        mosquitto: Mosquitto, signal_device: ModbusTestDevice, cabinet_device: ModbusTestDevice) -> None:
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1),
               entry("cab-1", "lighting_cabinet", "lighting-cabinet-v1", cabinet_device.port, 7)]
    async with watching(mosquitto) as w:
        gw = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-t3"), devices=devices, clock=SystemClock(),
                                             offline_after=2))
        try:
            await w.wait_for("sl/v1/tn/cab-1/state")
            await signal_device.stop()
            await w.wait_for("sl/v1/tn/sc-1/status", lambda p: p["status"] == "offline", within_s=15)
            alarm = await w.wait_for("sl/v1/tn/sc-1/event", lambda p: p.get("alarm") == "comm_loss")
            assert alarm["active"] is True
            # the cabinet kept being polled meanwhile
            before = cabinet_device.requests
            await asyncio.sleep(1.5)
            assert cabinet_device.requests > before
            await signal_device.start()
            await w.wait_for("sl/v1/tn/sc-1/event",
                             lambda p: p.get("alarm") == "comm_loss" and p["active"] is False, within_s=20)
            status = [p["status"] for t, p, _ in w.messages if t == "sl/v1/tn/sc-1/status"]
            assert status[-1] == "online"
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw


async def test_event_fifo_is_republished_with_indiana_codes_and_acknowledged(
        mosquitto: Mosquitto, signal_device: ModbusTestDevice) -> None:
    mem = signal_device.memory[1]
    epoch = int(datetime(2026, 11, 23, 7, 0, tzinfo=UTC).timestamp())
    entries = [[65535, 1, 2, epoch >> 16, epoch & 0xFFFF, 125], [1, 8, 2, epoch >> 16, epoch & 0xFFFF, 900],
               [2, 0, 3, epoch >> 16, epoch & 0xFFFF, 901]]
    mem.set_raw("input", 100, [w for e in entries for w in e])
    mem.set("event_count", 3)
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1)]
    async with watching(mosquitto) as w:
        gw = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-t4"), devices=devices, clock=SystemClock()))
        try:
            first = await w.wait_for("sl/v1/tn/sc-1/event", lambda p: "code" in p)
            assert first["code"] == 1 and first["param"] == 2 and first["ts"] == "2026-11-23T07:00:00.125Z"
            await w.wait_for("sl/v1/tn/sc-1/event", lambda p: p.get("code") == 8 and p["ts"].endswith("00.900Z"))
            marker = await w.wait_for("sl/v1/tn/sc-1/event", lambda p: p.get("code") == 0)
            assert marker["param"] == 3
            await eventually(lambda: any(a == 210 and v == [2] for _, a, v in signal_device.writes))
            # the same entries still shown (the test device ignores the ack): never published twice
            await asyncio.sleep(1.5)
            codes = [p["code"] for t, p, _ in w.messages if t == "sl/v1/tn/sc-1/event" and "code" in p]
            assert codes == [1, 8, 0]
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw
