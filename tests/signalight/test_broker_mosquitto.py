"""The generated broker files on the real Mosquitto: our hashes log in, the ACLs hold, rotation applies on reload,
and the generated mosquitto.conf serves TLS to authenticated clients only."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from signalight.cli import app
from tests.servers import MOSQUITTO, Mosquitto, free_port, wait_for_port
from tests.signalight.broker_registry import MQTT_A, MQTT_B, SIGNAL_A, write_registry

pytestmark = [pytest.mark.integration]


def t(device: str, suffix: str) -> str:
    return f"sl/v1/tn/{device}/{suffix}"


def init(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "broker"
    result = CliRunner().invoke(app, ["broker", "init", "--manifest", str(write_registry(tmp_path / "m.json")),
                                      "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


def logins(out: Path) -> dict[str, tuple[str, str]]:
    every = {**json.loads((out / "credentials.json").read_text()), **json.loads((out / "devices.json").read_text())}
    return {k: (v["username"], v["password"]) for k, v in every.items()}


def auth(login: tuple[str, str] | None) -> list[str]:
    return [] if login is None else ["-u", login[0], "-P", login[1]]


def pub(port: int, login: tuple[str, str] | None, topic: str, message: str, *extra: str
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", *auth(login), "-t", topic, "-m", message,
                           *extra], capture_output=True, text=True, timeout=20, check=False)


class Listener:
    """mosquitto_sub in the background; `lines()` stops it and returns what it received."""

    def __init__(self, port: int, login: tuple[str, str] | None, *filters: str, extra: tuple[str, ...] = ()) -> None:
        args = [arg for f in filters for arg in ("-t", f)]
        self.proc = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-q", "1", "-v", *auth(login), *args,
                                      *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)  # connected and subscribed (the broker is local)

    def lines(self) -> list[str]:
        time.sleep(0.5)
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return out.splitlines()


@pytest.fixture
def secured(tmp_path: Path, make_mosquitto: Callable[..., Mosquitto]) -> Iterator[tuple[Mosquitto, Path]]:
    out = init(tmp_path)
    yield make_mosquitto(password_file=out / "password_file", acl_file=out / "acl_file"), out


def test_only_known_logins_get_in(secured: tuple[Mosquitto, Path]) -> None:
    broker, out = secured
    who = logins(out)
    assert pub(broker.port, who["api"], t(SIGNAL_A, "cmd"), "{}").returncode == 0
    for bad in (None, (who["api"][0], who["api"][1] + "x"), ("stranger", "whatever")):
        refused = pub(broker.port, bad, t(SIGNAL_A, "cmd"), "{}")
        assert refused.returncode != 0 and "refused" in refused.stderr.lower(), (bad, refused.stderr)


def test_forged_commands_never_reach_the_device(secured: tuple[Mosquitto, Path]) -> None:
    broker, out = secured
    who = logins(out)
    spy = Listener(broker.port, who["recorder"], "sl/v1/#")
    device = Listener(broker.port, who[MQTT_A], t(MQTT_A, "cmd"), "sl/v1/#")
    # every forger, MQTT 3.1.1 and 5 alike: a device, a gateway, the recorder, another device's own cmd topic
    for forger in (MQTT_B, "gateway:gateway-a", "gateway:gateway-b", "recorder"):
        for version in ("mqttv311", "mqttv5"):
            pub(broker.port, who[forger], t(SIGNAL_A, "cmd"), f"forged-{forger}", "-V", version)
            pub(broker.port, who[forger], t(MQTT_A, "cmd"), f"forged-{forger}", "-V", version)
    pub(broker.port, who[MQTT_B], t(MQTT_A, "state"), "forged-state", "-r")
    pub(broker.port, who[MQTT_B], "sl/v1/_gateway/gateway-a/presence", "forged-presence", "-r")
    pub(broker.port, who["api"], t(MQTT_A, "cmd"), "from-api")
    pub(broker.port, who["gateway:gateway-a"], t(SIGNAL_A, "state"), "gateway-a-state")
    pub(broker.port, who[MQTT_A], t(MQTT_A, "telemetry"), "own-telemetry")
    seen = spy.lines()
    assert seen == [f"{t(MQTT_A, 'cmd')} from-api", f"{t(SIGNAL_A, 'state')} gateway-a-state",
                    f"{t(MQTT_A, 'telemetry')} own-telemetry"], seen
    # the device reads its own cmd only, even through a wide filter
    assert device.lines() == [f"{t(MQTT_A, 'cmd')} from-api"]


def test_rotated_password_applies_on_reload(tmp_path: Path, secured: tuple[Mosquitto, Path]) -> None:
    broker, out = secured
    old = logins(out)[MQTT_A]
    assert pub(broker.port, old, t(MQTT_A, "status"), "{}").returncode == 0
    init(tmp_path, "--rotate-identity", MQTT_A)
    new = logins(out)[MQTT_A]
    assert new[1] != old[1]
    broker.reload()
    deadline = time.monotonic() + 10
    while pub(broker.port, old, t(MQTT_A, "status"), "{}").returncode == 0:
        assert time.monotonic() < deadline, "the old password still works after SIGHUP"
        time.sleep(0.2)
    assert pub(broker.port, new, t(MQTT_A, "status"), "{}").returncode == 0
    assert pub(broker.port, logins(out)[MQTT_B], t(MQTT_B, "status"), "{}").returncode == 0, "others keep theirs"


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (openssl)."""
    ca_key, ca, key, csr, crt = (folder / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca", "-keyout", str(ca_key),
        "-out", str(ca))
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(crt))
    return ca, crt, key


def test_generated_conf_serves_tls_to_authenticated_clients_only(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    ca, crt, key = _certificates(certs)
    tls_port, plain_port = free_port(), free_port()
    out = init(tmp_path, "--config-dir", str(tmp_path / "broker"), "--tls-port", str(tls_port), "--tls-cert",
               str(crt), "--tls-key", str(key), "--plain-port", str(plain_port))
    confd = tmp_path / "conf.d"
    confd.mkdir()
    (confd / "signalight.conf").write_text((out / "mosquitto.conf").read_text())
    main = tmp_path / "main.conf"
    main.write_text(f"include_dir {confd}\n" + ("user root\n" if os.geteuid() == 0 else "")
                    + f"log_dest file {tmp_path / 'mosquitto.log'}\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(main)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", tls_port, proc=proc)
        wait_for_port("127.0.0.1", plain_port, proc=proc)
        api = logins(out)["api"]
        tls = ("--cafile", str(ca), "-h", "127.0.0.1")
        assert pub(tls_port, api, t(SIGNAL_A, "cmd"), "{}", *tls).returncode == 0
        assert pub(tls_port, None, t(SIGNAL_A, "cmd"), "{}", *tls).returncode != 0, "anonymous over TLS"
        assert pub(tls_port, api, t(SIGNAL_A, "cmd"), "{}").returncode != 0, "plain MQTT on the TLS port"
        assert pub(plain_port, None, t(SIGNAL_A, "cmd"), "{}").returncode != 0, "anonymous on the plain port"
        assert pub(plain_port, api, t(SIGNAL_A, "cmd"), "{}").returncode == 0
    finally:
        proc.terminate()
        proc.wait(10)
