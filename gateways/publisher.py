"""What a gateway publishes for one device: birth, status, state, telemetry, events and command results, each of the
first four kinds with the device's `seq`.

Everything a device publishes goes through one ordered outbox, sent by one task of its own (`_drain`): the poller
and the command runner only put messages in it and never wait for the broker. So a broker that is slow to
acknowledge, or a failover in progress, never stalls polling (a stalled poll is a hole in the telemetry: the samples
of those seconds are never taken), and a command result that cannot be published now is not lost: it waits in the
outbox and is sent after the reconnection, as DESIGN's "nothing is lost" asks.

`seq`: one counter per device across state, telemetry and events, taken when a message enters the outbox, so the
numbers follow the publication order (the outbox is first in, first out). `seq` restarts at 0 with every birth, and
`bd_seq` increments with every birth. A state that enters the outbox while an earlier one still waits there replaces
that one's values in its place and keeps its `seq` (consumers of retained state need the latest, not every one).

Outage: while the bus is down (or a publish fails), the outbox keeps everything in order; telemetry that waited is
marked `historical` (its original `ts` and `seq` kept). Overflow policy: beyond `outbox_size` messages the oldest
waiting one is dropped and counted in `outbox_dropped` (10 minutes of 1 s telemetry by default), which the device's
`seq` then shows as a gap. A publish the broker refuses for good (MQTT 5 `PublishRefusedError`, e.g. an ACL) is
logged and dropped, not retried forever. After a reconnection `republish` queues the birth, status and state again
(retained messages may be gone with the broker).

Each birth names the gateway (`gateway: {id, session}`, from its presence): consumers show the device offline while
that gateway is (topic contract v1, "Gateways").
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from controllers.bus import BusError, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.presence import GatewayRef
from controllers.topics import Suffix, topic
from gateways.manifest import DeviceEntry, ModbusDevice
from gateways.mqtt.connection import BrokerRefusedError, PublishRefusedError

log = logging.getLogger(__name__)

#: pause between two attempts of the same message (the bus's own publish already waits for a connection)
RETRY_PAUSE_S = 0.2


@dataclass(slots=True)
class Outgoing:
    """One message waiting in the outbox."""

    suffix: Suffix
    payload: dict[str, Any]
    retain: bool = False


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
        self.published = 0
        self.outbox: deque[Outgoing] = deque()
        self.outbox_size = outbox_size
        self.outbox_dropped = 0
        self.refused = 0
        self._sending: Outgoing | None = None  # the head of the outbox while its publish is under way
        self._failing = False  # a publish failed and none succeeded since: what waits now is late
        self._drainer: asyncio.Task[None] | None = None
        self._empty = asyncio.Event()
        self._empty.set()

    def _topic(self, suffix: Suffix) -> str:
        return topic(self.entry.site, self.entry.id, suffix)

    @property
    def _bus_up(self) -> bool:
        return bool(getattr(self.bus, "connected", True))

    def _next_seq(self) -> int:
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    # --- what the device publishes (none of these waits for the broker) -------------------------------------------
    async def publish_birth(self, model: str, firmware: str, capabilities: list[str],
                            extra: dict[str, Any]) -> None:
        """A new birth: `bd_seq` + 1, `seq` back to 0; then `status online`."""
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
        self._put(Outgoing(Suffix.BIRTH, birth, retain=True))
        self._put_status("online", None)

    def _put_status(self, status: str, reason: str | None) -> None:
        payload: dict[str, Any] = {"status": status, "ts": to_rfc3339(self.clock.now())}
        if reason:
            payload["reason"] = reason[:256]
        self.status = status
        self._put(Outgoing(Suffix.STATUS, payload, retain=True))

    async def publish_status(self, status: str, reason: str | None = None) -> None:
        self._put_status(status, reason)

    async def publish_state(self, values: dict[str, Any], *, ts: str | None = None) -> None:
        """`ts`: when the values were true (the device's clock); default the gateway's now."""
        ts = ts or to_rfc3339(self.clock.now())
        for item in self.outbox:
            if item.suffix is Suffix.STATE and item is not self._sending:
                # Still waiting: it takes the latest values in its place, with its seq (no gap, no stale state).
                item.payload = {**item.payload, "ts": ts, "values": values}
                self.state = item.payload
                return
        self.state = {"ts": ts, "seq": self._next_seq(), "kind": self.entry.kind.value, "values": values}
        self._put(Outgoing(Suffix.STATE, self.state, retain=True))

    async def publish_telemetry(self, values: dict[str, float | bool], *, ts: str | None = None) -> None:
        payload: dict[str, Any] = {"ts": ts or to_rfc3339(self.clock.now()), "seq": self._next_seq(),
                                   "values": values}
        if self._failing or not self._bus_up:
            payload["historical"] = True
        self._put(Outgoing(Suffix.TELEMETRY, payload))

    async def publish_event(self, body: dict[str, Any], *, ts: str | None = None) -> None:
        """An event: `body` is `{code, param}` (Indiana) or `{alarm, active, detail?}`."""
        self._put(Outgoing(Suffix.EVENT, {"ts": ts or to_rfc3339(self.clock.now()), "seq": self._next_seq(), **body}))

    async def publish_cmd_result(self, payload: dict[str, Any]) -> None:
        """A command's result (`cmd/res`): sent in order with the rest, kept through a broker outage."""
        self._put(Outgoing(Suffix.CMD_RES, payload))

    async def republish(self) -> None:
        """After a bus reconnect: birth, status and state again (retained messages may be gone with the broker).

        The same birth is queued again (the device session did not change), then the last state with a fresh seq
        unless a state still waits in the outbox (it carries the latest values)."""
        if self.birth is not None:
            self._put(Outgoing(Suffix.BIRTH, self.birth, retain=True))
        if self.status is not None:
            self._put_status(self.status, None)
        if self.state is not None and not any(i.suffix is Suffix.STATE and i is not self._sending
                                              for i in self.outbox):
            await self.publish_state(self.state["values"], ts=self.state["ts"])

    # --- the outbox -----------------------------------------------------------------------------------------------
    def _put(self, item: Outgoing) -> None:
        if len(self.outbox) >= max(self.outbox_size, 2):
            # The oldest that is not being sent right now.
            del self.outbox[1 if self.outbox[0] is self._sending else 0]
            self.outbox_dropped += 1
            if self.outbox_dropped == 1 or self.outbox_dropped % 100 == 0:
                log.error("gateway_outbox_full device=%s dropped=%d", self.entry.id, self.outbox_dropped)
        self.outbox.append(item)
        self._empty.clear()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain(), name=f"outbox-{self.entry.id}")

    def _late(self) -> None:
        """A publish failed: the telemetry waiting now arrives late, marked historical."""
        self._failing = True
        for item in self.outbox:
            if item.suffix is Suffix.TELEMETRY and not item.payload.get("historical"):
                item.payload = {**item.payload, "historical": True}

    async def _drain(self) -> None:
        """Send the outbox in order until it is empty; a message that fails is tried again (the bus reconnects)."""
        try:
            while self.outbox:
                item = self.outbox[0]
                self._sending = item
                try:
                    await self.bus.publish(self._topic(item.suffix), item.payload, qos=1, retain=item.retain)
                except BrokerRefusedError as exc:
                    log.error("gateway_publish_stopped device=%s error=%s", self.entry.id, exc)
                    return  # the bus ended: nothing more can be sent
                except BusError as exc:
                    if isinstance(exc, PublishRefusedError):
                        # Refused for good (MQTT 5 reason >= 0x80): retrying would block the device's outbox.
                        self.refused += 1
                        log.error("gateway_publish_refused device=%s suffix=%s error=%s", self.entry.id,
                                  item.suffix.value, exc)
                    else:
                        if not self._failing:
                            log.warning("gateway_publish_queued device=%s suffix=%s waiting=%d error=%s",
                                        self.entry.id, item.suffix.value, len(self.outbox), exc)
                        self._late()
                        await asyncio.sleep(RETRY_PAUSE_S)
                        continue
                else:
                    self.published += 1
                    if self._failing:
                        log.info("gateway_publish_resumed device=%s waiting=%d", self.entry.id, len(self.outbox) - 1)
                    self._failing = False
                finally:
                    self._sending = None
                if self.outbox and self.outbox[0] is item:
                    self.outbox.popleft()
        finally:
            if not self.outbox:
                self._empty.set()

    async def flush(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty (everything sent); False when `timeout_s` passed first."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._empty.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Stop sending (the gateway is stopping); what still waits is dropped with the process."""
        if self._drainer is not None:
            self._drainer.cancel()
