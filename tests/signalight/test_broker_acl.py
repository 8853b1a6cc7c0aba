"""The broker's rule set and files: who may publish and read what, Mosquitto's password hash, passwords kept across
runs and rotated on request, secrets written 0600."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateways.manifest import load_manifest, parse_manifest
from signalight.broker_acl import (
    AclError,
    AclTable,
    GatewaySpec,
    build_plan,
    filters_intersect,
    render_acl,
    topic_matches,
)
from signalight.broker_files import CredentialsError, write_broker_files
from signalight.broker_passwords import PasswordFileError, hash_password, parse_password_file, verify_password
from signalight.cli import app
from tests.signalight.broker_registry import CABINET_A, MQTT_A, MQTT_B, SIGNAL_A, SIGNAL_B, registry, write_registry

SUFFIXES = ("birth", "status", "state", "telemetry", "event", "cmd", "cmd/res", "rebirth")


def t(device: str, suffix: str) -> str:
    return f"sl/v1/tn/{device}/{suffix}"


@pytest.fixture
def table() -> AclTable:
    plan = build_plan(parse_manifest(registry()), anonymous_read=False)
    return AclTable.parse(render_acl(plan))


def test_default_gateways_are_one_per_named_shard() -> None:
    plan = build_plan(parse_manifest(registry()))
    assert [i.key for i in plan.identities] == ["api", "recorder", "gateway:gateway-a", "gateway:gateway-b",
                                                MQTT_A, MQTT_B]
    assert plan.by_key()[MQTT_A].username == "tn.tn-cab-002"
    assert plan.unowned == ()


def test_a_device_writes_only_its_own_topics_but_cmd_and_reads_only_its_own_cmd(table: AclTable) -> None:
    me = "tn.tn-cab-002"
    for suffix in SUFFIXES:
        assert table.can_publish(me, t(MQTT_A, suffix)) == (suffix not in ("cmd", "rebirth")), suffix
        assert not table.can_publish(me, t(MQTT_B, suffix)), suffix
        assert not table.can_publish(me, t(SIGNAL_A, suffix)), suffix
        assert table.can_receive(me, t(MQTT_A, suffix)) == (suffix in ("cmd", "rebirth")), suffix
        assert not table.can_receive(me, t(MQTT_B, suffix)), suffix
    assert not table.can_publish(me, "sl/v1/_gateway/gateway-a/presence")
    assert table.can_subscribe(me, t(MQTT_A, "cmd"))
    assert not table.can_subscribe(me, t(SIGNAL_A, "cmd"))
    # a wide filter is admitted where it meets its rules; every message is then checked (Mosquitto's way)
    assert table.can_subscribe(me, "sl/v1/#") and not table.can_receive(me, t(SIGNAL_A, "state"))


def test_a_gateway_speaks_for_its_shard_only(table: AclTable) -> None:
    gw_a, gw_b = "signalight-gateway-gateway-a", "signalight-gateway-gateway-b"
    for device in (SIGNAL_A, CABINET_A):
        for suffix in ("birth", "status", "state", "telemetry", "event", "cmd/res"):
            assert table.can_publish(gw_a, t(device, suffix))
            assert not table.can_publish(gw_b, t(device, suffix))
        assert table.can_receive(gw_a, t(device, "cmd")) and not table.can_receive(gw_b, t(device, "cmd"))
        assert not table.can_publish(gw_a, t(device, "cmd")), "no gateway issues commands"
    assert table.can_publish(gw_b, t(SIGNAL_B, "state")) and not table.can_publish(gw_a, t(SIGNAL_B, "state"))
    # MQTT devices of its shard: watched and asked for a rebirth, never spoken for
    assert table.can_receive(gw_a, t(MQTT_A, "telemetry")) and table.can_publish(gw_a, t(MQTT_A, "rebirth"))
    assert not table.can_publish(gw_a, t(MQTT_A, "state")) and not table.can_receive(gw_a, t(MQTT_A, "cmd"))
    assert not table.can_receive(gw_a, t(MQTT_B, "telemetry"))
    # its own presence, no other gateway's
    assert table.can_publish(gw_a, "sl/v1/_gateway/gateway-a/presence")
    assert table.can_receive(gw_a, "sl/v1/_gateway/gateway-a/presence")
    assert not table.can_publish(gw_a, "sl/v1/_gateway/gateway-b/presence")
    assert table.can_subscribe(gw_a, "sl/v1/+/+/cmd")


def test_api_recorder_and_anonymous(table: AclTable) -> None:
    for device in (SIGNAL_A, MQTT_B):
        assert table.can_publish("signalight-api", t(device, "cmd"))
        for suffix in SUFFIXES:
            assert table.can_receive("signalight-api", t(device, suffix))
            assert table.can_receive("signalight-recorder", t(device, suffix))
            assert not table.can_publish("signalight-recorder", t(device, suffix))
            assert table.can_publish("signalight-api", t(device, suffix)) == (suffix == "cmd")
            assert not table.can_receive(None, t(device, suffix)), "no anonymous rules in production"
    assert table.can_subscribe("signalight-recorder", "$share/recorders/sl/v1/+/+/telemetry")
    assert not table.can_publish("nobody-we-know", t(SIGNAL_A, "cmd"))
    demo = AclTable.parse(render_acl(build_plan(parse_manifest(registry()), anonymous_read=True)))
    assert demo.can_receive(None, t(SIGNAL_A, "state")) and demo.can_subscribe(None, "sl/v1/#")
    assert not any(demo.can_publish(None, t(SIGNAL_A, s)) for s in SUFFIXES)


def test_explicit_hash_shards(tmp_path: Path) -> None:
    devices = [d.model_copy(update={"shard": None}) for d in parse_manifest(registry())]
    plan = build_plan(devices, [GatewaySpec.parse("edge-0=0/2"), GatewaySpec.parse("edge-1=1/2")])
    table = AclTable.parse(render_acl(plan))
    for d in devices:
        if d.transport == "modbus":
            owners = [g for g in ("edge-0", "edge-1") if table.can_publish(f"signalight-gateway-{g}", t(d.id, "state"))]
            assert len(owners) == 1, (d.id, owners)
    with pytest.raises(AclError, match="twice"):
        build_plan(devices, [GatewaySpec("x"), GatewaySpec("x")])
    with pytest.raises(AclError, match="index"):
        build_plan(devices, [GatewaySpec("x", "5/2")])
    with pytest.raises(AclError, match="id must match"):
        GatewaySpec.parse("Bad Id=a")


def test_wildcard_matching() -> None:
    assert topic_matches("sl/v1/#", "sl/v1/tn/a/state") and topic_matches("sl/v1/#", "sl/v1")
    assert topic_matches("sl/v1/+/+/cmd", "sl/v1/tn/a/cmd") and not topic_matches("sl/v1/+/+/cmd", "sl/v1/tn/a/cmd/res")
    assert filters_intersect("sl/v1/+/+/cmd", "sl/v1/tn/a/cmd") and filters_intersect("#", "a/b")
    assert filters_intersect("sl/v1/tn/a/#", "sl/v1/+/+/cmd") and not filters_intersect("sl/v1/tn/a/cmd", "sl/v1/+/b/#")
    assert not filters_intersect("sl/v1/+/+/cmd", "sl/v1/+/+")


def test_acl_file_errors_name_the_line() -> None:
    with pytest.raises(AclError, match="acl_file:2"):
        AclTable.parse("user a\npattern read sl/%c/#\n")
    with pytest.raises(AclError, match="acl_file:1"):
        AclTable.parse("topic sl/v1/#\n")


def test_password_hash_is_mosquitto_passwd_s_format_both_ways(tmp_path: Path) -> None:
    ours = hash_password("s3cret-pass")
    assert ours.startswith("$7$101$") and verify_password("s3cret-pass", ours) and not verify_password("x", ours)
    # a file mosquitto_passwd wrote is read and verified by our code
    path = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(path), "alice", "their-pass"], check=True,
                   capture_output=True)
    users = parse_password_file(path.read_text())
    assert verify_password("their-pass", users["alice"]) and not verify_password("their-pas", users["alice"])
    with pytest.raises(PasswordFileError, match="pw:1"):
        parse_password_file("bob:$6$rounds$abc\n", "pw")
    with pytest.raises(PasswordFileError):
        verify_password("x", "$7$abc$!!$??")


def test_rerun_keeps_passwords_rotation_changes_them_and_secrets_are_private(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    plan = build_plan(parse_manifest(registry()))
    first = write_broker_files(plan, out)
    assert set(first.created) == set(plan.by_key()) and not first.kept
    creds = json.loads((out / "credentials.json").read_text())
    devices = json.loads((out / "devices.json").read_text())
    assert set(creds) == {"api", "recorder", "gateway:gateway-a", "gateway:gateway-b"}
    assert set(devices) == {MQTT_A, MQTT_B} and devices[MQTT_A]["username"] == "tn.tn-cab-002"
    for name in ("credentials.json", "devices.json", "env/api.env", "env/gateway-gateway-a.env"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE((out / "password_file").stat().st_mode) == 0o640
    env = (out / "env" / "gateway-gateway-a.env").read_text()
    assert "SIGNALIGHT_GATEWAY_ID=gateway-a\nSIGNALIGHT_GATEWAY_SHARD=a" in env
    assert creds["gateway:gateway-a"]["password"] in env
    hashes = parse_password_file((out / "password_file").read_text())
    assert verify_password(devices[MQTT_B]["password"], hashes["tn.tn-cab-003"])
    assert len({c["password"] for c in [*creds.values(), *devices.values()]}) == 6, "every password is its own"

    again = write_broker_files(plan, out)
    assert not again.created and set(again.kept) == set(plan.by_key())
    assert json.loads((out / "devices.json").read_text()) == devices

    one = write_broker_files(plan, out, rotate={MQTT_A})
    assert one.rotated == (MQTT_A,)
    rotated = json.loads((out / "devices.json").read_text())
    assert rotated[MQTT_A]["password"] != devices[MQTT_A]["password"] and rotated[MQTT_B] == devices[MQTT_B]
    hashes = parse_password_file((out / "password_file").read_text())
    assert not verify_password(devices[MQTT_A]["password"], hashes["tn.tn-cab-002"])

    everything = write_broker_files(plan, out, rotate=True)
    assert set(everything.rotated) == set(plan.by_key())

    smaller = build_plan([d for d in parse_manifest(registry()) if d.id != MQTT_B and d.shard != "b"])
    gone = write_broker_files(smaller, out)
    assert set(gone.removed) == {MQTT_B, "gateway:gateway-b"}
    assert not (out / "env" / "gateway-gateway-b.env").exists()
    assert "tn.tn-cab-003" not in (out / "password_file").read_text()


def test_a_broken_credentials_file_is_refused_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "broker"
    out.mkdir()
    (out / "devices.json").write_text("{not json")
    with pytest.raises(CredentialsError, match=r"devices\.json"):
        write_broker_files(build_plan(parse_manifest(registry())), out)
    assert (out / "devices.json").read_text() == "{not json"
    assert not (out / "password_file").exists()


def test_cli_broker_init(tmp_path: Path) -> None:
    manifest = write_registry(tmp_path / "manifest.json")
    out = tmp_path / "broker"
    runner = CliRunner()
    result = runner.invoke(app, ["broker", "init", "--manifest", str(manifest), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "created: 6" in result.output
    conf = (out / "mosquitto.conf").read_text()
    for line in ("per_listener_settings true", "allow_anonymous false", "set_tcp_nodelay true", "listener 8883",
                 "certfile /mosquitto/certs/server.crt", "password_file /mosquitto/config/password_file"):
        assert line in conf
    assert "allow_anonymous true" not in conf
    result = runner.invoke(app, ["broker", "init", "--manifest", str(manifest), "--out", str(out),
                                 "--rotate-identity", "nosuch"])
    assert result.exit_code == 2 and "nosuch" in result.output
    result = runner.invoke(app, ["broker", "init", "--manifest", str(manifest), "--out", str(out),
                                 "--rotate-identity", MQTT_A])
    assert result.exit_code == 0 and "rotated: 1" in result.output
    result = runner.invoke(app, ["broker", "init", "--manifest", str(manifest), "--out", str(out),
                                 "--gateway", "only=a"])
    assert result.exit_code == 0 and "no gateway serves 1 Modbus device(s): tn-sig-002" in result.output
    assert len(load_manifest(manifest)) == 5


def test_the_simulator_takes_the_devices_file(tmp_path: Path) -> None:
    from firmware_sim.__main__ import parse_args

    out = tmp_path / "broker"
    write_broker_files(build_plan(parse_manifest(registry())), out)
    devices = json.loads((out / "devices.json").read_text())
    config = parse_args(["--credentials", str(out / "devices.json")])
    assert config.mqtt_credentials == {k: (v["username"], v["password"]) for k, v in devices.items()}
    (tmp_path / "bad.json").write_text('{"x": 1}')
    result = CliRunner().invoke(app, ["sim", "--credentials", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "bad.json" in result.output
