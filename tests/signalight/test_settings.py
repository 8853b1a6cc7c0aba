"""Settings: environment, TOML file, precedence, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from signalight.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("SIGNALIGHT_"):
            monkeypatch.delenv(key)


def test_defaults_are_the_embedded_development_setup() -> None:
    s = load_settings()
    assert (s.mqtt_port, s.api_port, s.store, s.timezone) == (1883, 8000, "embedded", "Asia/Ho_Chi_Minh")
    assert s.db_url == "sqlite+aiosqlite:///var/signalight.db"


def test_environment_then_file_then_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "signalight.toml"
    conf.write_text('mqtt_port = 1999\napi_port = 9000\nsite = "hn"\n')
    monkeypatch.setenv("SIGNALIGHT_CONFIG", str(conf))
    monkeypatch.setenv("SIGNALIGHT_API_PORT", "9100")
    s = load_settings()
    assert (s.mqtt_port, s.api_port, s.site) == (1999, 9100, "hn")
    assert load_settings(api_port=9200).api_port == 9200


def test_unknown_key_in_the_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    conf = tmp_path / "signalight.toml"
    conf.write_text("mqtt_prot = 1999\n")
    monkeypatch.setenv("SIGNALIGHT_CONFIG", str(conf))
    with pytest.raises(ValidationError, match="mqtt_prot"):
        load_settings()


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("SIGNALIGHT_MQTT_PORT", "70000", "mqtt_port"),
    ("SIGNALIGHT_TIMEZONE", "Mars/Olympus", "unknown time zone"),
    ("SIGNALIGHT_STORE", "mongodb", "store"),
    ("SIGNALIGHT_SITE", "Thái Nguyên", "site"),
    ("SIGNALIGHT_GATEWAY_ID", "Edge/01", "gateway_id"),
    ("SIGNALIGHT_MQTT_KEEPALIVE_S", "1", "mqtt_keepalive_s"),
])
def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=expected):
        load_settings()


@pytest.mark.parametrize("secret", [None, "changethis", "short-but-not-placeholder"])
def test_production_refuses_a_missing_placeholder_or_short_secret(monkeypatch: pytest.MonkeyPatch,
                                                                   secret: str | None) -> None:
    monkeypatch.setenv("SIGNALIGHT_ENVIRONMENT", "production")
    if secret is not None:
        monkeypatch.setenv("SIGNALIGHT_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="SIGNALIGHT_SECRET_KEY"):
        load_settings()


def test_production_accepts_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALIGHT_ENVIRONMENT", "production")
    monkeypatch.setenv("SIGNALIGHT_SECRET_KEY", "x7" * 24)
    assert load_settings().environment == "production"


def test_api_tuning_from_the_environment_reaches_the_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from signalight.processes import api_settings

    monkeypatch.setenv("SIGNALIGHT_DATA_DIR", str(tmp_path))  # development makes its token key there
    monkeypatch.setenv("SIGNALIGHT_API__CONTROL_BACKUP_S", "45")
    assert api_settings(load_settings()).control_backup_s == 45


def test_unknown_or_bad_api_tuning_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALIGHT_API__CONTROL_BACKUP_Z", "45")
    with pytest.raises(ValidationError, match=r"api\.control_backup_z"):
        load_settings()
    monkeypatch.delenv("SIGNALIGHT_API__CONTROL_BACKUP_Z")
    monkeypatch.setenv("SIGNALIGHT_API__DB_URL", "sqlite://")
    with pytest.raises(ValidationError, match="top level"):
        load_settings()


def test_gateway_id_and_keepalive_reach_the_gateway_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from signalight.processes import bus_config

    monkeypatch.setenv("SIGNALIGHT_GATEWAY_ID", "edge01-a")
    monkeypatch.setenv("SIGNALIGHT_MQTT_KEEPALIVE_S", "10")
    s = load_settings()
    assert s.gateway_id == "edge01-a" and bus_config(s, "c").keepalive_s == 10
    assert load_settings(gateway_id=None).gateway_id == "edge01-a"  # an absent option does not override


def test_broker_urls_and_tls_reach_every_bus_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from signalight.processes import bus_config

    ca = tmp_path / "ca.pem"
    ca.write_text("not read here")
    monkeypatch.setenv("SIGNALIGHT_MQTT_URLS", "mqtt://n1:1883, mqtts://n2:8883")
    monkeypatch.setenv("SIGNALIGHT_MQTT_TLS_CA", str(ca))
    monkeypatch.setenv("SIGNALIGHT_MQTT_USERNAME", "gw")
    monkeypatch.setenv("SIGNALIGHT_MQTT_PASSWORD", "pw")
    s = load_settings()
    assert s.mqtt_urls == ["mqtt://n1:1883", "mqtts://n2:8883"]
    cfg = bus_config(s, "c")
    assert cfg.brokers == "mqtt://n1:1883,mqtts://n2:8883" and cfg.tls_ca == ca
    assert (cfg.username, cfg.password) == ("gw", "pw")
    conf = tmp_path / "signalight.toml"
    conf.write_text('mqtt_urls = ["mqtt://a:1", "mqtt://b:2"]\n')
    monkeypatch.delenv("SIGNALIGHT_MQTT_URLS")
    monkeypatch.setenv("SIGNALIGHT_CONFIG", str(conf))
    assert load_settings().mqtt_urls == ["mqtt://a:1", "mqtt://b:2"]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("SIGNALIGHT_MQTT_URLS", "mqtt://n1:1883,http://n2", "http://n2.*scheme"),
    ("SIGNALIGHT_MQTT_URLS", "mqtt://n1:99999", "mqtt://n1:99999"),
    ("SIGNALIGHT_MQTT_TLS_CA", "/nonexistent/ca.pem", "mqtt_tls_ca"),
])
def test_bad_broker_settings_are_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                       expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=expected):
        load_settings()
