"""The gateway acts only on commands the API signed for that device, once, in date: on a real Mosquitto and a Modbus
test device, including across a gateway restart (the replay window on disk)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.command_signing import CommandSigner
from controllers.clock import SystemClock, to_rfc3339
from controllers.command_auth import check_command, signing_input
from gateways.command_keys import TrustedKeys
from gateways.gateway import run_gateway
from gateways.modbus.profile import load_profile
from tests.command_signing import TEST_KEYS, TEST_PRIVATE_KEY
from tests.gateways.gateway_rig import bus, cmd, entry, signal_effect, watching
from tests.gateways.modbus_device import ModbusTestDevice
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
async def controller() -> AsyncIterator[ModbusTestDevice]:
    dev = ModbusTestDevice(load_profile("signal-controller-v1"), (1, 2), on_command=signal_effect)
    for u in (1, 2):
        dev.memory[u].set("mode", "coordinated")
        dev.memory[u].set("phases_in_use", 0xFF)
    await dev.start()
    yield dev
    await dev.stop()


@contextlib.asynccontextmanager
async def gateway(mosquitto: Mosquitto, dev: ModbusTestDevice, replay_dir: Path, name: str) -> AsyncIterator[None]:
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", dev.port, 1),
               entry("sc-2", "signal_controller", "signal-controller-v1", dev.port, 2)]
    task = asyncio.create_task(run_gateway(bus=bus(mosquitto, name), devices=devices, clock=SystemClock(),
                                           command_keys=TEST_KEYS, replay_dir=replay_dir, gateway_id="gw-trust"))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def writes(dev: ModbusTestDevice, unit: int) -> int:
    return len([w for w in dev.writes if w[0] == unit and w[1] == 200])


async def test_unsigned_forged_misdirected_expired_and_replayed_commands_are_refused(
        mosquitto: Mosquitto, controller: ModbusTestDevice, tmp_path: Path) -> None:
    until = to_rfc3339(datetime.now(UTC) + timedelta(minutes=10))
    async with watching(mosquitto) as w, aiomqtt.Client(mosquitto.host, mosquitto.port) as attacker:

        async def send(device: str, payload: dict[str, Any]) -> dict[str, Any]:
            await attacker.publish(f"sl/v1/tn/{device}/cmd", json.dumps(payload), qos=1)
            answer: dict[str, Any] = await w.wait_for(f"sl/v1/tn/{device}/cmd/res",
                                                      lambda p: p["id"] == payload["id"])
            return answer

        async with gateway(mosquitto, controller, tmp_path, "gw-trust-1"):
            await w.wait_for("sl/v1/tn/sc-1/state")
            genuine = cmd("flash", {"until": until})
            assert (await send("sc-1", genuine))["ok"] is True
            assert writes(controller, 1) == 1

            unsigned = {k: v for k, v in cmd("flash", {"until": until}).items() if k not in ("kid", "sig")}
            res = await send("sc-1", unsigned)
            assert (res["ok"], res["error"]) == (False, "unauthenticated") and "unsigned" in res["message"]

            tampered = {**cmd("hold_pattern", {"pattern": 3, "until": until}), "issued_by": "someone-else"}
            res = await send("sc-1", tampered)
            assert res["error"] == "unauthenticated" and "bad_signature" in res["message"]

            rogue = CommandSigner(Ed25519PrivateKey.generate())
            res = await send("sc-1", rogue.sign(cmd("flash", {"until": until}), "tn", "sc-1"))
            assert res["error"] == "unauthenticated" and "unknown_kid" in res["message"]

            # Signed for sc-2, replayed to sc-1: refused by the target field, and by the signature without it.
            for_other = cmd("flash", {"until": until}, device="sc-2")
            res = await send("sc-1", for_other)
            assert res["error"] == "unauthenticated" and "wrong_target" in res["message"]
            stripped = {k: v for k, v in cmd("flash", {"until": until}, device="sc-2").items()
                        if k not in ("target", "sig")}
            stripped["sig"] = base64.b64encode(TEST_PRIVATE_KEY.sign(signing_input(stripped, "tn", "sc-2"))).decode()
            res = await send("sc-1", stripped)
            assert res["error"] == "unauthenticated" and "bad_signature" in res["message"]

            res = await send("sc-1", cmd("flash", {"until": until}, expires_in_s=-1))
            assert res["error"] == "expired"
            res = await send("sc-1", cmd("flash", {"until": until}, expires_in_s=24 * 3600))
            assert res["error"] == "unauthenticated" and "expiry_too_far" in res["message"]

            # A forgery under the genuine command's id gets no answer of its own: the genuine answer stands.
            forged = {**genuine, "issued_by": "attacker"}
            await attacker.publish("sl/v1/tn/sc-1/cmd", json.dumps(forged), qos=1)
            probe = cmd("release", {})
            await send("sc-1", probe)  # the gateway handled the forgery before this (one subscription, in order)
            answers = [p for t, p, _ in w.messages if t == "sl/v1/tn/sc-1/cmd/res" and p["id"] == genuine["id"]]
            assert len(answers) == 1 and answers[0]["ok"] is True
            assert writes(controller, 1) == 2 and writes(controller, 2) == 0  # the flash and the release only

        # Restarted: the genuine command sent again (a recording) is refused, not executed a second time.
        async with gateway(mosquitto, controller, tmp_path, "gw-trust-2"):
            res = None
            for _ in range(40):  # until the new process has subscribed (each copy is refused, never executed)
                await attacker.publish("sl/v1/tn/sc-1/cmd", json.dumps(genuine), qos=1)
                with contextlib.suppress(TimeoutError):
                    res = await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == genuine["id"], count=2,
                                           within_s=0.5)
                    break
            assert res is not None
            assert (res["ok"], res["error"]) == (False, "replayed")
            assert writes(controller, 1) == 2
    assert (tmp_path / "gw-trust.command-ids").is_file()


async def test_a_gateway_without_keys_refuses_every_command(mosquitto: Mosquitto, controller: ModbusTestDevice) -> None:
    until = to_rfc3339(datetime.now(UTC) + timedelta(minutes=10))
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", controller.port, 1)]
    async with watching(mosquitto) as w, aiomqtt.Client(mosquitto.host, mosquitto.port) as sender:
        task = asyncio.create_task(run_gateway(bus=bus(mosquitto, "gw-nokeys"), devices=devices, clock=SystemClock()))
        try:
            await w.wait_for("sl/v1/tn/sc-1/state")
            c = cmd("flash", {"until": until})
            await sender.publish("sl/v1/tn/sc-1/cmd", json.dumps(c), qos=1)
            res = await w.wait_for("sl/v1/tn/sc-1/cmd/res", lambda p: p["id"] == c["id"])
            assert res["error"] == "unauthenticated" and writes(controller, 1) == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_rotation_two_keys_trusted_at_once() -> None:
    old, new = CommandSigner.generate(), CommandSigner.generate()
    keys = TrustedKeys({old.kid: old.public_raw, new.kid: new.public_raw})
    now = datetime.now(UTC)
    envelope = {"id": "rotation-1", "name": "release", "args": {}, "issued_by": "t",
                "expires_at": to_rfc3339(now + timedelta(seconds=30))}
    for signer in (old, new):
        assert check_command(signer.sign(envelope, "tn", "sc-1"), site="tn", device_id="sc-1", now=now,
                             keys=keys).kid == signer.kid
