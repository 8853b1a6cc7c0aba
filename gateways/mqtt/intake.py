"""`MqttIntake`: the receive side for high-rate consumers (the recorder), batches of messages with flow control.

Built on the project's connection (`gateways.mqtt.connection`) and its one reconnect policy
(`gateways.mqtt.reconnect`: endpoint failover, backoff with full jitter, forever), configured from the same
`BusConfig` as the `Bus`. After every connection it subscribes all its filters at QoS 1 (so a broker or a failover
that lost the session is survived) and checks the SUBACK: a filter refused for good (MQTT 5: not authorized, invalid,
shared subscriptions not supported...) ends the intake with `BrokerRefusedError` naming it, as does a CONNACK
refusal retrying cannot cure; MQTT 3.1.1's one failure code 0x80 (which NATS answers while JetStream elects a leader)
is logged as an error and retried on a new connection.

Delivery and flow control: `async for batch in intake` yields lists of `InboundMessage` (at most `max_batch` each),
in the order received. Nothing is dropped: when the messages received but not yet handed back by the consumer
reach `max_pending`, the intake stops reading the socket (`pause_reading`); TCP backpressure then holds the broker,
which keeps the rest in its queue (QoS 1: the session's queue). Reading resumes when the consumer comes back for
more with the backlog under half the bound. So memory is bounded by `max_pending` plus one read.

Acknowledgement: with `manual_ack` (what the recorder uses) the consumer calls `ack(messages)` once it has made them
durable; the PUBACK frames go out in one write, and only to the connection that delivered the messages (their
`generation`): a message from a connection that has since dropped is not acked, the broker redelivers it on the new
connection. Without `manual_ack`, QoS 1 messages are acked as they are parsed.

Asking again for retained messages: `resend_retained(topics)` subscribes those exact topics on the live connection,
which makes the broker send their retained messages again (the recorder uses it for a device's birth it missed), and
`drop_topics(topics)` unsubscribes them once they are no longer needed. These extra subscriptions are not renewed
after a reconnection: the caller asks again if it still waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

from gateways.mqtt.codec import PROP_REASON_STRING, suback_final, suback_text
from gateways.mqtt.config import BusConfig
from gateways.mqtt.connection import BrokerRefusedError, Connection, InboundMessage
from gateways.mqtt.reconnect import ConnectionKeeper

log = logging.getLogger(__name__)
T = TypeVar("T")


class MqttIntake:
    """Receive `filters` (QoS 1) on one connection kept alive forever; an async context manager and an async
    iterator of message batches. Reusable, not re-entrant; one consumer."""

    def __init__(self, config: BusConfig, filters: Sequence[str], *, max_pending: int = 20_000,
                 max_batch: int = 2_000) -> None:
        if not filters:
            raise ValueError("MqttIntake needs at least one topic filter")
        self.config = config
        self.filters = tuple(filters)
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.inbox: list[InboundMessage] = []  # received, not yet handed to the consumer (the connection's sink)
        self.topics: dict[bytes, str] = {}
        self._in_hand = 0  # size of the batch the consumer holds
        self._ready = asyncio.Event()
        self._keeper = ConnectionKeeper(config, self, name="mqtt_intake")
        self._error: BaseException | None = None
        self._runner: asyncio.Task[None] | None = None
        self.extra_topics: set[str] = set()  # subscribed by `resend_retained`, not yet dropped
        self.pauses = 0
        self.received_total = 0
        self.acked = 0

    # --- life cycle ---------------------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("MqttIntake is not re-entrant")
        self._error = None
        self._runner = asyncio.create_task(self._run(), name=f"mqtt-intake-{self.config.client_id}")
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        runner, self._runner = self._runner, None
        assert runner is not None
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        self.inbox = []
        self._in_hand = 0

    @property
    def connected(self) -> bool:
        return self._keeper.connected.is_set()

    @property
    def connects(self) -> int:
        return self._keeper.connects

    @property
    def connection(self) -> Connection | None:
        """The live connection (None between connections)."""
        return self._keeper.conn

    @property
    def paused(self) -> bool:
        conn = self._keeper.conn
        return conn is not None and conn.paused

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until connected and subscribed. Raises TimeoutError after `timeout_s` (naming the last connection
        error), BrokerRefusedError if refused."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self._keeper.connected.is_set():
                    if self._error is not None:
                        raise self._error
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await self._keeper.connected.wait()
        except TimeoutError:
            raise TimeoutError(f"not connected to {self.config.brokers} within {timeout_s} s"
                               + (f": {self._keeper.last_error}" if self._keeper.last_error else "")) from None

    async def _run(self) -> None:
        try:
            await self._keeper.run(self._on_up)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # refused, or a bug: the consumer must hear of it rather than wait forever
            self._error = exc
            self._ready.set()
            if not isinstance(exc, BrokerRefusedError):
                raise

    async def _on_up(self, conn: Connection, session_present: bool) -> None:
        async with asyncio.timeout(self.config.connect_timeout_s):
            codes, props = await conn.subscribe(list(self.filters))
        self._check_suback(codes, props)
        log.info("mqtt_intake_subscribed client_id=%s filters=%s session_present=%s", self.config.client_id,
                 ",".join(self.filters), session_present)

    def _check_suback(self, codes: list[int], props: dict[int, Any]) -> None:
        if len(codes) != len(self.filters):
            raise BrokerRefusedError(f"SUBACK has {len(codes)} return codes for {len(self.filters)} filters")
        for f, code in zip(self.filters, codes, strict=True):
            if code >= 0x80:
                reason = suback_text(code, self.config.mqtt_v5)
                if PROP_REASON_STRING in props:
                    reason += f": {props[PROP_REASON_STRING]}"
                if suback_final(code, self.config.mqtt_v5):
                    raise BrokerRefusedError(f"broker refused the subscription to {f}: {reason}")
                # MQTT 3.1.1's one failure code (or an MQTT 5 one that may pass): also what a broker answers while
                # it cannot serve the subscription for now (NATS while JetStream elects a leader). Logged as an
                # error (an ACL refusing it is a setup error that needs an operator) and asked again on a new
                # connection after the backoff: never running without the subscription.
                log.error("mqtt_intake_subscription_refused client_id=%s filter=%s code=%s retry=True",
                          self.config.client_id, f, reason)
                raise ConnectionError(f"broker refused the subscription to {f}: {reason}")
            if code == 0:
                log.warning("mqtt_intake_qos_downgraded client_id=%s filter=%s granted_qos=0 (messages are not "
                            "kept for an absent session nor acknowledged)", self.config.client_id, f)

    async def resend_retained(self, topics: Sequence[str]) -> None:
        """Subscribe `topics` (exact topics or filters, QoS 1) on the live connection so the broker sends their
        retained messages again. Raises ConnectionError when there is no live connection or it does not answer
        within the connect timeout; a topic the broker refuses is logged, not raised (the caller may ask again)."""
        codes, _ = await self._answered(self._live().subscribe(list(topics)), "SUBACK")
        self.extra_topics.update(topics)
        for t, code in zip(topics, codes, strict=False):
            if code >= 0x80:
                log.warning("mqtt_intake_resend_refused client_id=%s topic=%s code=%s", self.config.client_id, t,
                            suback_text(code, self.config.mqtt_v5))

    async def drop_topics(self, topics: Sequence[str]) -> None:
        """Unsubscribe `topics` added by `resend_retained`. Raises ConnectionError as `resend_retained` does."""
        await self._answered(self._live().unsubscribe(list(topics)), "UNSUBACK")
        self.extra_topics.difference_update(topics)

    async def _answered(self, request: Awaitable[T], answer: str) -> T:
        """`request`'s answer within the connect timeout; ConnectionError naming the missing `answer` otherwise."""
        try:
            async with asyncio.timeout(self.config.connect_timeout_s):
                return await request
        except TimeoutError:
            raise ConnectionError(f"no {answer} within the connect timeout") from None

    def _live(self) -> Connection:
        conn = self._keeper.conn
        if conn is None or not conn.is_open or not self._keeper.connected.is_set():
            raise ConnectionError("not connected")
        return conn

    # --- the sink of the connection -------------------------------------------------------------------------------
    def received(self, conn: Connection, n: int) -> None:
        self.received_total += n
        self._ready.set()
        if not conn.paused and len(self.inbox) + self._in_hand >= self.max_pending:
            self.pauses += 1
            conn.pause_reading()
            log.info("mqtt_intake_paused client_id=%s pending=%d", self.config.client_id, len(self.inbox))

    # --- the consumer ---------------------------------------------------------------------------------------------
    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> list[InboundMessage]:
        """The next batch (at most `max_batch` messages, oldest first). Asking for it means the previous one is
        handled. Raises BrokerRefusedError when the broker refused the connection or the subscription."""
        self._in_hand = 0
        while not self.inbox:
            if self._error is not None:
                raise self._error
            self._resume()
            self._ready.clear()
            await self._ready.wait()
        pending = self.inbox
        if len(pending) <= self.max_batch:
            batch, self.inbox = pending, []
        else:
            batch = pending[:self.max_batch]
            del pending[:self.max_batch]
        self._in_hand = len(batch)
        if len(self.inbox) + self._in_hand < self.max_pending // 2:
            self._resume()
        return batch

    def _resume(self) -> None:
        conn = self._keeper.conn
        if conn is not None and conn.paused:
            conn.resume_reading()

    def ack(self, messages: Sequence[object]) -> None:
        """Acknowledge delivered messages (manual_ack) in one write. Messages of an earlier connection are skipped
        (the broker redelivers them), so are QoS 0 messages and anything that is not an InboundMessage. Without
        manual_ack the intake acked them on receipt already: nothing to do."""
        conn = self._keeper.conn
        if not self.config.manual_ack or conn is None or not conn.is_open:
            return
        generation = conn.generation
        mids = [m.mid for m in messages if isinstance(m, InboundMessage) and m.qos and m.generation == generation]
        if mids:
            conn.ack(mids)
            self.acked += len(mids)
