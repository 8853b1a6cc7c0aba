"""MQTT device link: the gateway's watch over devices that speak MQTT themselves (topic contract v1).

For each owned MQTT device it tracks `birth` (`bd_seq`) and the device `seq` across state, telemetry and events.
After a birth, a `seq` other than previous + 1 (mod 256) means messages were lost: the link publishes `rebirth` so
the device sends birth and state again (at most once per `rebirth_every_s` per device, so a flapping link cannot
flood the bus). A device sending live messages with no birth seen for `birth_wait_s` is asked for a rebirth too: its
retained birth was missed (NATS, keeping retained messages in JetStream, may let one published while the watch
subscribed reach neither the subscription nor its snapshot), and without one its gaps would go unseen. Retained
messages (delivered on subscribe) are old news and do not count. A payload that is not JSON (decoded with bounds:
`controllers.bounded_json`) or fails its schema is counted and dropped with a log naming the device and the reason;
nothing crashes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema

import contracts
from controllers import bounded_json
from controllers.bus import BusError, BusMessage
from controllers.clock import Clock
from controllers.topics import Suffix, TopicError, parse, subscription, topic
from gateways.manifest import MqttDevice
from gateways.mqtt import Bus

log = logging.getLogger(__name__)

WATCHED = (Suffix.BIRTH, Suffix.STATE, Suffix.TELEMETRY, Suffix.EVENT, Suffix.STATUS)


@dataclass
class LinkState:
    bd_seq: int | None = None
    next_seq: int | None = None
    messages: int = 0
    gaps: int = 0
    malformed: int = 0
    rebirths: int = 0
    last_rebirth: float | None = None
    #: when a live message first came with no birth seen (monotonic)
    birthless_since: float | None = None


def _validators() -> dict[Suffix, jsonschema.protocols.Validator]:
    out: dict[Suffix, jsonschema.protocols.Validator] = {}
    for suffix in WATCHED:
        schema = json.loads(contracts.mqtt_schema_path(suffix.value).read_text(encoding="utf-8"))
        out[suffix] = jsonschema.Draft202012Validator(schema)
    return out


class MqttDeviceWatch:
    """Checks the messages of the owned MQTT devices; `handle` returns the rebirth topic to publish, if any."""

    def __init__(self, devices: Iterable[MqttDevice], clock: Clock, *, rebirth_every_s: float = 10.0,
                 birth_wait_s: float = 2.0, first_sight: bounded_json.FirstSight | None = None) -> None:
        self.devices = {(d.site, d.id): LinkState() for d in devices}
        self.clock = clock
        self.rebirth_every_s = rebirth_every_s
        self.birth_wait_s = birth_wait_s
        self._validators = _validators()
        # Retained poison: logged once, counted every time.
        self._first_sight = first_sight if first_sight is not None else bounded_json.FirstSight()

    def handle(self, message: BusMessage) -> str | None:
        try:
            t = parse(message.topic)
        except TopicError:
            return None
        st = self.devices.get((t.site, t.device_id))
        if st is None or t.suffix not in self._validators:
            return None
        st.messages += 1
        try:
            payload: Any = bounded_json.decode(message.payload)
            error = jsonschema.exceptions.best_match(self._validators[t.suffix].iter_errors(payload))
        except bounded_json.PayloadRejected as exc:
            error, payload = exc, None
        if error is not None:
            st.malformed += 1
            reason = getattr(error, "message", str(error))[:200]
            log.log(self._first_sight.level(message.topic, message.payload),
                    "device_payload_malformed device=%s site=%s suffix=%s reason=%s", t.device_id, t.site,
                    t.suffix.value, reason)
            return None
        if t.suffix is Suffix.BIRTH:
            st.bd_seq = payload["bd_seq"]
            st.next_seq = None  # the first message after a birth sets the baseline
            st.birthless_since = None
            return None
        if message.retain or t.suffix is Suffix.STATUS:
            return None
        now = self.clock.monotonic()
        if st.bd_seq is None:  # live, with no birth to compare with: missed, if none comes within birth_wait_s
            if st.birthless_since is None:
                st.birthless_since = now
            if now - st.birthless_since < self.birth_wait_s:
                return None
            log.warning("device_birth_missing device=%s site=%s since_s=%.1f", t.device_id, t.site,
                        now - st.birthless_since)
            return self._rebirth(st, t.site, t.device_id, now)
        seq = payload["seq"]
        expected, st.next_seq = st.next_seq, (seq + 1) % 256
        if expected is None or seq == expected:
            return None
        st.gaps += 1
        log.warning("device_seq_gap device=%s site=%s expected=%d got=%d", t.device_id, t.site, expected, seq)
        return self._rebirth(st, t.site, t.device_id, now)

    def _rebirth(self, st: LinkState, site: str, device_id: str, now: float) -> str | None:
        """The rebirth topic to publish, at most once per `rebirth_every_s` per device."""
        if st.last_rebirth is not None and now - st.last_rebirth < self.rebirth_every_s:
            return None
        st.last_rebirth = now
        st.rebirths += 1
        return topic(site, device_id, Suffix.REBIRTH)


async def run_mqtt_device_watch(bus: Bus, link: MqttDeviceWatch) -> None:
    """Watch the owned MQTT devices until cancelled (one subscription, filtered here)."""
    if not link.devices:
        return
    filters = [subscription(s) for s in WATCHED]
    async with bus.subscribe(*filters, queue_size=50_000) as sub:
        async for message in sub:
            rebirth = link.handle(message)
            if rebirth is not None:
                try:
                    await bus.publish(rebirth, b"{}", qos=1)
                except BusError as exc:
                    log.warning("rebirth_publish_failed topic=%s error=%s", rebirth, exc)
