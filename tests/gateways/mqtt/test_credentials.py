"""User name and password on the Bus and the intake against a real Mosquitto with a password file: the right ones
connect, wrong ones end the client with `BrokerRefusedError` naming the broker's reason (no endless retry)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateways.mqtt import BrokerRefusedError, Bus, BusConfig, MqttIntake
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration


@pytest.fixture
def closed_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    passwords = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(passwords), "gateway", "s3cret"], check=True,
                   capture_output=True)
    passwords.chmod(0o600)
    broker = Mosquitto(tmp_path)
    broker.conf_path.write_text(broker.conf_path.read_text().replace(
        "allow_anonymous true", f"allow_anonymous false\npassword_file {passwords}"))
    broker.start()
    yield broker
    broker.stop()


def config(broker: Mosquitto, client_id: str, **kw: object) -> BusConfig:
    return BusConfig.model_validate({"host": broker.host, "port": broker.port, "client_id": client_id,
                                     "backoff_initial_s": 0.05, "connect_timeout_s": 5, **kw})


async def test_the_right_credentials_connect(closed_mosquitto: Mosquitto) -> None:
    creds = {"username": "gateway", "password": "s3cret"}
    async with Bus(config(closed_mosquitto, "cred-bus", **creds)) as bus, \
            MqttIntake(config(closed_mosquitto, "cred-in", **creds), ["t/#"]) as intake:
        await bus.wait_connected(5)
        await intake.wait_connected(5)
        await bus.publish("t/1", b"x")


@pytest.mark.parametrize("v5", [False, True])
async def test_a_wrong_password_ends_the_bus_with_the_reason(closed_mosquitto: Mosquitto, v5: bool) -> None:
    cfg = config(closed_mosquitto, "cred-wrong", username="gateway", password="guess", mqtt_v5=v5)
    # Mosquitto answers a wrong password with "not authorized" (0x05 / 0x87)
    expected = (r"0x8[67]" if v5 else r"0x0[45]") + r" \((bad user name or password|not authorized)\)"
    with pytest.raises(ExceptionGroup) as caught:  # the bus's task group ends with the refusal
        async with Bus(cfg) as bus:
            await bus.wait_connected(5)
    refused = caught.value.subgroup(BrokerRefusedError)
    assert refused is not None
    assert refused.exceptions[0].args[0].startswith("broker refused the connection: ")
    assert re.search(expected, str(refused.exceptions[0]))
    async with MqttIntake(cfg, ["t/#"]) as intake:
        with pytest.raises(BrokerRefusedError, match=expected):
            await intake.wait_connected(5)
