"""The MQTT session of one MQTT-speaking device (cabinet or signal controller): connect, announce, publish, obey
commands, reconnect forever.

A clean stop (cancellation) publishes `status offline` (retained) itself and disconnects cleanly, so the broker
does not send the Last Will. A communication fault (`comm_fault`) or power failure cuts the device's cable
(`firmware_sim.cable`) without a DISCONNECT, so the broker publishes the Last Will `status offline`, and the device
stays away until it clears.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import urllib.parse
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import aiomqtt

from firmware_sim.cabinet_mqtt import TELEMETRY_S
from firmware_sim.cable import Cable
from firmware_sim.clock import SimClock
from firmware_sim.mqtt_commands import CommandBook

log = logging.getLogger(__name__)

NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
# The cap keeps a device that lost its broker node back within one JetStream election plus a few seconds on a
# cluster (x 0.5..1.5 jitter still spreads a fleet's reconnections).
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 5.0
# The device subscribes with a clean session: QoS 1 deliveries would buy nothing (what is in flight when the link
# drops is discarded with the session), and on a JetStream-backed broker (NATS) each QoS 1 subscription is a
# replicated consumer to create on every connection and delete on the next, which a node's death makes slow.
SUBSCRIBE_QOS = 0
# Telemetry sampled while the link is down waits here (marked historical) and is sent after the reconnection.
BACKLOG_MAX = 360
PUBLISH_TIMEOUT_S = 10.0
# A broker node that holds a CONNECT this long is busy (NATS while JetStream elects leaders): try the next one.
CONNECT_TIMEOUT_S = 5.0
# A device has little memory: at most INBOX_MAX commands wait to be handled; beyond that the client library
# discards new ones (the sender's command then expires unanswered, which the central side reports). Publishes
# wait for the broker (QoS 1) one at a time, so OUTBOX_MAX is only a guard.
INBOX_MAX = 64
OUTBOX_MAX = 256


async def _poll_pause() -> None:
    # Faults are plain flags set by the control endpoint or a scenario; polling them is cheap and simple.
    await asyncio.sleep(0.2)


class MqttFace(Protocol):
    """What a device shows on MQTT (`CabinetMqttFace`, `ControllerMqttFace`); payloads only, no I/O."""

    @property
    def device_id(self) -> str: ...
    @property
    def bd_seq(self) -> int: ...
    def topic(self, suffix: str) -> str: ...
    def powered(self) -> bool: ...
    def birth(self) -> dict[str, Any]: ...
    def state(self, seq: int | None = None) -> dict[str, Any]: ...
    def state_changed(self) -> bool: ...
    def telemetry(self) -> dict[str, Any]: ...
    def connected(self) -> None: ...
    def outbox(self) -> list[tuple[str, dict[str, Any]]]: ...
    def requeue(self, items: list[tuple[str, dict[str, Any]]]) -> None: ...
    def commands(self, payload: bytes) -> list[dict[str, Any]]: ...
    @property
    def book(self) -> CommandBook: ...


def broker_endpoints(urls: Sequence[str], host: str, port: int, tls: bool) -> list[tuple[str, int, bool]]:
    """(host, port, tls) of each `mqtt://host:port` / `mqtts://host:port` in `urls`, or of host:port alone.
    Raises ValueError naming a url that is not one."""
    if not urls:
        return [(host, port, tls)]
    out = []
    for url in urls:
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker url {url!r}: expected mqtt://host:port or mqtts://host:port")
        out.append((parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883),
                    parts.scheme == "mqtts"))
    return out


def tls_context(ca: Path | None, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    """Verify the broker against `ca` (the system's CAs without one); present `cert`/`key` when given."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


class _CancelWatch:
    """Notices a cancellation that a call swallowed.

    aiomqtt waits with `asyncio.wait_for`, which on Python 3.11 returns a result that arrives together with a
    cancellation and drops the cancellation (fixed in 3.12): a publishing loop would run on after its TaskGroup
    cancelled it, and the TaskGroup would wait for it forever (a hang seen at fleet shutdown). A task's
    `cancelling()` count still shows the request; it is compared with the count when the task started its work
    (3.11's TaskGroup can leave the count of a parent raised after a child failed, so the count alone says little).
    """

    def __init__(self) -> None:
        self._base: weakref.WeakKeyDictionary[asyncio.Task[Any], int] = weakref.WeakKeyDictionary()

    def start(self) -> None:
        """The current task starts a piece of work: cancellations from now on count."""
        task = asyncio.current_task()
        if task is not None:
            self._base[task] = task.cancelling()

    def check(self) -> None:
        """Raise CancelledError when the current task was asked to stop since `start()`."""
        task = asyncio.current_task()
        if task is not None and task in self._base and task.cancelling() > self._base[task]:
            raise asyncio.CancelledError


class _Dropped(Exception):
    """The device lost its link on purpose (fault injection)."""


class MqttDeviceSession:
    """One device's MQTT session (the name is historic: signal controllers use it too)."""

    def __init__(self, face: MqttFace, *, host: str, port: int, username: str | None,
                 password: str | None, clock: SimClock, rng: random.Random, urls: Sequence[str] = (),
                 tls_ca: Path | None = None, tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
        self.face, self.host, self.port = face, host, port
        # Failover: the brokers in turn, the next one after every loss (a cluster's nodes share sessions).
        self.brokers = broker_endpoints(urls, host, port, tls_ca is not None or tls_cert is not None)
        self._tls = (tls_context(tls_ca, tls_cert, tls_key) if any(tls for _, _, tls in self.brokers) else None)
        self._broker = 0
        self.username, self.password = username, password
        self.clock, self.rng = clock, rng
        self.client_id = face.device_id
        self.comm_fault = False
        self.connected = asyncio.Event()
        self.sessions = 0
        self.next_telemetry = clock.monotonic()
        self.backlog: list[dict[str, Any]] = []
        self.backlog_dropped = 0
        # Answers to one command go out in order and before anything the command caused (a plan that activates at
        # once must not report `active` before `activating`): the inbox and the periodic publisher take turns.
        self._turn = asyncio.Lock()
        self._cable = Cable(self.client_id)
        self._cancels = _CancelWatch()
        #: the seq of a state taken but not sent (its link went): the next state goes under it, so the bus shows
        #: no gap, which a consumer would read as a lost message (a state is superseded, never resent as it was)
        self._unsent_state_seq: int | None = None

    def _down(self) -> bool:
        return self.comm_fault or not self.face.powered()

    async def run(self) -> None:
        """Run until cancelled; never raises MqttError (reconnects with exponential backoff and jitter)."""
        sampler = asyncio.create_task(self._sample_offline(), name=f"sample-offline-{self.client_id}")
        try:
            await self._run()
        finally:
            sampler.cancel()

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_S
        will = aiomqtt.Will(self.face.topic("status"), json.dumps({"status": "offline"}), qos=1, retain=True)
        while True:
            while self._down():
                await _poll_pause()
            host, port, tls = self.brokers[self._broker]
            try:
                # Through the device's cable (TLS is the cable's), which a fault cuts.
                async with self._cable.laid(host, port, tls=self._tls if tls else None,
                                            timeout_s=CONNECT_TIMEOUT_S) as (near_host, near_port), \
                        aiomqtt.Client(near_host, near_port, identifier=self.client_id, username=self.username,
                                       password=self.password, will=will, clean_session=True, keepalive=30,
                                       timeout=CONNECT_TIMEOUT_S, socket_options=NODELAY,
                                       max_queued_incoming_messages=INBOX_MAX,
                                       max_queued_outgoing_messages=OUTBOX_MAX) as client:
                    backoff = BACKOFF_MIN_S
                    await self._session(client)
            except (aiomqtt.MqttError, OSError, TimeoutError) as exc:   # OSError, TimeoutError: no broker to reach
                self.connected.clear()
                self._broker = (self._broker + 1) % len(self.brokers)
                log.warning("mqtt_disconnected device=%s broker=%s:%d error=%s retry_s=%.1f", self.client_id, host,
                            port, exc, backoff)
            except _Dropped:
                self.connected.clear()
                log.warning("mqtt_session_dropped device=%s", self.client_id)
                continue
            await asyncio.sleep(backoff * (0.5 + self.rng.random()))
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _publish(self, client: aiomqtt.Client, suffix: str, payload: dict[str, Any], *,
                       retain: bool = False) -> None:
        await client.publish(self.face.topic(suffix), json.dumps(payload, separators=(",", ":")), qos=1,
                             retain=retain, timeout=PUBLISH_TIMEOUT_S)
        if suffix == "state":
            self._unsent_state_seq = None
        self._cancels.check()

    async def _publish_state(self, client: aiomqtt.Client) -> None:
        """The state now, under the seq of a state that could not be sent, if one could not."""
        state = self.face.state(self._unsent_state_seq)
        self._unsent_state_seq = state["seq"]
        await self._publish(client, "state", state, retain=True)

    async def _announce(self, client: aiomqtt.Client) -> None:
        await self._publish(client, "birth", self.face.birth(), retain=True)
        await self._publish(client, "status", {"status": "online"}, retain=True)
        if self._unsent_state_seq is None:
            await self._send_backlog(client)  # sampled before the state below: their seq come first
            await self._publish_state(client)
        else:  # the state goes under the seq of one the link lost, older than all the backlog's: it comes first
            await self._publish_state(client)
            await self._send_backlog(client)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._cancels.start()
        await client.subscribe(self.face.topic("cmd"), qos=SUBSCRIBE_QOS, timeout=PUBLISH_TIMEOUT_S)
        await client.subscribe(self.face.topic("rebirth"), qos=SUBSCRIBE_QOS, timeout=PUBLISH_TIMEOUT_S)
        self._cancels.check()
        await self._announce(client)
        self.face.connected()
        self.sessions += 1
        self.connected.set()
        log.info("mqtt_online device=%s broker=%s:%d bd_seq=%d", self.client_id, *self.brokers[self._broker][:2],
                 self.face.bd_seq)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._periodic(client))
                tg.create_task(self._inbox(client))
        except asyncio.CancelledError:
            # A clean stop: say so ourselves (retained), then aiomqtt disconnects cleanly and no Will is sent.
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                await asyncio.wait_for(self._publish(client, "status", {"status": "offline", "reason": "stopped"},
                                                     retain=True), 5)
            raise
        except ExceptionGroup as group:
            if group.subgroup(_Dropped) is not None:
                self._cable.cut()       # not a goodbye: the broker sees the link end and publishes our Last Will
                raise _Dropped() from None
            mqtt = group.subgroup(aiomqtt.MqttError)
            if mqtt is not None:
                raise mqtt.exceptions[0] from None
            raise

    def _advance_telemetry(self) -> None:
        self.next_telemetry += TELEMETRY_S
        if self.next_telemetry < self.clock.monotonic():     # fell behind (host busy): do not burst
            self.next_telemetry = self.clock.monotonic() + TELEMETRY_S

    def _keep(self, sample: dict[str, Any]) -> None:
        if len(self.backlog) >= BACKLOG_MAX:
            self.backlog.pop(0)
            self.backlog_dropped += 1
        self.backlog.append(sample)

    async def _sample_offline(self) -> None:
        """While the link is down (after its first session), the device keeps sampling (when powered) into its
        backlog, marked historical."""
        while True:
            if (self.sessions and not self.connected.is_set() and not self._down()
                    and self.clock.monotonic() >= self.next_telemetry):
                self._keep({**self.face.telemetry(), "historical": True})
                self._advance_telemetry()
            await asyncio.sleep(min(0.5, TELEMETRY_S / getattr(self.clock, "speed", 1.0) / 4))

    async def _send_backlog(self, client: aiomqtt.Client) -> None:
        """Telemetry kept while the link was down, oldest first; what cannot go now stays for the next link."""
        while self.backlog:
            await self._publish(client, "telemetry", self.backlog[0])
            self.backlog.pop(0)

    async def _periodic(self, client: aiomqtt.Client) -> None:
        self._cancels.start()
        while True:
            if self._down():
                raise _Dropped()
            async with self._turn:
                items = self.face.outbox()
                for n, (suffix, payload) in enumerate(items):
                    try:
                        await self._publish(client, suffix, payload)
                    except (aiomqtt.MqttError, TimeoutError, asyncio.CancelledError):
                        self.face.requeue(items[n:])       # the link went away: nothing taken is lost
                        raise
                if self.face.state_changed():      # in turn: a command's effect is not shown before its answer
                    await self._publish_state(client)
            if self.clock.monotonic() >= self.next_telemetry:
                sample = self.face.telemetry()
                self._advance_telemetry()
                try:
                    await self._publish(client, "telemetry", sample)
                except (aiomqtt.MqttError, TimeoutError, asyncio.CancelledError):
                    self._keep({**sample, "historical": True})  # sampled, not sent: it waits for the next link
                    raise
            await asyncio.sleep(min(0.5, TELEMETRY_S / getattr(self.clock, "speed", 1.0) / 4))

    async def _inbox(self, client: aiomqtt.Client) -> None:
        self._cancels.start()
        async for message in client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else str(message.payload).encode()
            if topic.endswith("/rebirth"):
                await self._announce(client)
                continue
            async with self._turn:
                results = self.face.commands(payload)
                # The replay window on flash before any answer or state tells of the command: a device that
                # restarts after acknowledging it still refuses it. Written in a worker thread.
                await self.face.book.persist()
                for result in results:
                    await self._publish(client, "cmd/res", result)
            if any(r.get("ok") for r in results) and self.face.state_changed():
                await self._publish_state(client)
