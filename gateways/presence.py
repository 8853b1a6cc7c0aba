"""A gateway's own presence on the bus (topic contract v1, "Gateways").

The Modbus devices a gateway speaks for have no MQTT connection of their own, so when the gateway dies without a
word nothing would tell anyone. The gateway therefore announces itself on `sl/v1/_gateway/{gateway_id}/presence`:
`online` (retained) on every connect, before it republishes its devices; `offline` (retained) as the Last Will of
its MQTT connection, and published by itself on a clean stop. Each birth it publishes names it
(`gateway: {id, session}`), so consumers show its devices offline while it is (`controllers.presence`).

`gateway_id` is stable across restarts and unique per gateway process: `SIGNALIGHT_GATEWAY_ID`, or by default
`{host}-{shard}` (`default_gateway_id`). `session` is new for every process.

A Last Will can land late (a dead connection is noticed only after 1.5 × the keepalive): when the previous process's
`offline` overwrites this process's `online`, `watch` publishes `online` again; so it does for this process's own
will, which a broker it left in a failover (`mqtt_urls`) may publish after it has announced itself on the next one.
An `online` of another session while this process runs means two processes were given one gateway id; that is logged
(`gateway_id_conflict`).
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
from typing import Any, Literal

from controllers import bounded_json
from controllers.bus import BusError, BusMessage, BusPort
from controllers.clock import Clock, to_rfc3339
from controllers.devices import is_valid_id
from controllers.presence import GatewayRef, presence_of
from controllers.topics import gateway_topic
from gateways.mqtt import Bus, BusWill, encode_payload

log = logging.getLogger(__name__)

WILL_REASON = "connection lost"
STOP_REASON = "gateway stopped"

_NOT_ID = re.compile(r"[^a-z0-9_-]+")


def _label(text: str, limit: int) -> str:
    return _NOT_ID.sub("-", text.lower()).strip("-_")[:limit].strip("-_")


def default_gateway_id(shard: str | None, host: str | None = None) -> str:
    """`{host}-{shard}`: the first label of the host name and the shard (`all` without one), lower case, other
    characters as `-` (shard "0/4" on "edge01.example" is "edge01-0-4"). What configures a gateway process today
    (its host and shard; its MQTT client id adds the pid, which changes at every restart), so it is stable across
    restarts and unique as long as a host runs one gateway per shard."""
    name = _label((host if host is not None else socket.gethostname()).split(".")[0], 40) or "gateway"
    return f"{name}-{_label(shard or 'all', 23) or 'shard'}"


def new_session() -> str:
    """A new session value for this process (presence.schema.json `session`)."""
    return secrets.token_hex(8)


Verdict = Literal["reannounce", "conflict"]


class GatewayPresence:
    """One gateway process's presence: its will, its announcements and the watch over its own topic."""

    def __init__(self, gateway_id: str, clock: Clock, *, session: str | None = None) -> None:
        if not is_valid_id(gateway_id):
            raise ValueError(f"gateway id {gateway_id!r} must match ^[a-z0-9][a-z0-9_-]{{0,63}}$ (a topic level)")
        self.gateway_id = gateway_id
        self.session = session or new_session()
        self.clock = clock
        self.topic = gateway_topic(gateway_id)
        self.ref = GatewayRef(gateway_id, self.session)
        self.reannounced = 0
        self.conflicts = 0

    def will(self) -> BusWill:
        """The Last Will of the gateway's MQTT connection (no `ts`: it is fixed when connecting)."""
        payload = {"status": "offline", "session": self.session, "reason": WILL_REASON}
        return BusWill(topic=self.topic, payload=encode_payload(payload), retain=True, qos=1)

    def _payload(self, status: str, reason: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"status": status, "session": self.session, "ts": to_rfc3339(self.clock.now())}
        if reason:
            payload["reason"] = reason[:256]
        return payload

    async def announce(self, bus: BusPort) -> None:
        """Publish `online` (retained). Raises BusError."""
        await bus.publish(self.topic, self._payload("online", None), qos=1, retain=True)
        log.info("gateway_online gateway=%s session=%s", self.gateway_id, self.session)

    async def withdraw(self, bus: BusPort, reason: str = STOP_REASON) -> None:
        """Publish `offline` (retained), as the will would. Raises BusError."""
        await bus.publish(self.topic, self._payload("offline", reason), qos=1, retain=True)
        log.info("gateway_offline gateway=%s session=%s reason=%s", self.gateway_id, self.session, reason)

    def judge(self, message: BusMessage) -> Verdict | None:
        """What a message on our own topic asks of us. Retained copies (delivered on subscribing) are the state
        before our announcement, which follows them; only live ones count. Malformed ones are ignored."""
        if message.retain or message.topic != self.topic:
            return None
        try:
            data = bounded_json.decode(message.payload)
            presence = presence_of(data) if isinstance(data, dict) else None
        except ValueError:
            presence = None
        if presence is None:
            return None
        if presence.session == self.session:
            # Our own will arriving while we are connected: a broker we have left published it late (a failover to
            # another broker, or a dead connection noticed only after 1.5 keepalives). Our own announcements and
            # our clean-stop `offline` ask nothing.
            lost = presence.status == "offline" and isinstance(data, dict) and data.get("reason") == WILL_REASON
            return "reannounce" if lost else None
        return "reannounce" if presence.status == "offline" else "conflict"

    async def watch(self, bus: Bus) -> None:
        """Keep our `online` in force until cancelled (see the module docstring)."""
        async with bus.subscribe(self.topic, queue_size=100) as sub:
            async for message in sub:
                verdict = self.judge(message)
                if verdict == "conflict":
                    self.conflicts += 1
                    log.error("gateway_id_conflict gateway=%s session=%s other_session=%s", self.gateway_id,
                              self.session, _session_of(message))
                elif verdict == "reannounce":
                    self.reannounced += 1
                    log.warning("gateway_stale_will gateway=%s session=%s other_session=%s", self.gateway_id,
                                self.session, _session_of(message))
                    try:
                        await self.announce(bus)
                    except BusError as exc:
                        log.warning("gateway_announce_failed gateway=%s error=%s", self.gateway_id, exc)


def _session_of(message: BusMessage) -> str:
    try:
        return str(bounded_json.decode(message.payload).get("session"))[:64]
    except (ValueError, AttributeError):
        return "?"
