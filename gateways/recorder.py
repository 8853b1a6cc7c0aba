"""The recorder: telemetry from the bus into the telemetry store, batched, with a disk spool so nothing is lost.

Flow: the broker → `gateways.mqtt.MqttIntake` (its own connection: `sl/v1/+/+/birth` retained and
`sl/v1/+/+/telemetry`, QoS 1; `$share/{group}/...` for telemetry when several recorders split the load) →
batches of messages → validate → batch (by `batch_size` samples or `flush_interval_s`, whichever first) → write.
The intake, not the `Bus` (both on the same connection code): the recorder takes tens of thousands of messages a
second in batches with flow control and acks after the write, where the Bus queues message by message.

A store that is behind (the write queue full) holds the intake for up to `queue_wait_s`: the intake stops reading,
the broker keeps the rest. A batch the store cannot take now (down, slow: `StoreError` retryable, or the write queue
still full after `queue_wait_s`) goes to the disk spool; while the spool holds anything, new batches queue behind
it, so replay keeps the order; replayed samples are written with `historical` = true, and since a point's identity
is (measurement, site, device, time) a batch written twice is stored once. A batch the store refuses for good
(retryable=False) is kept in `spool_dir/rejected/` and logged. A store that can encode a batch ahead
(`PreparingWriter`: InfluxDB's line protocol) gets it encoded at flush time, while the previous write is in flight.
Up to `write_concurrency` batches are written at once; they are settled (acknowledged or spooled) in queue order.

Unknown kind rule: the measurement comes from the device kind, learned from its retained `birth`. A sample from a
device whose birth has not been seen yet waits (up to `pending_per_device` samples a device and
`max_waiting_devices` devices, oldest dropped and counted beyond that) and is recorded as soon as the birth arrives.
A birth can be missed: NATS stores retained messages in JetStream and a retained birth published while the recorder
subscribes reaches neither the live subscription nor the retained snapshot (seen in 1 of 6 runs of
`test_recorder_partition`). So a device whose samples have waited `birth_wait_s` is due an ask (`births_due`): the
service subscribes that device's birth topic anew, which makes the broker send the retained birth again, and asks
again with a doubling backoff (up to `birth_backoff_max_s`) while it stays unknown.

Malformed telemetry (bad topic, JSON or schema, an impossible date) is counted, logged with the device and the
reason, and dropped. The judge is contracts/mqtt/schemas/telemetry.schema.json itself (`gateways.telemetry_contract`);
a hand-written fast path accepts the plainly valid payloads (never one the judge refuses, with the same result) and
leaves every doubtful one to the judge, which words the reason.

What a crash loses: nothing that reached the broker, given a persistent session (clean_session=False, fixed client
id). The recorder acknowledges each QoS 1 telemetry message only once its sample is written to the store or spooled
to disk (fsynced); a SIGKILL leaves the rest unacknowledged and the broker redelivers it to the next run, which
rewrites it onto the same point (no duplicates). An ack goes only to the connection that delivered the message: one
from a dropped connection is not acked, the broker redelivers it. Exceptions, acknowledged on receipt: births,
malformed messages (dropped on purpose) and samples waiting for their device's birth (held in memory: holding them
unacknowledged could fill the broker's in-flight window and block the very birth they wait for). Memory is bounded
by the intake's `max_pending` (flow control: it stops reading, nothing is dropped), the write queue and the broker's
in-flight window: Mosquitto's `max_inflight_messages` (MQTT 3.1.1; its default of 20 would throttle the recorder,
use >= 1000) or our `receive_maximum` (MQTT 5). To fill batches despite that window, the open batch is also flushed
when the intake pauses for `idle_flush_s`. A clean shutdown writes or spools the open batch first, then the intake
sends the last acks and a DISCONNECT. A broker that refuses the connection (credentials, authorization) or the
subscription ends `run_recorder` (`gateways.recorder_service`) with `BrokerRefusedError` naming the reason; a lost
connection is retried forever.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Protocol, runtime_checkable

from controllers import bounded_json
from controllers.clock import Clock
from controllers.devices import DeviceKind
from controllers.retained_asks import RetainedAsks
from controllers.telemetry import Sample, StoreError, TelemetryWriter
from controllers.topics import Suffix, TopicError, parse
from gateways.partition import Partition
from gateways.spool import Spool, sample_to_json
from gateways.telemetry_contract import Telemetry, decode_payload, judge_telemetry

log = logging.getLogger(__name__)

@dataclass
class RecorderStats:
    received: int = 0
    malformed: int = 0
    pending_dropped: int = 0
    batches_written: int = 0
    samples_written: int = 0
    batches_spooled: int = 0
    batches_replayed: int = 0
    batches_rejected: int = 0
    write_failures: int = 0
    # telemetry of devices in another recorder's partition, acknowledged without storing
    foreign: int = 0
    # devices whose retained birth was asked for again (samples waited `birth_wait_s` without it)
    birth_requests: int = 0


class Message(Protocol):
    """What the recorder reads of a message: `controllers.bus.BusMessage` and `gateways.mqtt.InboundMessage`
    both fit."""

    @property
    def topic(self) -> str: ...

    @property
    def payload(self) -> bytes: ...


_SAMPLE_FIELDS = ("kind", "site", "device", "ts", "seq", "values", "historical")
assert tuple(f.name for f in fields(Sample)) == _SAMPLE_FIELDS, "Sample changed: update make_sample"
_new = object.__new__
_set_kind, _set_site, _set_device, _set_ts, _set_seq, _set_values, _set_historical = (
    getattr(Sample, name).__set__ for name in _SAMPLE_FIELDS)


def make_sample(kind: DeviceKind, site: str, device: str, ts: datetime, seq: int,
                values: dict[str, float | int | bool], historical: bool) -> Sample:
    """`Sample(kind, site, device, ts, seq, values, historical)` at half the cost: a frozen dataclass's __init__
    assigns each field through object.__setattr__, which is a measurable share of the recorder's hot path. The
    slots are filled directly instead (same object, same immutability afterwards)."""
    sample: Sample = _new(Sample)
    _set_kind(sample, kind)
    _set_site(sample, site)
    _set_device(sample, device)
    _set_ts(sample, ts)
    _set_seq(sample, seq)
    _set_values(sample, values)
    _set_historical(sample, historical)
    return sample


_TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z").fullmatch
_FIELD = re.compile(r"[a-z][a-z0-9_]{0,63}").fullmatch
_known_fields: set[str] = set()  # field names already seen valid (bounded)


def _fast_sample(payload: bytes, device: tuple[DeviceKind, str, str]) -> Sample | None:
    """The hot path of the recorder: the Sample of a plainly valid payload from `device` (kind, site, id), or None
    when in any doubt (the contract's judge then decides and names the problem). Accepts nothing the judge refuses.
    Validation and construction in one function: a call per message is a measurable share of this path."""
    try:
        o = decode_payload(payload)
    except ValueError:
        return None
    if o.__class__ is not dict:
        return None
    if len(o) == 3:
        historical = False
    elif len(o) == 4:
        flag = o.get("historical")
        if flag.__class__ is not bool:
            return None
        historical = flag
    else:
        return None
    ts, seq, values = o.get("ts"), o.get("seq"), o.get("values")
    if (ts.__class__ is not str or seq.__class__ is not int or not 0 <= seq <= 255 or values.__class__ is not dict
            or not values or not _TS(ts)):
        return None
    if not _known_fields.issuperset(values):
        for key in values:
            if not _FIELD(key):
                return None
        if len(_known_fields) < 10_000:
            _known_fields.update(values)
    try:
        # One C loop checks every value: a string, null, list or object raises TypeError, an integer too large
        # for a float OverflowError; a NaN or an infinity makes the sum non-finite (so may a sum too large for a
        # float: the judge decides those few).
        total = sum(values.values())
    except (TypeError, OverflowError):  # OverflowError: an integer too large for a float (the judge keeps the rest)
        return None
    if total - total != 0:
        return None
    try:
        when = datetime.fromisoformat(ts)  # the pattern guarantees the Z: UTC
    except ValueError:
        return None
    sample: Sample = _new(Sample)
    _set_kind(sample, device[0])
    _set_site(sample, device[1])
    _set_device(sample, device[2])
    _set_ts(sample, when)
    _set_seq(sample, seq)
    _set_values(sample, values)
    _set_historical(sample, historical)
    return sample


def _fast_telemetry(payload: bytes) -> Telemetry | None:
    """`_fast_sample` as a validated payload (ts, seq, historical, values); None when the model must decide."""
    sample = _fast_sample(payload, (DeviceKind.SIGNAL_CONTROLLER, "", ""))
    return None if sample is None else (sample.ts, sample.seq, sample.historical, sample.values)


def validate_telemetry(payload: bytes) -> Telemetry:
    """A telemetry payload checked against contracts/mqtt/schemas/telemetry.schema.json: the fast path for the
    plainly valid, the contract's judge (`gateways.telemetry_contract`) for the rest. Raises ValueError naming the
    problem (`path: message`)."""
    fast = _fast_telemetry(payload)
    if fast is not None:
        return fast
    return judge_telemetry(payload)


def parse_telemetry(message: Message, kinds: dict[tuple[str, str], DeviceKind] | None = None) -> tuple[
        tuple[str, str], Telemetry]:
    """(site, device) and the validated payload. Raises ValueError naming the problem."""
    t = parse(message.topic)
    if t.suffix is not Suffix.TELEMETRY:
        raise ValueError(f"not a telemetry topic: {message.topic}")
    return (t.site, t.device_id), validate_telemetry(message.payload)


@runtime_checkable
class PreparingWriter(Protocol):
    """A store that can encode a batch ahead of writing it (`InfluxStore`: the line protocol body)."""

    def prepare(self, samples: Sequence[Sample]) -> bytes: ...

    async def write_prepared(self, samples: Sequence[Sample], prepared: bytes) -> None: ...


@dataclass(slots=True)
class _Batch:
    """A flushed batch: its samples, the messages to acknowledge once they are safe, and the store's encoding of
    them when it prepares batches ahead."""

    samples: list[Sample]
    messages: list[Message]
    prepared: bytes | None = None


class Recorder:
    def __init__(self, store: TelemetryWriter, spool: Spool, clock: Clock, *, batch_size: int = 5000,
                 flush_interval_s: float = 1.0, pending_per_device: int = 1000, write_queue: int = 4,
                 ack: Callable[[Sequence[Message]], None] | None = None, idle_flush_s: float = 0.05,
                 queue_wait_s: float = 1.0, partition: Partition | None = None, write_concurrency: int = 1,
                 max_waiting_devices: int = 10_000, birth_wait_s: float = 2.0,
                 birth_backoff_max_s: float = 60.0) -> None:
        if write_concurrency < 1:
            raise ValueError("write_concurrency must be >= 1")
        self.store = store
        self.write_concurrency = write_concurrency
        self.partition = partition
        self.spool = spool
        self.clock = clock
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.pending_per_device = pending_per_device
        self.kinds: dict[tuple[str, str], DeviceKind] = {}
        self.pending: dict[tuple[str, str], deque[Telemetry]] = {}  # oldest waiting device first
        self.max_waiting_devices = max_waiting_devices
        # when to ask again for the birth of a device whose samples wait (only devices in `pending`: at most
        # max_waiting_devices, so the asks never forget one)
        self._birth_asks: RetainedAsks[tuple[str, str]] = RetainedAsks(
            first_wait_s=birth_wait_s, max_wait_s=birth_backoff_max_s, max_keys=max_waiting_devices)
        self.batch: list[Sample] = []
        self.batch_msgs: list[Message] = []
        self.batch_started = 0.0
        self.last_intake = 0.0
        self.idle_flush_s = idle_flush_s
        self._ack = ack
        self.stats = RecorderStats()
        self.writes: asyncio.Queue[_Batch] = asyncio.Queue(maxsize=write_queue)
        self.in_flight: list[_Batch] = []  # batches taken off `writes` and not yet acknowledged or spooled, in order
        self.queue_wait_s = queue_wait_s
        self.waiting: _Batch | None = None  # a flushed batch waiting for queue room
        self._preparing = store if isinstance(store, PreparingWriter) else None
        self._flushing = asyncio.Lock()
        # topic -> (site, device) of valid telemetry topics; None for births (bounded).
        self._topics: dict[str, tuple[str, str] | None] = {}
        # telemetry topic -> (kind, site, device) of devices whose kind is known: the hot path (bounded).
        self._recordable: dict[str, tuple[DeviceKind, str, str]] = {}

    # --- intake -------------------------------------------------------------------------------------------------
    def on_birth(self, message: Message) -> None:
        try:
            t = parse(message.topic)
            kind = DeviceKind(bounded_json.decode_object(message.payload)["kind"])  # PayloadRejected: a ValueError
        except (TopicError, ValueError, KeyError, TypeError) as exc:
            log.warning("recorder_bad_birth topic=%s reason=%s", message.topic, exc)
            return
        key = (t.site, t.device_id)
        if self.kinds.get(key, kind) is not kind:
            self._recordable.clear()  # a device that changed kind: its telemetry topic maps anew
        self.kinds[key] = kind
        self._birth_asks.stop(key)
        for payload in self.pending.pop(key, ()):
            self._add(key, kind, payload)

    def births_due(self, now: float) -> list[tuple[str, str]]:
        """(site, device) of the devices whose samples wait for a birth and are due an ask for it now (monotonic
        `now`): first `birth_wait_s` after their first waiting sample, then after a doubling backoff. Counted in
        `stats.birth_requests`."""
        due = self._birth_asks.due(now)
        self.stats.birth_requests += len(due)
        return due

    def acknowledge(self, messages: Sequence[Message]) -> None:
        if self._ack is not None and messages:
            self._ack(messages)

    def on_telemetry(self, message: Message) -> None:
        self.on_messages([message])

    def on_messages(self, messages: Sequence[Message]) -> None:
        """A batch from the bus, in order: births learnt, telemetry validated and batched. Acknowledged here (on
        receipt): births, malformed telemetry and samples waiting for their birth; the rest once written or
        spooled. Does not flush (see `take`)."""
        if not messages:
            return
        now = self.clock.monotonic()
        self.last_intake = now
        if not self.batch:
            self.batch_started = now
        # The hot path: telemetry of a device whose kind is known, with a plainly valid payload. Everything else
        # (births, unknown devices, odd topics, payloads the schema model must judge) takes `_on_other`.
        recordable = self._recordable
        batch = self.batch
        batch_msgs = self.batch_msgs
        acks: list[Message] = []
        births = 0
        fast = _fast_sample
        for message in messages:
            device = recordable.get(message.topic)
            if device is not None:
                sample = fast(message.payload, device)
                if sample is not None:
                    batch_msgs.append(message)
                    batch.append(sample)
                    continue
            births += self._on_other(message, acks)
        self.stats.received += len(messages) - births
        self.acknowledge(acks)

    def _on_other(self, message: Message, acks: list[Message]) -> bool:
        """A message off the hot path; returns True for a birth (not counted as received telemetry)."""
        topic = message.topic
        key = self._topics.get(topic, False)
        if key is False:
            key = self._route(topic)
        if key is None or (key is False and topic.endswith("/birth")):
            self.on_birth(message)
            acks.append(message)
            return True
        if isinstance(key, tuple) and self.partition is not None and not self.partition.owns(key[1]):
            # Another recorder's partition stores it: acknowledged, not counted as received.
            self.stats.foreign += 1
            self.stats.received -= 1
            acks.append(message)
            return False
        try:
            key, payload = parse_telemetry(message)
        except (TopicError, ValueError) as exc:
            self._malformed(message, exc)
            acks.append(message)
            return False
        kind = self.kinds.get(key)
        if kind is None:
            self._wait_for_birth(key, payload)
            acks.append(message)
            return False
        self.batch_msgs.append(message)
        self.batch.append(make_sample(kind, key[0], key[1], payload[0], payload[1], payload[3], payload[2]))
        if len(self._recordable) >= 200_000:
            self._recordable.clear()
        self._recordable[topic] = (kind, key[0], key[1])
        return False

    def _route(self, topic: str) -> tuple[str, str] | bool | None:
        """(site, device) of a telemetry topic, None for a birth topic, False for anything else; cached."""
        try:
            t = parse(topic)
        except TopicError:
            return False
        if t.suffix is Suffix.BIRTH:
            key: tuple[str, str] | None = None
        elif t.suffix is Suffix.TELEMETRY:
            key = (t.site, t.device_id)
        else:
            return False
        if len(self._topics) >= 200_000:
            self._topics.clear()
        self._topics[topic] = key
        return key

    def _malformed(self, message: Message, exc: Exception) -> None:
        self.stats.malformed += 1
        parts = message.topic.split("/")
        device = parts[3] if len(parts) > 3 else "?"
        log.warning("telemetry_malformed device=%s topic=%s reason=%s", device, message.topic, exc)

    def _wait_for_birth(self, key: tuple[str, str], payload: Telemetry) -> None:
        waiting = self.pending.get(key)
        if waiting is None:
            if len(self.pending) >= self.max_waiting_devices:
                oldest = next(iter(self.pending))
                dropped = self.pending.pop(oldest)
                self._birth_asks.stop(oldest)
                self.stats.pending_dropped += len(dropped)
                log.warning("telemetry_kind_unknown_dropped device=%s site=%s waiting_devices=%d dropped=%d",
                            oldest[1], oldest[0], len(self.pending), len(dropped))
            waiting = self.pending[key] = deque()
            self._birth_asks.start(key, self.clock.monotonic())
        if len(waiting) >= self.pending_per_device:
            waiting.popleft()
            self.stats.pending_dropped += 1
            log.warning("telemetry_kind_unknown_dropped device=%s site=%s waiting=%d", key[1], key[0], len(waiting))
        waiting.append(payload)

    def _add(self, key: tuple[str, str], kind: DeviceKind, p: Telemetry, message: Message | None = None) -> None:
        if not self.batch:
            self.batch_started = self.clock.monotonic()
        if message is not None:
            self.batch_msgs.append(message)
        self.batch.append(make_sample(kind, key[0], key[1], p[0], p[1], p[3], p[2]))

    async def take(self, messages: Sequence[Message]) -> None:
        """`on_messages` in slices that never grow the open batch past `batch_size`, flushing when due."""
        n = len(messages)
        i = 0
        while True:
            room = max(1, self.batch_size - len(self.batch))
            self.on_messages(messages if i == 0 and room >= n else messages[i:i + room])
            i += room
            await self.maybe_flush()
            if i >= n:
                return

    async def maybe_flush(self, *, force: bool = False) -> None:
        if not self.batch:
            return
        async with self._flushing:  # the intake loop and the ticker: one flush at a time, batches in order
            now = self.clock.monotonic()
            due = self.batch and (len(self.batch) >= self.batch_size or force
                                  or now - self.batch_started >= self.flush_interval_s
                                  or now - self.last_intake >= self.idle_flush_s)
            if not due:
                return
            item = _Batch(self.batch, self.batch_msgs)
            self.batch, self.batch_msgs = [], []
            if self._preparing is not None and not self.spool.batches:
                # Encoded now, while the writer waits for the store to take the previous batch: the writer then
                # sends batches back to back, as fast as the store answers.
                item.prepared = self._preparing.prepare(item.samples)
            if not self.spool.batches and self.writes.full():
                # The store is behind: wait a little for it (the intake stops reading meanwhile, the broker holds
                # the rest) rather than turn a busy store into disk I/O; a store that stays behind is slow: spool.
                self.waiting = item
                try:
                    async with asyncio.timeout(self.queue_wait_s):
                        await self.writes.put(item)
                    return
                except TimeoutError:
                    pass
                finally:
                    self.waiting = None
            if self.writes.full() or self.spool.batches:
                # The store is slow or the spool is draining: keep order and memory bounded by going to disk.
                await self._to_spool(item)
            else:
                self.writes.put_nowait(item)

    async def _to_spool(self, item: _Batch) -> None:
        await self.spool.append(item.samples)
        self.stats.batches_spooled += 1
        self.acknowledge(item.messages)

    # --- output -------------------------------------------------------------------------------------------------
    async def _write(self, batch: Sequence[Sample], prepared: bytes | None = None) -> bool:
        """Write one batch: True when stored (or rejected for good and kept aside), False to retry later."""
        try:
            if prepared is not None and self._preparing is not None:
                await self._preparing.write_prepared(batch, prepared)
            else:
                await self.store.write(batch)
        except StoreError as exc:
            self.stats.write_failures += 1
            if exc.retryable:
                log.warning("store_write_failed samples=%d error=%s", len(batch), exc)
                return False
            await asyncio.to_thread(self._reject, batch, str(exc))
            return True
        self.stats.batches_written += 1
        self.stats.samples_written += len(batch)
        return True

    def _reject(self, batch: Sequence[Sample], reason: str) -> None:
        self.stats.batches_rejected += 1
        folder = self.spool.directory / "rejected"
        folder.mkdir(exist_ok=True)
        n = len(list(folder.glob("*.jsonl")))
        (folder / f"{n:08d}.jsonl").write_text("\n".join(sample_to_json(s) for s in batch) + "\n", "utf-8")
        log.error("store_rejected_batch samples=%d kept=%s reason=%s", len(batch), folder, reason)

    async def writer(self) -> None:
        """Write queued live batches, up to `write_concurrency` at once (a store such as InfluxDB takes concurrent
        writes on all its cores), and settle them in the order they were queued: each is acknowledged once written,
        or goes to the spool (the replayer takes over) when its write fails or the spool already holds batches. So
        acks leave in order, as MQTT asks of QoS 1. Only a batch written beside one that failed can reach the store
        before it (the failed one is replayed); a point's identity is its time, so the stored content is the same."""
        started: asyncio.Queue[asyncio.Task[bool] | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self.write_concurrency)
        tasks: set[asyncio.Task[bool]] = set()

        async def start() -> None:
            while True:
                await slots.acquire()
                item = await self.writes.get()
                # in_flight first: a shutdown from here on keeps the batch (close() writes or spools it)
                self.in_flight.append(item)
                task = None
                if not self.spool.batches:
                    task = asyncio.create_task(self._write(item.samples, item.prepared))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                started.put_nowait(task)

        async def settle() -> None:
            while True:
                task = await started.get()
                ok = task is not None and await task
                item = self.in_flight[0]
                if ok:
                    self.acknowledge(item.messages)
                else:
                    await self._to_spool(item)
                del self.in_flight[0]
                slots.release()

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(start())
                group.create_task(settle())
        finally:
            for task in tasks:  # writes cut short by a shutdown: their batches are in in_flight for close()
                task.cancel()

    async def replayer(self, retry_s: float = 1.0, retry_max_s: float = 30.0) -> None:
        """Drain the spool oldest first while the store takes it; back off while it does not."""
        delay = retry_s
        while True:
            await self.spool.changed.wait()
            item = await self.spool.peek()
            if item is None:
                continue
            n, samples = item
            if await self._write(samples):
                await self.spool.remove(n)
                self.stats.batches_replayed += 1
                delay = retry_s
                if not self.spool.batches:
                    log.info("spool_drained replayed=%d", self.stats.batches_replayed)
            else:
                await self.clock.sleep(delay)
                delay = min(delay * 2, retry_max_s)

    async def ticker(self) -> None:
        while True:
            await self.clock.sleep(min(self.flush_interval_s, self.idle_flush_s, 0.25))
            await self.maybe_flush()

    async def close(self, timeout_s: float = 5.0) -> None:
        """Clean shutdown: write the open batch and queued ones (within `timeout_s`), spool whatever is left."""
        leftovers: list[_Batch] = []
        leftovers.extend(self.in_flight)
        self.in_flight.clear()
        while not self.writes.empty():
            leftovers.append(self.writes.get_nowait())
        if self.waiting:
            leftovers.append(self.waiting)
            self.waiting = None
        if self.batch:
            leftovers.append(_Batch(self.batch, self.batch_msgs))
            self.batch, self.batch_msgs = [], []
        for item in leftovers:
            try:
                async with asyncio.timeout(timeout_s):
                    ok = not self.spool.batches and await self._write(item.samples, item.prepared)
            except TimeoutError:
                ok = False
            if ok:
                self.acknowledge(item.messages)
            else:
                await self._to_spool(item)
        log.info("recorder_closed written=%d spooled_batches=%d", self.stats.samples_written, self.spool.batches)
