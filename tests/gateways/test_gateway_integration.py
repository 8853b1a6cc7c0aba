"""The gateway against a real pymodbus server and a real Mosquitto: birth, status, state, telemetry, commands,
comm loss, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import jsonschema
import pytest

import contracts
from controllers.clock import SystemClock, to_rfc3339
from gateways.gateway import run_gateway
from gateways.manifest import DeviceEntry
from gateways.modbus.profile import load_profile
from gateways.mqtt import BusConfig
from tests.command_signing import TEST_KEYS, signed
from tests.gateways.helpers import eventually
from tests.gateways.modbus_device import Memory, ModbusTestDevice
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

SCHEMAS = {s: json.loads(contracts.mqtt_schema_path(s).read_text()) for s in contracts.MQTT_SCHEMA_FILES}


def signal_effect(unit: int, mem: Memory, regs: list[int]) -> None:
    code = regs[0]
    if code == 2:  # flash
        mem.set("mode", "flash")
        mem.set("flash_cause", "central")
        mem.set("control_source", "central")
        mem.set("phase_green", 0)
        mem.set("phase_red", 0b11111111)


def cabinet_effect(unit: int, mem: Memory, regs: list[int]) -> None:
    code, circuit, level = regs[0], regs[1], regs[2]
    if code == 1:
        mem.set(f"circuit{circuit}_on", level > 0)
        mem.set(f"circuit{circuit}_level_pct", level)
        mem.set(f"circuit{circuit}_control", "override")
        mem.set(f"circuit{circuit}_override_remaining_s", (regs[3] << 16) | regs[4])


class Watcher:
    """An independent MQTT client recording everything under sl/v1/#, validating payloads against the schemas."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any, bool]] = []
        self.changed = asyncio.Event()

    async def run(self, client: aiomqtt.Client) -> None:
        await client.subscribe("sl/v1/#", qos=1)
        async for m in client.messages:
            suffix = "/".join(m.topic.value.split("/")[4:])
            payload = json.loads(m.payload) if m.payload else None
            if suffix in SCHEMAS and suffix != "cmd":  # the test sends bad commands on purpose
                jsonschema.validate(payload, SCHEMAS[suffix])
            self.messages.append((m.topic.value, payload, bool(m.retain)))
            self.changed.set()

    async def wait_for(self, topic: str, pred: Any = lambda p: True, within_s: float = 10.0, count: int = 1) -> Any:
        """The `count`-th message on `topic` matching `pred`, waiting up to `within_s`."""
        async with asyncio.timeout(within_s):
            while True:
                found = [p for t, p, _ in self.messages if t == topic and pred(p)]
                if len(found) >= count:
                    return found[count - 1]
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def watching(mosquitto: Mosquitto) -> AsyncIterator[Watcher]:
    w = Watcher()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"w-{uuid.uuid4().hex[:6]}") as c:
        task = asyncio.create_task(w.run(c))
        await asyncio.sleep(0.2)
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def entry(id_: str, kind: str, profile: str, port: int, unit: int = 1) -> DeviceEntry:
    return DeviceEntry(id=id_, site="tn", kind=kind, transport="modbus", host="127.0.0.1", port=port,  # type: ignore[arg-type]
                       unit_id=unit, profile=profile)


def bus(mosquitto: Mosquitto, name: str) -> BusConfig:
    return BusConfig(host=mosquitto.host, port=mosquitto.port, client_id=name, publish_timeout_s=5)


def cmd(name: str, args: dict[str, Any], *, expires_in_s: float = 30, id_: str | None = None,
        device: str = "sc-1") -> dict[str, Any]:
    """A command as the API sends it: signed for `device` of site tn."""
    return signed({"id": id_ or str(uuid.uuid4()), "name": name, "args": args, "issued_by": "test",
                   "expires_at": to_rfc3339(datetime.now(UTC) + timedelta(seconds=expires_in_s))}, "tn", device)


@pytest.fixture
async def signal_device() -> AsyncIterator[ModbusTestDevice]:
    dev = ModbusTestDevice(load_profile("signal-controller-v1"), (1, 2), on_command=signal_effect)
    for u in (1, 2):
        m = dev.memory[u]
        m.set("mode", "coordinated")
        m.set("pattern", 3)
        m.set("cycle_s", 90)
        m.set("cycle_timer_s", 12.3)
        m.set("phase_green", 0b00100010)
        m.set("phase_red", 0b11011101)
        m.set("ped_walk", 0b10)
        m.set("firmware", "1.2.0")
        m.set("model", "SC-2070")
        m.set("phases_in_use", 0xFF)
        m.set("cabinet_temp_c", -5.5)
    await dev.start()
    yield dev
    await dev.stop()


@pytest.fixture
async def cabinet_device() -> AsyncIterator[ModbusTestDevice]:
    dev = ModbusTestDevice(load_profile("lighting-cabinet-v1"), (7,), on_command=cabinet_effect)
    m = dev.memory[7]
    m.set("circuits", 4)
    m.set("circuit1_on", True)
    m.set("circuit1_level_pct", 100)
    m.set("circuit1_current_a", 4.25)
    m.set("mains_ok", True)
    m.set("photocell_lux", 3.5)
    m.set_raw("input", 28, [0x5678, 0x0001])  # energy_kwh, low word first in this vendor's map
    m.set("firmware", "2.0")
    m.set("model", "LC-4")
    await dev.start()
    yield dev
    await dev.stop()


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
