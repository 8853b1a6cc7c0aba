"""How an MQTT client of ours connects: broker endpoints (failover list), TLS files, credentials, session, will.

`BusConfig` configures both the `Bus` and the `MqttIntake`. Brokers: `urls` (`mqtt://host:port`,
`mqtts://host:port`, tried in order, the next on every loss) wins over `host`/`port`; the `host`/`port` endpoint uses
TLS when a TLS file is given. `mqtts://` without `tls_ca` trusts the system's certificate authorities.
"""

from __future__ import annotations

import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One broker address; `tls` for an `mqtts://` one."""

    host: str
    port: int
    tls: bool = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"


def parse_broker_url(url: str) -> Endpoint:
    """`mqtt://host[:port]` or `mqtts://host[:port]` (1883 and 8883 by default). Raises ValueError naming the url."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"broker url {url!r}: {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"broker url {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"broker url {url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"broker url {url!r}: only scheme, host and port are allowed (credentials are settings)")
    if port == 0:
        raise ValueError(f"broker url {url!r}: port 0")
    return Endpoint(parts.hostname, port or DEFAULT_PORTS[parts.scheme], parts.scheme == "mqtts")


class BusWill(BaseModel):
    """Last Will: published by the broker when this client vanishes without a clean disconnect."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: str
    payload: bytes
    retain: bool = True
    qos: int = Field(default=1, ge=0, le=2)


class BusConfig(BaseModel):
    """Where and how to connect. Times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    urls: tuple[str, ...] = Field(default=(), description="broker endpoints in order of preference "
                                  "(mqtt://host:port, mqtts://host:port); wins over host/port")
    client_id: str = Field(min_length=1, max_length=64)
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = Field(default=None, description="PEM file of the CAs that sign the broker's certificate")
    tls_cert: Path | None = Field(default=None, description="PEM client certificate (and its key, or see tls_key)")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    clean_session: bool = True
    mqtt_v5: bool = False
    will: BusWill | None = None
    connect_timeout_s: float = Field(default=10.0, gt=0)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=5.0, gt=0, description="cap of the reconnect backoff: a server part "
                                 "(gateway, recorder, API) is back within this long once a broker answers again")
    session_expiry_s: int = Field(default=7 * 86400, ge=0, description="MQTT 5: how long the broker keeps a "
                                  "persistent session (clean_session=False) of a disconnected client")
    manual_ack: bool = Field(default=False, description="QoS 1 messages are acknowledged by the consumer calling "
                             "`ack` (after it has made them durable), not on receipt; every delivered message "
                             "must then be acked")
    receive_maximum: int = Field(default=10_000, ge=1, le=65535, description="MQTT 5: unacknowledged QoS 1 "
                                 "messages the broker may send us at once (with manual_ack, our memory bound)")
    max_inflight: int = Field(default=1000, ge=1, le=65535, description="unacknowledged QoS 1 publishes in flight")
    subscription_qos: int | None = Field(default=None, ge=0, le=1, description="the QoS the Bus subscribes at; "
                                         "None: 1 for a persistent session, 0 for a clean one (see subscribe_qos)")

    @field_validator("urls")
    @classmethod
    def _valid_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            parse_broker_url(url)
        return urls

    @model_validator(mode="after")
    def _key_needs_cert(self) -> BusConfig:
        if self.tls_key is not None and self.tls_cert is None:
            raise ValueError("tls_key is set without tls_cert")
        return self

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        """The brokers to try, in order."""
        if self.urls:
            return tuple(parse_broker_url(u) for u in self.urls)
        tls = self.tls_ca is not None or self.tls_cert is not None
        return (Endpoint(self.host, self.port, tls),)

    @property
    def subscribe_qos(self) -> int:
        """The QoS of the Bus's subscriptions. A clean session gains nothing from QoS 1 deliveries: what was in
        flight when its connection drops is discarded with the session either way (MQTT-3.1.2-6), and messages
        still arrive in order over one TCP connection. On a broker that keeps QoS 1 subscriptions in a replicated
        log (NATS: one JetStream consumer per subscription, created on connect, deleted on the next clean connect,
        re-elected when a node dies) each costs round trips that a node's death turns into seconds of refused
        connections. So a clean session subscribes at QoS 0 and a persistent one (the recorder) at QoS 1."""
        if self.subscription_qos is not None:
            return self.subscription_qos
        return 0 if self.clean_session else 1

    @property
    def brokers(self) -> str:
        """The endpoints for logs and errors (`mqtt://a:1883,mqtts://b:8883`)."""
        return ",".join(e.url for e in self.endpoints)


def tls_context(config: BusConfig) -> ssl.SSLContext | None:
    """The TLS context for `config`'s `mqtts` endpoints (None when none uses TLS): the broker's certificate is
    verified against `tls_ca` (or the system's CAs) and its host name checked; `tls_cert`/`tls_key` present a client
    certificate. Raises ValueError naming the setting and file that cannot be read."""
    if not any(e.tls for e in config.endpoints):
        return None
    try:
        # With tls_ca, only that CA is trusted (not the system's as well): the bus's own CA signs its brokers.
        context = ssl.create_default_context(cafile=str(config.tls_ca) if config.tls_ca else None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"mqtt_tls_ca {config.tls_ca}: {exc}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.tls_cert is not None:
        try:
            context.load_cert_chain(str(config.tls_cert), str(config.tls_key) if config.tls_key else None)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"mqtt_tls_cert {config.tls_cert} / mqtt_tls_key {config.tls_key}: {exc}") from None
    return context
