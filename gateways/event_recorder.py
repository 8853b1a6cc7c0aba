"""Every controller hi-res event from the bus into the telemetry store, with the recorder's guarantees.

The recorder's intake also subscribes `sl/v1/+/+/event` and hands those messages to an `EventRecorder`: the same
batching, write queue, disk spool (its own folder, `{spool_dir}/events`), replay and acknowledgement as telemetry
(`gateways.recorder.Recorder`, which this subclasses), so an event is acknowledged only once written or spooled
(fsynced), a spool that overflows drops its oldest batches and counts them (`Spool.dropped_samples`), and a
replayed or redelivered event overwrites itself (a point's identity is device, site, ms timestamp and seq:
controllers.events). Inside the batches and the spool an event travels as a `Sample` whose values are
`{code, param}`; `EventSink` turns those into `ControllerEvent`s for the store. Alarm events (`{alarm, active}`)
are acknowledged and left to the alarm pipeline; malformed ones are counted, logged and dropped. A partitioned
recorder ("i/N", `gateways.partition`) stores the events of its partition's devices only, like their telemetry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

from controllers.devices import DeviceKind
from controllers.events import ControllerEvent, EventStore
from controllers.telemetry import Sample
from controllers.topics import Suffix, TopicError, parse
from gateways.event_contract import HiresEvent, judge_event
from gateways.recorder import Message, Recorder, make_sample
from gateways.telemetry_contract import decode_payload

log = logging.getLogger(__name__)

_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z").fullmatch
_PLAIN_KEYS = frozenset(("ts", "seq", "code", "param"))


def _fast_event(payload: bytes) -> HiresEvent | None:
    """A plainly valid hi-res event payload (exactly ts, seq, code, param; integers in range), or None when the
    contract's judge must decide. Accepts nothing the judge refuses."""
    try:
        o = decode_payload(payload)
    except ValueError:
        return None
    if o.__class__ is not dict or o.keys() != _PLAIN_KEYS:
        return None
    ts, seq, code, param = o["ts"], o["seq"], o["code"], o["param"]
    if (ts.__class__ is not str or seq.__class__ is not int or code.__class__ is not int
            or param.__class__ is not int or not 0 <= seq <= 255 or not 0 <= code <= 255
            or not 0 <= param <= 65535 or not _TS(ts)):
        return None
    try:
        return datetime.fromisoformat(ts), seq, code, param
    except ValueError:
        return None


def validate_event(payload: bytes) -> HiresEvent | None:
    """An event payload checked against contracts/mqtt/schemas/event.schema.json: the hi-res event, or None for an
    alarm event. Raises ValueError naming the problem."""
    return _fast_event(payload) or judge_event(payload)


def as_event(sample: Sample) -> ControllerEvent:
    values = sample.values
    return ControllerEvent(site=sample.site, device=sample.device, ts=sample.ts, seq=sample.seq,
                           code=int(values["code"]), param=int(values["param"]))


class EventSink:
    """The recorder's writer interface over an `EventStore`: batches of event-carrying samples become events."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def write(self, samples: Sequence[Sample]) -> None:
        await self.store.write_events([as_event(s) for s in samples])


class EventRecorder(Recorder):
    """A `Recorder` of `event` messages (see the module doc); `alarms_skipped` counts the alarm events left out."""

    alarms_skipped = 0

    def on_messages(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        now = self.clock.monotonic()
        self.last_intake = now
        if not self.batch:
            self.batch_started = now
        acks: list[Message] = []
        for message in messages:
            try:
                t = parse(message.topic)
                if t.suffix is not Suffix.EVENT:
                    raise ValueError(f"not an event topic: {message.topic}")
                event = validate_event(message.payload)
            except (TopicError, ValueError) as exc:
                self.stats.malformed += 1
                log.warning("event_malformed topic=%s reason=%s", message.topic, exc)
                acks.append(message)
                continue
            if self.partition is not None and not self.partition.owns(t.device_id):
                # Another recorder's partition stores it (gateways.partition): acknowledged, not counted.
                self.stats.foreign += 1
                acks.append(message)
                continue
            self.stats.received += 1
            if event is None:
                self.alarms_skipped += 1
                acks.append(message)
                continue
            ts, seq, code, param = event
            self.batch_msgs.append(message)
            self.batch.append(make_sample(DeviceKind.SIGNAL_CONTROLLER, t.site, t.device_id, ts, seq,
                                      {"code": code, "param": param}, False))
        self.acknowledge(acks)
