"""Settings of the control API, as a typed pydantic model.

The composition root (`signalight`) builds `ApiSettings` from its own pydantic-settings (environment `SIGNALIGHT_*`,
TOML); the API only validates. No environment signs tokens with a key published in this repository: a placeholder
or a key from the docs is refused everywhere, and a short one outside development and demo. Left unset, the key is
random per process; the composition root gives development and demo a random key per data directory
(`api.token_key`), so tokens survive a restart there.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from controllers.localtime import known_timezone

#: Secrets that must never protect a real deployment (they appear in docs, tests and the demo).
MIN_SECRET_LEN = 32
#: The key development and demo once shared, published here: refused everywhere.
FORMER_DEV_SECRET = "signalight-development-key-not-for-production"
PLACEHOLDER_SECRETS = frozenset({"changethis", "change-me", "changeme", "secret", "dev-secret", "demo", "password",
                                 FORMER_DEV_SECRET})

Environment = Literal["development", "demo", "production"]


def tile_template(value: str) -> str:
    """A map tile URL template: empty, a path on this server, or http(s) with a host; {z}, {x} and {y} in it."""
    value = value.strip()
    if not value:
        return ""
    if any(c in value for c in " \"'<>;\\") or any(ord(c) < 32 for c in value):
        raise ValueError("map_tile_url: spaces, quotes, ';' and control characters are not allowed")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in value]
    if missing:
        raise ValueError(f"map_tile_url: the template lacks {', '.join(missing)} (e.g. https://host/{{z}}/{{x}}/{{y}}.png)")
    if value.startswith("/") and not value.startswith("//"):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or "{" in parts.netloc:
        raise ValueError("map_tile_url: an http(s) URL with a fixed host (no {s} subdomains), or a path on this "
                         "server starting with /")
    return value


def tile_origin(template: str) -> str:
    """The origin the page's CSP must allow images from for `template` ('' when it is on this server or unset)."""
    if not template or template.startswith("/"):
        return ""
    parts = urlsplit(template)
    return f"{parts.scheme}://{parts.netloc}"


class ApiSettings(BaseModel):
    """Everything the API process needs to know. Times in seconds; origins as full URLs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    db_url: str = Field(default="sqlite+aiosqlite:///signalight.db", description="SQLAlchemy async URL")
    secret_key: str = Field(default_factory=lambda: secrets.token_urlsafe(48), repr=False,
                            description="HS256 key of access and refresh tokens (default: random per process)")
    environment: Environment = "development"
    site: str = Field(default="demo", description="default site of this deployment")
    timezone: str = "Asia/Ho_Chi_Minh"
    access_token_ttl_s: int = Field(default=15 * 60, ge=30, le=24 * 3600)
    refresh_token_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, le=90 * 24 * 3600)
    command_ttl_s: float = Field(default=30.0, gt=0, le=3600, description="default expiry of a command")
    command_result_grace_s: float = Field(
        default=5.0, ge=0, le=600, description="wait after expires_at for a late cmd/res before marking expired")
    sweep_interval_s: float = Field(default=1.0, gt=0, le=60, description="period of the command expiry sweeper")
    device_offline_grace_s: float = Field(
        default=0.0, ge=0, le=600, description="how long a device's `offline` (its own or its gateway's) must last "
        "before it is shown and raises comm_loss; on a broker cluster set it above a failover (NATS closes the "
        "connections that publish while it elects leaders, and their Last Will says offline)")
    cors_origins: list[str] = Field(default_factory=list)
    auto_migrate: bool = Field(default=True, description="upgrade the DB schema to head when the API starts")
    stream_buffer: int = Field(default=5000, ge=100, le=1_000_000, description="SSE events kept for resume")
    stream_client_queue: int = Field(default=1000, ge=10, le=100_000, description="per-client SSE queue")
    login_max_failures: int = Field(default=5, ge=1, le=100, description="failed logins before lockout")
    login_lockout_s: float = Field(default=300.0, ge=1, le=86400)
    login_rate_per_min: int = Field(default=60, ge=1, le=10_000, description="login attempts per client address")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="larger request bodies get 413")
    deploy_ttl_s: float = Field(default=600.0, ge=10, le=3600,
                                description="a plan deploy not final by then ends failed (timeout)")
    control_backup_s: float = Field(default=120.0, ge=3, le=3600,
                                    description="backup timer sent with manual control, renewed every third of it")
    control_max_s: float = Field(default=7 * 24 * 3600.0, ge=60, description="longest manual control (until)")
    compliance_interval_s: float = Field(default=5.0, gt=0, le=600, description="period of the schedule check")
    compliance_grace_cycles: float = Field(default=2.0, ge=0, le=100,
                                           description="cycles a schedule mismatch may last before the alarm")

    login_backoff_s: float = Field(default=1.0, gt=0, le=60, description="first wait after login_max_failures "
                                   "failures of one account from one address; doubles with each further failure, "
                                   "up to login_lockout_s")
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses or networks (CIDR) of reverse "
                                       "proxies whose X-Forwarded-For names the client; from anyone else it is "
                                       "ignored")
    account_cache_s: float = Field(default=2.0, ge=0, le=60, description="how long a replica trusts its cached "
                                   "account state (active, role, token version); changes made through this replica "
                                   "apply at once, those through another within this time")
    api_token_ttl_days: int = Field(default=90, ge=1, le=365, description="expiry of an API token made without ttl")
    max_json_depth: int = Field(default=64, ge=8, le=1000, description="deeper JSON request bodies get 422")
    map_tile_url: str = Field(default="", max_length=500, description="tile URL template of the web UI's maps, "
                              "https://host/{z}/{x}/{y}.png or a path on this server; empty: no base map (devices "
                              "are drawn to scale on a plain background). The page's CSP allows images from its "
                              "origin only when set")
    map_tile_attribution: str = Field(default="", max_length=300, description="credit line the tile server asks for")
    photo_max_bytes: int = Field(default=5_000_000, ge=1024, le=50_000_000,
                                 description="largest work-order or citizen-report photo (JPEG, PNG, WebP)")
    report_per_addr: int = Field(default=5, ge=1, le=10_000, description="citizen reports per client address per "
                                 "report_window_s")
    report_per_area: int = Field(default=20, ge=1, le=100_000, description="citizen reports per ~500 m cell per "
                                 "report_window_s")
    report_window_s: float = Field(default=3600.0, ge=1, le=7 * 86400)
    report_match_radius_m: float = Field(default=300.0, gt=0, le=5000,
                                         description="a report is matched to the nearest cabinet within this")
    twin_workers: int = Field(default=1, ge=1, le=4, description="plan previews run at once, each in its own "
                              "worker process (SUMO is CPU bound)")
    twin_queue: int = Field(default=4, ge=1, le=100, description="plan previews waiting for a worker; beyond it a "
                            "request gets 503 with Retry-After")
    twin_timeout_s: float = Field(default=900.0, gt=0, le=3 * 3600, description="a preview running longer is "
                                  "stopped and failed")
    twin_runner: str = Field(default="api.twin_runner:run_preview", pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
                             description="module:function the worker process runs a preview with")
    twin_demand_weeks: int = Field(default=4, ge=1, le=12, description="measured demand: the mean of the same "
                                   "weekday and time over this many past weeks")

    _known_timezone = field_validator("timezone")(known_timezone)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
        return value

    @field_validator("map_tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        return tile_template(value)

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> ApiSettings:
        if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(
                f"secret_key is a published placeholder; set SIGNALIGHT_SECRET_KEY to a random value of at least "
                f"{MIN_SECRET_LEN} characters, or leave it unset in development and demo (environment="
                f"{self.environment})")
        if self.environment in ("development", "demo"):
            return self
        if "secret_key" not in self.model_fields_set:
            raise ValueError(f"secret_key must be set outside development and demo: every replica signs and checks "
                             f"tokens with the same key (environment={self.environment})")
        if len(self.secret_key) < MIN_SECRET_LEN:
            raise ValueError(
                f"secret_key has {len(self.secret_key)} characters; at least {MIN_SECRET_LEN} are required "
                f"outside development and demo (environment={self.environment})")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
