"""MQTT device link: seq gaps ask for a rebirth (rate limited), retained messages do not count, malformed payloads
are counted and logged with the device; and on a real broker against the simulator's MQTT cabinets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from controllers.bus import BusMessage
from controllers.clock import SystemClock
from controllers.devices import DeviceKind
from firmware_sim.fleet import FleetConfig
from gateways.gateway import run_gateway
from gateways.manifest import MqttDevice, load_manifest
from gateways.mqtt import BusConfig
from gateways.mqtt_device_watch import MqttDeviceWatch
from tests.firmware_sim.fleet_runner import running_fleet
from tests.gateways.gateway_rig import watching
from tests.servers import Mosquitto


class FakeClock(SystemClock):
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t


def msg(suffix: str, body: dict[str, object], retain: bool = False) -> BusMessage:
    return BusMessage(f"sl/v1/tn/cab-5/{suffix}", json.dumps(body).encode(), retain=retain)


BIRTH = {"ts": "2026-11-23T07:00:00.000Z", "bd_seq": 3, "kind": "lighting_cabinet", "model": "m", "firmware": "f",
         "capabilities": []}


def tele(seq: int, *, retain: bool = False) -> BusMessage:
    return msg("telemetry", {"ts": "2026-11-23T07:00:00.000Z", "seq": seq, "values": {"energy_kwh": 1.5}},
               retain=retain)


def test_seq_gap_asks_for_a_rebirth_once_per_period(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    link = MqttDeviceWatch([MqttDevice(id="cab-5", site="tn", kind=DeviceKind.LIGHTING_CABINET)],
                          clock, rebirth_every_s=10)
    assert link.handle(tele(7)) is None  # before any birth: nothing to compare with
    assert link.handle(msg("birth", BIRTH)) is None
    assert link.handle(msg("state", {"ts": "2026-11-23T07:00:00.000Z", "seq": 200, "kind": "lighting_cabinet",
                                     "values": {"circuits": []}}, retain=True)) is None
    assert [link.handle(tele(s)) for s in (254, 255, 0, 1)] == [None] * 4  # wraps at 256
    assert link.handle(tele(3)) == "sl/v1/tn/cab-5/rebirth"
    assert link.handle(tele(9)) is None  # a second gap within 10 s: counted, not asked again
    clock.t = 11
    assert link.handle(tele(20)) == "sl/v1/tn/cab-5/rebirth"
    st = link.devices[("tn", "cab-5")]
    assert st.gaps == 3 and st.rebirths == 2
    assert "device_seq_gap device=cab-5" in caplog.text


def test_live_messages_with_no_birth_ask_for_one_after_a_wait(caplog: pytest.LogCaptureFixture) -> None:
    """A retained birth missed while subscribing (NATS): live messages come, no birth. After `birth_wait_s` the
    device is asked for a rebirth (rate limited as for gaps); a birth ends it. Retained copies are no evidence."""
    clock = FakeClock()
    link = MqttDeviceWatch([MqttDevice(id="cab-5", site="tn", kind=DeviceKind.LIGHTING_CABINET)],
                          clock, rebirth_every_s=10, birth_wait_s=2)
    clock.t = 100
    assert link.handle(tele(7, retain=True)) is None
    clock.t = 105
    assert link.handle(tele(8)) is None  # the first live one: the birth may just be late
    clock.t = 106.5
    assert link.handle(tele(9)) is None
    clock.t = 107
    assert link.handle(tele(10)) == "sl/v1/tn/cab-5/rebirth"
    clock.t = 108
    assert link.handle(tele(11)) is None  # asked already within 10 s
    clock.t = 117
    assert link.handle(tele(12)) == "sl/v1/tn/cab-5/rebirth"
    assert link.handle(msg("birth", BIRTH)) is None
    clock.t = 200
    assert [link.handle(tele(s)) for s in (13, 14)] == [None, None]  # a birth, then in order: nothing to ask
    assert link.devices[("tn", "cab-5")].rebirths == 2 and link.devices[("tn", "cab-5")].gaps == 0
    assert "device_birth_missing device=cab-5 site=tn" in caplog.text


def test_malformed_payloads_are_counted_and_named(caplog: pytest.LogCaptureFixture) -> None:
    link = MqttDeviceWatch([MqttDevice(id="cab-5", site="tn", kind=DeviceKind.LIGHTING_CABINET)],
                          FakeClock())
    link.handle(BusMessage("sl/v1/tn/cab-5/telemetry", b"\xff not json"))
    link.handle(msg("telemetry", {"ts": "2026-11-23T07:00:00.000Z", "seq": 999, "values": {"a": 1}}))
    link.handle(msg("birth", {"bd_seq": 1}))
    link.handle(BusMessage("sl/v1/tn/other/telemetry", b"junk"))  # not ours: ignored
    assert link.devices[("tn", "cab-5")].malformed == 3
    assert "device_payload_malformed device=cab-5 site=tn suffix=telemetry" in caplog.text


@pytest.mark.integration
async def test_gateway_asks_a_simulated_mqtt_cabinet_for_a_rebirth(mosquitto: Mosquitto, tmp_path: Path) -> None:
    manifest_path = tmp_path / "manifest.json"
    # speed 10: the cabinet's first telemetry (every 10 virtual s) comes after 1 s, not 10; the gateway's clock is real
    config = FleetConfig(site="tn", intersections=0, cabinets=1, modbus_cabinets=0, mqtt_host=mosquitto.host,
                         mqtt_port=mosquitto.port, manifest_path=manifest_path, control_port=None, speed=10.0)
    async with running_fleet(config), watching(mosquitto) as w:
        devices = load_manifest(manifest_path)
        (cab,) = devices
        gw = asyncio.create_task(run_gateway(bus=BusConfig(host=mosquitto.host, port=mosquitto.port,
                                                           client_id="gw-link"), devices=devices,
                                             clock=SystemClock()))
        try:
            births = len([t for t, _, _ in w.messages if t.endswith(f"{cab.id}/birth")])
            first = await w.wait_for(f"sl/v1/tn/{cab.id}/telemetry", within_s=15)
            await asyncio.sleep(0.5)
            # a forged message with a seq out of order looks like a gap to the gateway
            from aiomqtt import Client
            async with Client(mosquitto.host, mosquitto.port) as c:
                await c.publish(f"sl/v1/tn/{cab.id}/telemetry", json.dumps(
                    {"ts": first["ts"], "seq": (first["seq"] + 100) % 256, "values": {"energy_kwh": 1.0}}), qos=1)
            await w.wait_for(f"sl/v1/tn/{cab.id}/rebirth")
            # the simulated cabinet answers with a new birth
            await w.wait_for(f"sl/v1/tn/{cab.id}/birth", count=births + 1, within_s=10)
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw
