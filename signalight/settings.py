"""Settings of every signalight process: environment `SIGNALIGHT_*`, an optional TOML file, then defaults.

The TOML file is named by `SIGNALIGHT_CONFIG` (or `--config` on the command line); its keys are the field names
below (`mqtt_port = 1883`). Environment variables win over the file. Unknown keys are refused, so a typo is an
error, not a silently ignored setting.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, FilePath, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from api.config import MIN_SECRET_LEN, PLACEHOLDER_SECRETS
from controllers.devices import DeviceId, SiteId
from controllers.localtime import known_timezone

Port = Annotated[int, Field(ge=1, le=65535)]



class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNALIGHT_", extra="forbid", validate_default=True,
                                      env_nested_delimiter="__")

    environment: Literal["development", "demo", "production"] = "development"
    site: SiteId = "tn"
    timezone: str = "Asia/Ho_Chi_Minh"
    data_dir: Path = Path("var")
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # the bus
    mqtt_host: str = "127.0.0.1"
    mqtt_port: Port = 1883
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_v5: bool = Field(default=False, description="MQTT 5 (Mosquitto, EMQX); the embedded broker speaks 3.1.1")
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keepalive; the broker publishes a "
                                  "silent client's Last Will (a gateway's presence offline) after 1.5 times this")
    mqtt_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="brokers in order of preference, mqtt://host:port or mqtts://host:port "
        "(SIGNALIGHT_MQTT_URLS comma-separated, a list in TOML); every client connects to the first that answers and "
        "moves to the next on loss; wins over mqtt_host/mqtt_port")
    mqtt_tls_ca: FilePath | None = Field(default=None, description="PEM CA file the brokers' certificates are "
                                         "verified against; with it, mqtt_host:mqtt_port is spoken over TLS")
    mqtt_tls_cert: FilePath | None = Field(default=None, description="PEM client certificate (brokers that "
                                           "require one)")
    mqtt_tls_key: FilePath | None = Field(default=None, description="PEM private key of mqtt_tls_cert")

    @field_validator("recorder_partition")
    @classmethod
    def _valid_recorder_partition(cls, value: str | None) -> str | None:
        if value is not None:
            from gateways.partition import parse_partition

            parse_partition(value)
        return value

    @field_validator("mqtt_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        from gateways.mqtt.config import parse_broker_url  # the composition root may know the bus's own parser

        urls = [u.strip() for u in value.split(",") if u.strip()] if isinstance(value, str) else value
        if isinstance(urls, list):
            for url in urls:
                if isinstance(url, str):
                    parse_broker_url(url)  # ValueError naming the url and what is wrong
        return urls

    # the API
    api_host: str = "127.0.0.1"
    api_port: Port = 8000
    secret_key: SecretStr | None = Field(default=None, description="JWT signing key; required in production")
    db_url: str = Field(default="", description="SQLAlchemy URL; default: SQLite in data_dir")

    api: dict[str, Any] = Field(
        default_factory=dict,
        description="tuning of the API (api/config.py ApiSettings names, e.g. control_backup_s, deploy_ttl_s, "
        "command_ttl_s, access_token_ttl_s): SIGNALIGHT_API__CONTROL_BACKUP_S=60 or an [api] table in the TOML file",
    )

    # the telemetry store
    store: Literal["embedded", "influxdb"] = "embedded"
    influx_url: str = "http://127.0.0.1:8086"
    influx_database: str = "signalight"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_token: SecretStr | None = Field(default=None, description="InfluxDB 2.x/3.x token for the v1 API")

    # gateways and recorders
    manifest: Path | None = Field(default=None, description="device registry (fleet manifest JSON)")
    gateway_shard: str | None = None
    gateway_id: DeviceId | None = Field(default=None, description="the gateway's presence id (topic "
                                        "sl/v1/_gateway/{id}/presence): stable across restarts, unique per gateway "
                                        "process; default {host}-{shard or 'all'}")
    recorder_group: str | None = Field(default=None, description="MQTT 5 shared-subscription group of recorders")
    recorder_partition: str | None = Field(default=None, description="i/N: this recorder stores the telemetry of "
                                           "devices with CRC-32(id) mod N = i (any broker; one recorder per "
                                           "partition, every partition covered)")
    metrics_port: Port | None = None

    # command authentication (contracts/mqtt/topics-v1.md, "Command authentication")
    command_signing_key: Path | None = Field(default=None, description="the API's Ed25519 private key (PEM, mode "
                                             "0600); default {data_dir}/keys/command-signing.pem; created in "
                                             "development and demo, `signalight keys generate` in production")
    command_verify_keys: Path | None = Field(default=None, description="executors' trusted public keys, JSON {kid: "
                                             "base64 raw key}; default {data_dir}/keys/command-verify.json")

    _known_timezone = field_validator("timezone")(known_timezone)

    @model_validator(mode="after")
    def _defaults_and_secrets(self) -> Settings:
        if not self.db_url:
            self.db_url = f"sqlite+aiosqlite:///{self.data_dir / 'signalight.db'}"
        if self.command_signing_key is None:
            self.command_signing_key = self.data_dir / "keys" / "command-signing.pem"
        if self.command_verify_keys is None:
            self.command_verify_keys = self.data_dir / "keys" / "command-verify.json"
        owned = {"db_url", "environment", "site", "timezone", "secret_key"} & set(self.api)
        if owned:
            raise ValueError(f"api.{sorted(owned)[0]} is set at the top level (SIGNALIGHT_{sorted(owned)[0].upper()})")
        if self.api:
            from api.config import ApiSettings  # the composition root may know the API's own settings model

            try:
                ApiSettings(**self.api)
            except ValidationError as exc:
                problems = "; ".join(f"api.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                raise ValueError(problems) from None
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if not key or key.strip().lower() in PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LEN:
                raise ValueError(
                    "SIGNALIGHT_SECRET_KEY must be set to a random value of at least 32 characters in production "
                    "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SIGNALIGHT_CONFIG")
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"SIGNALIGHT_CONFIG names {path}, which is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the TOML file, with explicit overrides (command-line options) on top.

    Raises pydantic.ValidationError naming each wrong setting.
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)
