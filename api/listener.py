"""The bus listener: keeps the live device cache, the devices table, alarms and command results up to date.

One subscription to `sl/v1/+/+/{birth,status,state,event,cmd/res}` and to the gateways' presence
`sl/v1/_gateway/+/presence`. Every payload is checked against the contract's JSON Schema first; a malformed one is
logged (naming the device and what is wrong), counted, and changes nothing.

Births are the registry's business (`controllers.births`): a message from a device the registry (manifest import)
does not know creates nothing. Its birth raises `unknown_device`; its latest birth, status and state wait in a
bounded quarantine (`UNKNOWN_KEPT` devices; beyond that they are only counted) and are applied if an engineer
imports the device (`adopt`). A birth cannot rename, move or shrink a registered device: the registry's values are
kept and the difference raises `registry_mismatch`. Payloads are decoded with bounds (`controllers.bounded_json`):
no payload can stop the listener.

The status shown for a device follows the contract's consumer rule (`controllers.presence.device_status`): a device
whose gateway is offline is offline (`gateway_offline`) whatever its own retained status says, until the gateway is
back and announces it again. Each change of the shown status is written to the devices table, published on the
stream and raises or clears `comm_loss`, whether a device's own status or its gateway's presence changed it.
With `offline_grace_s`, a change from online to offline is held that long and shown only if it still holds then
(checked every second of the injected clock): on a broker cluster a failover closes connections (NATS closes those
that publish while it elects leaders), their Last Will says offline, and the device is back on another node within
seconds; without the grace every such device raised and cleared a comm_loss alarm.

A device's retained `status` can be missed: a broker that keeps retained messages apart from live routing (NATS, in
JetStream) may let one published while the listener subscribed reach neither the subscription nor the snapshot. The
device then shows its old status (or `unknown`) until its next one, which may be hours away. So a live `state` (one
the device sent now, not a retained copy) from a device whose own status is not `online` is taken as evidence: if its
status has still not come `STATUS_ASK_WAIT_S` later, the listener asks the broker for it again by subscribing to that
one status topic, which any broker answers with the retained message (`controllers.retained_asks`: then after a
doubling wait, up to a minute, until a status comes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import contracts
from api.alarm_store import AlarmStore
from api.dispatch import CommandDispatcher, command_json
from api.hub import EventHub
from api.live import DeviceCache, LiveDevice
from api.models import Device
from controllers import alarms
from controllers.alarms import Verdict
from controllers.births import Registered, judge_birth
from controllers.bounded_json import FirstSight, PayloadRejected
from controllers.bounded_json import decode as decode_json
from controllers.bus import BusMessage, BusPort
from controllers.clock import Clock
from controllers.commands import CommandResult
from controllers.devices import DeviceKind
from controllers.lighting.faults import circuit_faults, loads_from_birth
from controllers.presence import GATEWAY_OFFLINE, GATEWAY_RESTARTED, device_status, gateway_of, presence_of
from controllers.retained_asks import RetainedAsks
from controllers.topics import (
    Suffix,
    TopicError,
    gateway_subscription,
    is_gateway_topic,
    parse,
    parse_gateway,
    subscription,
    topic,
)

log = logging.getLogger(__name__)

SUFFIXES = (Suffix.BIRTH, Suffix.STATUS, Suffix.STATE, Suffix.EVENT, Suffix.CMD_RES)
PRESENCE = "presence"  # the schema of a gateway's presence topic
#: Unknown devices whose latest birth, status and state are kept for a later import (and that raise `unknown_device`);
#: beyond this, further unknown devices are only counted and logged: a flood of made-up device ids costs bounded
#: memory and raises at most this many alarms until imports drain the quarantine.
UNKNOWN_KEPT = 1000
#: a device's live state came while its own status was not online: ask for its retained status this much later
STATUS_ASK_WAIT_S = 2.0
#: status topics asked for in one SUBSCRIBE (~8 kB), and how long (real time) to wait for their retained answers
STATUS_ASK_BATCH = 200
STATUS_ASK_LISTEN_S = 2.0
QUARANTINED = (Suffix.BIRTH, Suffix.STATUS, Suffix.STATE)


@cache
def _validator(suffix: str) -> Draft202012Validator:
    schema = json.loads(contracts.mqtt_schema_path(suffix).read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


class PayloadError(ValueError):
    """A payload that is not JSON or does not follow the contract's schema."""


def decode(suffix: Suffix | str, payload: bytes) -> dict[str, Any]:
    """The JSON object of a payload, validated against the schema of `suffix`. Raises PayloadError naming the first
    failing path."""
    try:
        data = decode_json(payload)
    except PayloadRejected as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    error = next(iter(_validator(str(suffix)).iter_errors(data)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise PayloadError(f"at {where}: {error.message[:200]}")
    if not isinstance(data, dict):
        raise PayloadError("not a JSON object")
    return data


class BusListener:
    def __init__(self, bus: BusPort, cache: DeviceCache, hub: EventHub, sessions: async_sessionmaker[AsyncSession],
                 dispatcher: CommandDispatcher, alarm_store: AlarmStore, clock: Clock, *,
                 first_sight: FirstSight | None = None, offline_grace_s: float = 0.0) -> None:
        self._bus = bus
        self._cache = cache
        self._hub = hub
        self._sessions = sessions
        self._dispatcher = dispatcher
        self._alarms = alarm_store
        self._clock = clock
        self.received = 0
        self.handled = 0
        self.refused = 0
        self.failed = 0
        self.unknown = 0
        self.unknown_dropped = 0
        self.connected = False
        self._quarantine: OrderedDict[str, dict[Suffix, BusMessage]] = OrderedDict()
        self._offline_grace_s = offline_grace_s
        #: devices shown online whose offline is held: since when (monotonic)
        self._held: dict[str, float] = {}
        # A retained poison message is logged once, however often redelivered (and across restarts when the
        # composition root gives a FirstSight that remembers).
        self._first_sight = first_sight if first_sight is not None else FirstSight()
        #: devices whose status to ask the broker for again (see the module doc); `status_asks.asked` counts asks
        self.status_asks: RetainedAsks[str] = RetainedAsks(first_wait_s=STATUS_ASK_WAIT_S)
        self._handlers: dict[Suffix, Callable[[LiveDevice, dict[str, Any], datetime], Any]] = {
            Suffix.BIRTH: self._on_birth, Suffix.STATUS: self._on_status, Suffix.STATE: self._on_state,
            Suffix.EVENT: self._on_event, Suffix.CMD_RES: self._on_result}

    async def preload(self) -> None:
        """Seed the cache with the devices of the config DB, so reads never need the DB (call once at start)."""
        async with self._sessions() as session:
            for row in await known_devices(session):
                self._cache.preload(row.id, row.site, row.kind, row.status, row.birth, row.last_seen, registry(row))

    async def run(self) -> None:
        """Consume the bus until cancelled (the bus itself reconnects and resubscribes)."""
        async with (asyncio.TaskGroup() as tg,
                    self._bus.subscribe(*(subscription(s) for s in SUFFIXES), gateway_subscription()) as messages):
            helpers = [tg.create_task(self._ask_statuses())]
            if self._offline_grace_s > 0:
                helpers.append(tg.create_task(self._release_held()))
            self.connected = True
            try:
                async for message in messages:
                    await self.handle(message)
            finally:
                self.connected = False
                for helper in helpers:
                    helper.cancel()

    async def _ask_statuses(self, interval_s: float = 0.5) -> None:
        """Every `interval_s` of the injected clock: ask the broker again for the retained status of the devices due
        (`status_asks`), subscribing to their status topics, `STATUS_ASK_BATCH` at a time; what comes within
        `STATUS_ASK_LISTEN_S` is handled like any status (the main subscription may get it too: a status is
        idempotent), then the subscription goes."""
        while True:
            await self._clock.sleep(interval_s)
            due = [dev for d in self.status_asks.due(self._clock.monotonic()) if (dev := self._cache.get(d))]
            for i in range(0, len(due), STATUS_ASK_BATCH):
                topics = {topic(dev.site, dev.id, Suffix.STATUS) for dev in due[i:i + STATUS_ASK_BATCH]}
                log.warning("device_status_asked devices=%s", ",".join(sorted(t.split("/")[3] for t in topics)))
                async with self._bus.subscribe(*sorted(topics), queue_size=len(topics)) as answers:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(STATUS_ASK_LISTEN_S):
                            async for message in answers:
                                await self.handle(message)
                                topics.discard(message.topic)
                                if not topics:
                                    break

    async def _release_held(self) -> None:
        """Every second: show the offlines held for `offline_grace_s` (those that still hold)."""
        while True:
            await self._clock.sleep(min(1.0, self._offline_grace_s))
            due = [d for d, since in self._held.items() if self._clock.monotonic() - since >= self._offline_grace_s]
            for device_id in due:
                del self._held[device_id]
                dev = self._cache.get(device_id)
                if dev is None:
                    continue
                try:
                    await self._show_status(dev, self._clock.now(), seen=False, due=True)
                except (SQLAlchemyError, OSError) as exc:  # as in `handle`: the next report writes it again
                    self.failed += 1
                    log.error("device_offline_failed device=%s error=%s", device_id, f"{type(exc).__name__}: {exc}")

    async def handle(self, message: BusMessage) -> None:
        """Apply one bus message; malformed ones are logged and counted, never raised."""
        self.received += 1
        try:
            await self._handle(message)
        except (SQLAlchemyError, OSError) as exc:
            # The live cache already holds the message; the DB catches up with the device's next report. Keeping
            # the subscription matters more than this one write (a restart would replay every retained message).
            self.failed += 1
            log.error("bus_message_failed topic=%s error=%s", message.topic, f"{type(exc).__name__}: {exc}")
        finally:
            self.handled += 1

    async def _handle(self, message: BusMessage) -> None:
        if is_gateway_topic(message.topic):
            await self._on_presence(message)
            return
        try:
            where = parse(message.topic)
            if where.suffix not in self._handlers:
                return
            data = decode(where.suffix, message.payload)
        except (TopicError, PayloadError) as exc:
            self.refused += 1
            log.log(self._first_sight.level(message.topic, message.payload), "bus_payload_refused topic=%s reason=%s",
                    message.topic, exc)
            return
        now = self._clock.now()
        dev = self._cache.get(where.device_id)
        if dev is None:
            await self._on_unknown(where.site, where.device_id, where.suffix, message, now)
            return
        if dev.site != where.site:
            # Another site's topic claims a registered device: not this device's message (the registry decides).
            self.refused += 1
            log.warning("device_site_mismatch device=%s site=%s topic=%s", dev.id, dev.site, message.topic)
            if where.suffix is Suffix.BIRTH:
                await self._alarms.apply(dev.site, dev.id, alarms.from_registry(unknown=False, mismatches=["site"]),
                                         now)
            return
        dev.last_seen = now
        if where.suffix is Suffix.STATE and not message.retain and dev.own_status != "online":
            self.status_asks.start(dev.id, self._clock.monotonic())  # sent now: the device is up (module doc)
        await self._handlers[where.suffix](dev, data, now)

    async def _on_unknown(self, site: str, device_id: str, suffix: Suffix, message: BusMessage,
                          now: datetime) -> None:
        """A message from a device the registry does not know: kept for a later import (birth, status, state),
        the birth raising `unknown_device`; nothing is created."""
        self.unknown += 1
        if suffix not in QUARANTINED:
            return
        kept = self._quarantine.get(device_id)
        if kept is None:
            if len(self._quarantine) >= UNKNOWN_KEPT:
                # A flood of made-up device ids: neither memory nor alarms grow beyond the bound.
                self.unknown_dropped += 1
                log.log(self._first_sight.level("unknown_device_dropped", b""),
                        "unknown_device_dropped device=%s kept=%s", device_id, UNKNOWN_KEPT)
                return
            kept = self._quarantine[device_id] = {}
            log.warning("unknown_device device=%s site=%s topic=%s", device_id, site, message.topic)
        kept[suffix] = message
        if suffix is Suffix.BIRTH:
            await self._alarms.apply(site, device_id, alarms.from_registry(unknown=True), now)

    async def adopt(self, device_ids: Iterable[str]) -> int:
        """Apply what quarantined devices said before they were imported (call after `DeviceCache.preload`);
        the number of devices adopted."""
        adopted = 0
        for device_id in device_ids:
            kept = self._quarantine.pop(device_id, None)
            if kept is None or self._cache.get(device_id) is None:
                continue
            adopted += 1
            for suffix in QUARANTINED:
                if suffix in kept:
                    await self.handle(kept[suffix])
        return adopted

    async def _upsert(self, dev: LiveDevice, now: datetime, *, seen: bool = True) -> None:
        """Write the device's row (the registry created it). `seen`: the device itself reported now (not its
        gateway's presence)."""
        birth = dev.birth or {}
        async with self._sessions() as session:
            row = await session.get(Device, dev.id)
            if row is None:
                log.warning("device_not_registered device=%s", dev.id)
                return
            row.status = dev.status
            if seen:
                row.last_seen = now
            if birth:
                row.birth, row.model, row.firmware = birth, birth.get("model"), birth.get("firmware")
                row.transport, row.name = birth.get("transport", row.transport), birth.get("name", row.name)
                location = birth.get("location")
                if isinstance(location, dict):
                    row.lat, row.lon = location.get("lat"), location.get("lon")
            await session.commit()

    async def _on_birth(self, dev: LiveDevice, data: dict[str, Any], now: datetime) -> None:
        reg = dev.registry
        judged = judge_birth(data, dev.site, Registered(site=dev.site, kind=dev.kind or data["kind"],
                                                        name=reg.get("name"), lat=reg.get("lat"), lon=reg.get("lon"),
                                                        birth=dev.birth))
        await self._alarms.apply(dev.site, dev.id, alarms.from_registry(unknown=False,
                                                                        mismatches=list(judged.mismatches)), now)
        if judged.mismatches:
            log.warning("birth_registry_mismatch device=%s fields=%s refused=%s", dev.id, ",".join(judged.mismatches),
                        judged.refused)
        if judged.refused:
            self.refused += 1
            return
        data = judged.birth
        dev.birth, dev.gateway = data, gateway_of(data)
        await self._upsert(dev, now)
        self._hub.publish("device", dev.site, dev.id, dev.to_json())
        # A birth from the gateway's current session may end a `gateway_restarted`; one from an earlier may start it.
        await self._show_status(dev, now, seen=True)

    async def _on_status(self, dev: LiveDevice, data: dict[str, Any], now: datetime) -> None:
        dev.own_status, dev.own_reason = data["status"], data.get("reason")
        self.status_asks.stop(dev.id)
        await self._show_status(dev, now, seen=True, always=True)

    async def _on_presence(self, message: BusMessage) -> None:
        try:
            gateway_id = parse_gateway(message.topic)
            presence = presence_of(decode(PRESENCE, message.payload))
        except (TopicError, ValueError) as exc:  # PayloadError is a ValueError
            self.refused += 1
            log.log(self._first_sight.level(message.topic, message.payload), "bus_payload_refused topic=%s reason=%s",
                    message.topic, exc)
            return
        self._cache.set_presence(gateway_id, presence)
        devices = self._cache.behind(gateway_id)
        log.info("gateway_presence gateway=%s status=%s session=%s devices=%s", gateway_id, presence.status,
                 presence.session, len(devices))
        now = self._clock.now()
        for dev in devices:
            try:
                await self._show_status(dev, now, seen=False)
            except (SQLAlchemyError, OSError) as exc:  # as in `handle`, but one device's write never stops the rest
                self.failed += 1
                log.error("bus_message_failed topic=%s device=%s error=%s", message.topic, dev.id,
                          f"{type(exc).__name__}: {exc}")

    async def _show_status(self, dev: LiveDevice, now: datetime, *, seen: bool, always: bool = False,
                           due: bool = False) -> None:
        """Apply the contract's rule to what the device and its gateway said; when the status to show changed (or
        `always`, for the device's own status message): write it, publish it, raise or clear comm_loss. A change
        from online to offline waits `offline_grace_s` first (`due`: it has)."""
        presence = self._cache.presence(dev.gateway.id) if dev.gateway else None
        status, reason = device_status(dev.own_status, dev.own_reason, dev.gateway, presence,
                                       (dev.status, dev.status_reason))
        if status == "offline" and dev.status == "online" and self._offline_grace_s > 0 and not due:
            if dev.id not in self._held:
                self._held[dev.id] = self._clock.monotonic()
                log.info("device_offline_held device=%s reason=%s grace_s=%g", dev.id, reason, self._offline_grace_s)
            return
        if self._held.pop(dev.id, None) is not None:
            log.info("device_offline_withdrawn device=%s status=%s", dev.id, status)
        if not always and (status, reason) == (dev.status, dev.status_reason):
            return
        dev.status, dev.status_reason = status, reason
        await self._upsert(dev, now, seen=seen)
        gateway = dev.gateway.id if dev.gateway else None
        self._hub.publish("status", dev.site, dev.id, {"status": status, "reason": reason, "gateway": gateway})
        if status in ("online", "offline"):
            detail = f"{reason}: {gateway}" if reason in (GATEWAY_OFFLINE, GATEWAY_RESTARTED) else reason
            await self._alarms.apply(dev.site, dev.id, alarms.from_status(status, detail), now)

    async def _on_state(self, dev: LiveDevice, data: dict[str, Any], now: datetime) -> None:
        if dev.kind is not None and data["kind"] != dev.kind:
            self.refused += 1
            log.warning("state_kind_mismatch device=%s kind=%s claimed=%s", dev.id, dev.kind, data["kind"])
            return
        dev.state = data
        self._hub.publish("state", dev.site, dev.id, data)
        await self._alarms.apply(dev.site, dev.id, alarms.from_state(data["kind"], data["values"]), now)
        if data["kind"] == DeviceKind.LIGHTING_CABINET.value:
            faults = circuit_faults(data["values"], loads_from_birth(dev.birth))
            await self._alarms.apply_circuits(dev.site, dev.id, faults, now)

    async def _on_event(self, dev: LiveDevice, data: dict[str, Any], now: datetime) -> None:
        verdict = alarms.from_event(data)
        if verdict is not None and dev.kind == DeviceKind.LIGHTING_CABINET.value:
            # A cabinet's circuit faults are judged per circuit from its state, not from its summary events.
            verdict = Verdict(verdict.active - alarms.CIRCUIT_KINDS, verdict.decides - alarms.CIRCUIT_KINDS,
                              verdict.detail)
        if verdict is not None:
            await self._alarms.apply(dev.site, dev.id, verdict, now)

    async def _on_result(self, dev: LiveDevice, data: dict[str, Any], now: datetime) -> None:
        try:
            result = CommandResult.model_validate(data)
        except ValidationError as exc:
            self.refused += 1
            log.warning("bus_payload_refused device=%s reason=%s", dev.id, str(exc.errors()[:1]))
            return
        row = await self._dispatcher.record_result(dev.id, result, site=dev.site)
        if row is not None:
            self._hub.publish("command", dev.site, dev.id, command_json(row))


def registry(row: Device) -> dict[str, Any]:
    """What the config DB knows of a device beyond the bus: name, endpoint, Modbus profile, gateway shard."""
    return {"name": row.name, "endpoint": row.endpoint, "profile": row.profile, "gateway_shard": row.gateway_shard,
            "lat": row.lat, "lon": row.lon}


async def known_devices(session: AsyncSession) -> list[Device]:
    return list((await session.execute(select(Device).order_by(Device.site, Device.id))).scalars())
