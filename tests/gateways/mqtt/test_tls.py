"""TLS on the bus and the intake against a real Mosquitto TLS listener, with certificates the test makes: the
broker's certificate verified against our CA (host name included), a client certificate where the broker requires
one, and a wrong CA refused with an error that says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from controllers.bus import BusError
from gateways.mqtt import Bus, BusConfig, MqttIntake
from tests.servers import Mosquitto
from tests.tls_certs import CertificateSet, make_certificates

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def tls_mosquitto(tmp_path: Path, certificates: CertificateSet) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path, tls=certificates)
    broker.start()
    yield broker
    broker.stop()


def config(broker: Mosquitto, client_id: str, **kw: object) -> BusConfig:
    return BusConfig.model_validate({"urls": (broker.url,), "client_id": client_id, "backoff_initial_s": 0.05,
                                     "backoff_max_s": 0.2, "connect_timeout_s": 5, **kw})


async def test_bus_and_intake_over_tls(tls_mosquitto: Mosquitto, certificates: CertificateSet) -> None:
    assert tls_mosquitto.url.startswith("mqtts://")
    cfg = config(tls_mosquitto, "tls-pub", tls_ca=certificates.ca)
    async with Bus(cfg) as pub, MqttIntake(config(tls_mosquitto, "tls-in", tls_ca=certificates.ca,
                                                  manual_ack=True), ["t/#"]) as intake:
        await pub.wait_connected(5)
        await intake.wait_connected(5)
        conn = pub.connection
        assert conn is not None and conn.transport is not None
        assert conn.transport.get_extra_info("ssl_object") is not None  # really TLS
        await pub.publish("t/1", b"secret")
        async with asyncio.timeout(5):
            batch = await anext(intake)
        assert [(m.topic, m.payload) for m in batch] == [("t/1", b"secret")]
        intake.ack(batch)


async def test_the_host_name_in_host_port_with_a_ca_means_tls(tls_mosquitto: Mosquitto,
                                                              certificates: CertificateSet) -> None:
    cfg = BusConfig(host="localhost", port=tls_mosquitto.port, client_id="tls-hostport", tls_ca=certificates.ca)
    async with Bus(cfg) as bus:
        await bus.wait_connected(5)
        await bus.publish("t/x", b"1")


async def test_a_wrong_ca_is_refused_with_a_clear_error(tls_mosquitto: Mosquitto, certificates: CertificateSet,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    async with Bus(config(tls_mosquitto, "tls-wrong", tls_ca=certificates.other_ca)) as bus:
        with pytest.raises(BusError, match=r"TLS certificate verification failed: .*"
                                           r"(unable to get local issuer certificate|self.signed)"):
            await bus.wait_connected(1)
        assert not bus.connected
    async with MqttIntake(config(tls_mosquitto, "tls-wrong-in", tls_ca=certificates.other_ca), ["t/#"]) as intake:
        with pytest.raises(TimeoutError, match=f"not connected to {tls_mosquitto.url} within 1 s: "
                                               ".*TLS certificate verification failed"):
            await intake.wait_connected(1)
    assert "bus_disconnected client_id=tls-wrong" in caplog.text
    assert any(r.levelname == "ERROR" and "certificate verification failed" in r.message for r in caplog.records)


async def test_plain_mqtt_to_a_tls_listener_does_not_connect(tls_mosquitto: Mosquitto) -> None:
    plain = BusConfig(urls=(f"mqtt://127.0.0.1:{tls_mosquitto.port}",), client_id="tls-plain",
                      connect_timeout_s=0.5, backoff_initial_s=0.05)
    async with Bus(plain) as bus:
        with pytest.raises(BusError, match="not connected"):
            await bus.wait_connected(1)


async def test_a_client_certificate_where_the_broker_requires_one(tmp_path: Path,
                                                                  certificates: CertificateSet) -> None:
    broker = Mosquitto(tmp_path, tls=certificates, require_client_certificate=True)
    broker.start()
    try:
        with_cert = config(broker, "tls-cert", tls_ca=certificates.ca, tls_cert=certificates.client_cert,
                           tls_key=certificates.client_key)
        async with Bus(with_cert) as bus:
            await bus.wait_connected(5)
            await bus.publish("t/x", b"1")
        async with Bus(config(broker, "tls-nocert", tls_ca=certificates.ca)) as bus:
            with pytest.raises(BusError, match="not connected"):
                await bus.wait_connected(1)
    finally:
        broker.stop()


async def test_an_unreadable_tls_file_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    cfg = BusConfig(urls=("mqtts://127.0.0.1:8883",), client_id="tls-missing", tls_ca=tmp_path / "nope.pem")
    with pytest.raises(ValueError, match=r"mqtt_tls_ca .*nope\.pem"):
        async with Bus(cfg):
            pass
    with pytest.raises(ValueError, match="tls_key is set without tls_cert"):
        BusConfig(client_id="x", tls_key=tmp_path / "k.pem")
