"""The long-lived objects of one API process, created in the lifespan and handed to routes as typed state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.accounts import AccountCache
from api.alarm_store import AlarmStore
from api.command_signing import CommandSigner
from api.config import ApiSettings
from api.dispatch import CommandDispatcher
from api.hub import EventHub
from api.limits import SlidingWindow
from api.listener import BusListener
from api.live import DeviceCache
from api.security import AccessTokenCache
from controllers.bounded_json import FirstSight
from controllers.bus import BusPort
from controllers.clock import Clock
from controllers.telemetry import TelemetryQuery


@dataclass
class ApiDeps:
    """What the composition root hands the API: settings, the bus, the telemetry store (None: no telemetry routes
    answer 503), the one clock and the command signer (None: a key made up for this process, which no executor
    trusts; refused in production)."""

    settings: ApiSettings
    bus: BusPort
    telemetry: TelemetryQuery | None
    clock: Clock
    signer: CommandSigner | None = None
    first_sight: FirstSight | None = None  # which refused payloads were logged already (None: in memory)


@dataclass
class ApiState:
    deps: ApiDeps
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    cache: DeviceCache
    hub: EventHub
    dispatcher: CommandDispatcher
    alarms: AlarmStore
    listener: BusListener
    started_at: datetime
    login_limiter: SlidingWindow = field(default_factory=lambda: SlidingWindow(20, 60.0))
    token_cache: AccessTokenCache = field(default_factory=AccessTokenCache)
    accounts: AccountCache = field(init=False)

    def __post_init__(self) -> None:
        self.accounts = AccountCache(self.sessions, self.deps.clock, self.deps.settings.account_cache_s)

    @property
    def settings(self) -> ApiSettings:
        return self.deps.settings

    @property
    def clock(self) -> Clock:
        return self.deps.clock
