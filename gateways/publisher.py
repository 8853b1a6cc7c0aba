"""What a gateway publishes for one device: birth, status, state, telemetry and events, each with the device's `seq`.

One `seq` counter per device across state, telemetry and events, in publication order (a lock keeps the order of
numbers and of publications the same). `seq` restarts at 0 with every birth, and `bd_seq` increments with every
birth. Publishing raises `BusError` when the bus cannot take the message within its publish timeout.

Telemetry and events are never dropped for a broker outage: while the bus is down (or a publish fails), they wait in
a bounded per-device outbox, in order, and are sent first after the reconnection, marked `historical` (telemetry)
with their original `ts` and `seq`. Overflow policy: beyond `outbox_size` messages the oldest is dropped and counted
in `outbox_dropped` (10 minutes of 1 s telemetry by default). State, birth and status are not queued: the latest ones
are republished on reconnection, which is what a consumer of retained messages needs.

Each birth names the gateway (`gateway: {id, session}`, from its presence): consumers show the device offline while
that gateway is (topic contract v1, "Gateways").
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from controllers.bus import BusError, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.presence import GatewayRef
from controllers.topics import Suffix, topic
from gateways.manifest import DeviceEntry, ModbusDevice

log = logging.getLogger(__name__)


class DevicePublisher:
    def __init__(self, entry: DeviceEntry, bus: BusPort, clock: Clock, *, outbox_size: int = 600,
                 gateway: GatewayRef | None = None) -> None:
        self.entry = entry
        self.gateway = gateway
        self.bus = bus
        self.clock = clock
        self.seq = 0
        self.bd_seq = -1
        self.birth: dict[str, Any] | None = None
        self.status: str | None = None
        self.state: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self.published = 0
        self.outbox: deque[tuple[Suffix, dict[str, Any]]] = deque()
        self.outbox_size = outbox_size
        self.outbox_dropped = 0

    def _topic(self, suffix: Suffix) -> str:
        return topic(self.entry.site, self.entry.id, suffix)

    async def _send(self, suffix: Suffix, payload: dict[str, Any], *, retain: bool = False) -> None:
        await self.bus.publish(self._topic(suffix), payload, qos=1, retain=retain)
        self.published += 1

    async def publish_birth(self, model: str, firmware: str, capabilities: list[str],
                            extra: dict[str, Any]) -> None:
        """A new birth: `bd_seq` + 1, `seq` back to 0; then `status online`."""
        async with self._lock:
            self.bd_seq = (self.bd_seq + 1) % 256
            self.seq = 0
            birth: dict[str, Any] = {
                "ts": to_rfc3339(self.clock.now()), "bd_seq": self.bd_seq, "kind": self.entry.kind.value,
                "model": model or "unknown", "firmware": firmware or "unknown", "transport": "modbus",
                "capabilities": capabilities, **extra,
            }
            if self.entry.name:
                birth["name"] = self.entry.name[:128]
            if self.entry.location:
                birth["location"] = self.entry.location.model_dump()
            if isinstance(self.entry, ModbusDevice) and self.entry.loads is not None:
                birth["loads"] = [load.model_dump(exclude_none=True) for load in self.entry.loads]
            if self.gateway is not None:
                birth["gateway"] = self.gateway.to_json()
            self.birth = birth
            await self._send(Suffix.BIRTH, birth, retain=True)
            await self._send_status("online", None)

    async def _send_status(self, status: str, reason: str | None) -> None:
        payload: dict[str, Any] = {"status": status, "ts": to_rfc3339(self.clock.now())}
        if reason:
            payload["reason"] = reason[:256]
        self.status = status
        await self._send(Suffix.STATUS, payload, retain=True)

    async def publish_status(self, status: str, reason: str | None = None) -> None:
        async with self._lock:
            await self._send_status(status, reason)

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    async def publish_state(self, values: dict[str, Any]) -> None:
        async with self._lock:
            if not getattr(self.bus, "connected", True):
                # Kept, not queued: the reconnection republishes the latest state (with a fresh seq).
                self.state = {"ts": to_rfc3339(self.clock.now()), "seq": self.seq, "kind": self.entry.kind.value,
                              "values": values}
                return
            await self._flush_outbox()
            payload = {"ts": to_rfc3339(self.clock.now()), "seq": self._next_seq(), "kind": self.entry.kind.value,
                       "values": values}
            self.state = payload
            await self._send(Suffix.STATE, payload, retain=True)

    async def publish_telemetry(self, values: dict[str, float | bool], *, ts: str | None = None) -> None:
        async with self._lock:
            await self._send_or_queue(Suffix.TELEMETRY, {"ts": ts or to_rfc3339(self.clock.now()),
                                                         "seq": self._next_seq(), "values": values})

    async def publish_event(self, body: dict[str, Any], *, ts: str | None = None) -> None:
        """An event: `body` is `{code, param}` (Indiana) or `{alarm, active, detail?}`."""
        async with self._lock:
            await self._send_or_queue(Suffix.EVENT, {"ts": ts or to_rfc3339(self.clock.now()),
                                                     "seq": self._next_seq(), **body})

    async def _send_or_queue(self, suffix: Suffix, payload: dict[str, Any]) -> None:
        """Send, or queue behind what already waits (keeping the order) when the bus is down. Never raises
        BusError: a message that cannot go now waits in the outbox."""
        if getattr(self.bus, "connected", True):
            try:
                await self._flush_outbox()
                await self._send(suffix, payload)
                return
            except BusError as exc:
                log.warning("gateway_publish_queued device=%s suffix=%s error=%s", self.entry.id, suffix.value, exc)
        if suffix is Suffix.TELEMETRY:
            payload = {**payload, "historical": True}
        if len(self.outbox) >= self.outbox_size:
            self.outbox.popleft()
            self.outbox_dropped += 1
            if self.outbox_dropped == 1 or self.outbox_dropped % 100 == 0:
                log.error("gateway_outbox_full device=%s dropped=%d", self.entry.id, self.outbox_dropped)
        self.outbox.append((suffix, payload))

    async def _flush_outbox(self) -> None:
        while self.outbox:
            suffix, payload = self.outbox[0]
            await self._send(suffix, payload)
            self.outbox.popleft()

    async def publish_cmd_result(self, payload: dict[str, Any]) -> None:
        await self._send(Suffix.CMD_RES, payload)

    async def republish(self) -> None:
        """After a bus reconnect: birth, status and state again (retained messages may be gone with the broker).

        The same birth is republished (the device session did not change), then the last state with a fresh seq."""
        async with self._lock:
            await self._flush_outbox()
            if self.birth is not None:
                await self._send(Suffix.BIRTH, self.birth, retain=True)
            if self.status is not None:
                await self._send_status(self.status, None)
            if self.state is not None:
                self.state = {**self.state, "seq": self._next_seq()}
                await self._send(Suffix.STATE, self.state, retain=True)
