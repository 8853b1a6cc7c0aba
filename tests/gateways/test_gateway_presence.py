"""The gateway's own presence (gateways.presence): its id, its Last Will, its announcements and its watch, on a real
Mosquitto; a gateway process frozen (SIGSTOP) is declared offline by the broker within 1.5 × its keepalive."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import jsonschema
import pytest

import contracts
from controllers.bus import BusMessage
from controllers.clock import SystemClock
from controllers.presence import device_status, gateway_of, presence_of
from controllers.topics import gateway_topic
from gateways.gateway import run_gateway
from gateways.mqtt import BusConfig, BusWill
from gateways.presence import GatewayPresence, default_gateway_id
from tests.gateways.gateway_rig import bus, entry, watching
from tests.gateways.modbus_device import ModbusTestDevice
from tests.servers import Mosquitto

PRESENCE_SCHEMA = json.loads(contracts.mqtt_schema_path("presence").read_text())
TOPIC = gateway_topic("gw-test")


@pytest.mark.parametrize(("shard", "host", "expected"), [
    (None, "edge01.example.net", "edge01-all"),
    ("a", "EDGE01", "edge01-a"),
    ("0/4", "edge01", "edge01-0-4"),
    ("Nord Ost", "x" * 80, "x" * 40 + "-nord-ost"),
    (None, "_", "gateway-all"),
])
def test_default_gateway_id_from_host_and_shard(shard: str | None, host: str, expected: str) -> None:
    gateway_id = default_gateway_id(shard, host)
    assert gateway_id == expected
    gateway_topic(gateway_id)  # a valid topic level


def test_default_gateway_id_is_stable_and_differs_per_shard() -> None:
    assert default_gateway_id("a") == default_gateway_id("a") != default_gateway_id("b")


def test_bad_gateway_id_and_a_given_will_are_refused() -> None:
    with pytest.raises(ValueError, match="gateway id 'Edge 1'"):
        GatewayPresence("Edge 1", SystemClock())
    cfg = BusConfig(host="127.0.0.1", port=1, client_id="x", will=BusWill(topic="t", payload=b"x"))
    with pytest.raises(ValueError, match="Last Will"):
        asyncio.run(run_gateway(bus=cfg, devices=[], clock=SystemClock()))
    with pytest.raises(ValueError, match="gateway id"):
        asyncio.run(run_gateway(bus=cfg.model_copy(update={"will": None}), devices=[], clock=SystemClock(),
                                gateway_id="-bad"))


def test_will_and_judgement_of_messages_on_its_own_topic() -> None:
    p = GatewayPresence("gw-test", SystemClock(), session="mine")
    will = p.will()
    assert (will.topic, will.retain, will.qos) == (TOPIC, True, 1)
    body = json.loads(will.payload)
    jsonschema.validate(body, PRESENCE_SCHEMA)
    assert body == {"status": "offline", "session": "mine", "reason": "connection lost"}

    def msg(payload: object, retain: bool = False) -> BusMessage:
        return BusMessage(TOPIC, json.dumps(payload).encode(), retain, 1)

    assert p.judge(msg({"status": "offline", "session": "old"})) == "reannounce"  # a late will of a past process
    assert p.judge(msg({"status": "online", "session": "other"})) == "conflict"  # two processes, one id
    assert p.judge(msg({"status": "offline", "session": "mine"})) is None  # ours: the reconnection announces again
    # ours, as a will published late by a broker we left (failover): we are connected, so online again
    assert p.judge(msg({"status": "offline", "session": "mine", "reason": "connection lost"})) == "reannounce"
    assert p.judge(msg({"status": "offline", "session": "mine", "reason": "gateway stopped"})) is None
    assert p.judge(msg({"status": "online", "session": "mine"})) is None
    assert p.judge(msg({"status": "offline", "session": "old"}, retain=True)) is None  # before our announcement
    assert p.judge(BusMessage(TOPIC, b"not json")) is None
    assert p.judge(msg(["offline"])) is None


@pytest.mark.integration
async def test_presence_announced_named_in_births_kept_and_withdrawn_last(
        mosquitto: Mosquitto, cabinet_device: ModbusTestDevice, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateways.presence")
    devices = [entry("cab-1", "lighting_cabinet", "lighting-cabinet-v1", cabinet_device.port, 7)]
    async with watching(mosquitto) as w, aiomqtt.Client(mosquitto.host, mosquitto.port) as other:
        gw = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-p1"), devices=devices, clock=SystemClock(),
                                             gateway_id="gw-test"))
        try:
            online = await w.wait_for(TOPIC, lambda p: p["status"] == "online")
            birth = await w.wait_for("sl/v1/tn/cab-1/birth")
            ref = gateway_of(birth)
            assert ref is not None and ref.id == "gw-test" and ref.session == online["session"]
            assert device_status("online", None, ref, presence_of(online), ("unknown", None)) == ("online", None)
            # A late Last Will of an earlier process overwrites the retained online: the gateway announces again.
            await other.publish(TOPIC, json.dumps({"status": "offline", "session": "past"}), qos=1, retain=True)
            await w.wait_for(TOPIC, lambda p: p["status"] == "online", count=2)
            # Another process claiming the same id is a configuration error, logged (and not fought over).
            await other.publish(TOPIC, json.dumps({"status": "online", "session": "intruder"}), qos=1, retain=True)
            await asyncio.sleep(0.3)
            assert "gateway_id_conflict gateway=gw-test" in caplog.text
            assert [p["session"] for t, p, _ in w.messages if t == TOPIC][-1] == "intruder"
        finally:
            gw.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gw
        # Clean stop: the devices' offline first, then the gateway's own.
        last = await w.wait_for(TOPIC, lambda p: p["status"] == "offline" and p["session"] == online["session"])
        assert last["reason"] == "gateway stopped"
        offline_at = max(i for i, (t, p, _) in enumerate(w.messages) if t == TOPIC and p["status"] == "offline")
        device_at = max(i for i, (t, p, _) in enumerate(w.messages)
                        if t == "sl/v1/tn/cab-1/status" and p["status"] == "offline")
        assert device_at < offline_at


def write_manifest(path: Path, port: int) -> None:
    path.write_text(json.dumps({"format": "signalight.manifest/v1", "site": "tn", "devices": [
        {"id": "cab-1", "site": "tn", "kind": "lighting_cabinet", "transport": "modbus", "host": "127.0.0.1",
         "port": port, "unit_id": 7, "profile": "lighting-cabinet-v1"}]}))


@contextlib.asynccontextmanager
async def gateway_process(tmp_path: Path, mosquitto: Mosquitto, keepalive_s: int) -> AsyncIterator[
        subprocess.Popen[bytes]]:
    """`signalight gateway` as its own process (its Modbus device is served by this test's event loop)."""
    env = {**os.environ, "SIGNALIGHT_MQTT_HOST": mosquitto.host, "SIGNALIGHT_MQTT_PORT": str(mosquitto.port),
           "SIGNALIGHT_MANIFEST": str(tmp_path / "manifest.json"), "SIGNALIGHT_DATA_DIR": str(tmp_path / "var"),
           "SIGNALIGHT_GATEWAY_ID": "gw-test", "SIGNALIGHT_MQTT_KEEPALIVE_S": str(keepalive_s)}
    with (tmp_path / "gateway.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "signalight", "gateway"], env=env,  # noqa: ASYNC220
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)


@pytest.mark.integration
async def test_a_frozen_gateway_is_declared_offline_within_its_will_delay_and_comes_back(
        tmp_path: Path, mosquitto: Mosquitto, cabinet_device: ModbusTestDevice) -> None:
    """SIGSTOP: the socket stays open and silent, as with a power loss or a network cut (SIGKILL is in hil_tests).

    The broker declares a silent client dead 1.5 × its keepalive after its last packet; Mosquitto 2.0.11 waits for
    more than int(1.5 × keepalive) whole seconds and looks every 5 s, so up to 6 s later (8-13 s for 5 s here)."""
    keepalive_s = 5
    will_delay_s = keepalive_s * 1.5 + 6
    write_manifest(tmp_path / "manifest.json", cabinet_device.port)
    async with watching(mosquitto) as w, gateway_process(tmp_path, mosquitto, keepalive_s) as proc:
        online = await w.wait_for(TOPIC, lambda p: p["status"] == "online", within_s=30)
        birth = await w.wait_for("sl/v1/tn/cab-1/birth", within_s=30)
        assert birth["gateway"] == {"id": "gw-test", "session": online["session"]}
        proc.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        will = await w.wait_for(TOPIC, lambda p: p["status"] == "offline", within_s=will_delay_s + 2)
        waited = time.monotonic() - frozen
        assert will == {"status": "offline", "session": online["session"], "reason": "connection lost"}
        assert keepalive_s <= waited <= will_delay_s + 1, waited
        # The device's own retained status still says online: only the rule makes it offline.
        statuses = [p["status"] for t, p, _ in w.messages if t == "sl/v1/tn/cab-1/status"]
        assert statuses[-1] == "online"
        assert device_status("online", None, gateway_of(birth), presence_of(will), ("online", None))[0] == "offline"
        # Thawed: the same process reconnects, announces itself (same session) and republishes its devices.
        proc.send_signal(signal.SIGCONT)
        await w.wait_for(TOPIC, lambda p: p["status"] == "online", count=2, within_s=30)
        back = await w.wait_for("sl/v1/tn/cab-1/birth", count=2, within_s=30)
        assert back["gateway"]["session"] == online["session"]
        assert proc.poll() is None, (tmp_path / "gateway.log").read_text()[-2000:]
