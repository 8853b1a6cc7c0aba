"""The recorder: telemetry from the bus into the telemetry store, batched, with a disk spool so nothing is lost.

Flow: `sl/v1/+/+/telemetry` (QoS 1; `$share/{group}/...` when several recorders split the load) → validate →
batch (by `batch_size` samples or `flush_interval_s`, whichever first) → write. A batch the store cannot take now
(down, slow: `StoreError` retryable, or the write queue full) goes to the disk spool; while the spool holds anything,
new batches queue behind it, so replay keeps the order; replayed samples are written with `historical` = true, and
since a point's identity is (measurement, site, device, time) a batch written twice is stored once. A batch the store
refuses for good (retryable=False) is kept in `spool_dir/rejected/` and logged.

Unknown kind rule: the measurement comes from the device kind, learned from its retained `birth`. A sample from a
device whose birth has not been seen yet waits (up to `pending_per_device` samples a device, oldest dropped and
counted beyond that) and is recorded as soon as the birth arrives.

Malformed telemetry (bad topic, JSON or schema) is counted, logged with the device and the reason, and dropped.

What a crash loses: nothing that reached the broker, given a persistent session (clean_session=False, fixed client
id). The recorder acknowledges each QoS 1 telemetry message only once its sample is written to the store or spooled
to disk (fsynced); a SIGKILL leaves the rest unacknowledged and the broker redelivers it to the next run, which
rewrites it onto the same point (no duplicates). Two exceptions, both acknowledged on receipt: malformed messages
(dropped on purpose) and samples waiting for their device's birth (held in memory: holding them unacknowledged could
fill the broker's in-flight window and block the very birth they wait for). The broker's in-flight window bounds the
unacknowledged messages in memory: Mosquitto's `max_inflight_messages` (MQTT 3.1.1; its default of 20 would throttle
the recorder, use >= 1000) or our `receive_maximum` (MQTT 5). To fill batches despite that window, the open batch is
also flushed when the intake pauses for `idle_flush_s`. A clean shutdown writes or spools the open batch first.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from controllers.bus import BusMessage
from controllers.clock import Clock, from_rfc3339
from controllers.devices import DeviceKind
from controllers.telemetry import Sample, StoreError, TelemetryWriter
from controllers.topics import Suffix, TopicError, parse, subscription
from gateways.bus import Bus, BusConfig
from gateways.spool import Spool, sample_to_json

log = logging.getLogger(__name__)

FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Timestamp = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")]


class TelemetryPayload(BaseModel):
    """contracts/mqtt/schemas/telemetry.schema.json as a model (fast enough for the hot path)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    ts: Timestamp
    seq: int = Field(ge=0, le=255)
    historical: bool = False
    values: dict[FieldName, float | int | bool] = Field(min_length=1)


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


def parse_telemetry(message: BusMessage, kinds: dict[tuple[str, str], DeviceKind]) -> tuple[
        tuple[str, str], TelemetryPayload]:
    """(site, device) and the validated payload. Raises ValueError naming the problem."""
    t = parse(message.topic)
    if t.suffix is not Suffix.TELEMETRY:
        raise ValueError(f"not a telemetry topic: {message.topic}")
    try:
        payload = TelemetryPayload.model_validate_json(message.payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}") from None
    return (t.site, t.device_id), payload


class Recorder:
    def __init__(self, store: TelemetryWriter, spool: Spool, clock: Clock, *, batch_size: int = 5000,
                 flush_interval_s: float = 1.0, pending_per_device: int = 1000, write_queue: int = 4,
                 ack: Callable[[BusMessage], None] | None = None, idle_flush_s: float = 0.05) -> None:
        self.store = store
        self.spool = spool
        self.clock = clock
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.pending_per_device = pending_per_device
        self.kinds: dict[tuple[str, str], DeviceKind] = {}
        self.pending: dict[tuple[str, str], deque[TelemetryPayload]] = {}
        self.batch: list[Sample] = []
        self.batch_msgs: list[BusMessage] = []
        self.batch_started = 0.0
        self.last_intake = 0.0
        self.idle_flush_s = idle_flush_s
        self._ack = ack
        self.stats = RecorderStats()
        self.writes: asyncio.Queue[tuple[list[Sample], list[BusMessage]]] = asyncio.Queue(maxsize=write_queue)
        self.in_flight: tuple[list[Sample], list[BusMessage]] | None = None

    # --- intake -------------------------------------------------------------------------------------------------
    def on_birth(self, message: BusMessage) -> None:
        try:
            t = parse(message.topic)
            kind = DeviceKind(json.loads(message.payload)["kind"])
        except (TopicError, ValueError, KeyError, TypeError) as exc:
            log.warning("recorder_bad_birth topic=%s reason=%s", message.topic, exc)
            return
        key = (t.site, t.device_id)
        self.kinds[key] = kind
        for payload in self.pending.pop(key, ()):
            self._add(key, kind, payload)

    def acknowledge(self, messages: Sequence[BusMessage]) -> None:
        if self._ack is not None:
            for m in messages:
                self._ack(m)

    def on_telemetry(self, message: BusMessage) -> None:
        self.stats.received += 1
        self.last_intake = self.clock.monotonic()
        try:
            key, payload = parse_telemetry(message, self.kinds)
        except (TopicError, ValueError) as exc:
            self.stats.malformed += 1
            parts = message.topic.split("/")
            device = parts[3] if len(parts) > 3 else "?"
            log.warning("telemetry_malformed device=%s topic=%s reason=%s", device, message.topic, exc)
            self.acknowledge([message])
            return
        kind = self.kinds.get(key)
        if kind is None:
            waiting = self.pending.setdefault(key, deque())
            if len(waiting) >= self.pending_per_device:
                waiting.popleft()
                self.stats.pending_dropped += 1
                log.warning("telemetry_kind_unknown_dropped device=%s site=%s waiting=%d", key[1], key[0],
                            len(waiting))
            waiting.append(payload)
            self.acknowledge([message])
            return
        self._add(key, kind, payload, message)

    def _add(self, key: tuple[str, str], kind: DeviceKind, p: TelemetryPayload,
             message: BusMessage | None = None) -> None:
        if not self.batch:
            self.batch_started = self.clock.monotonic()
        if message is not None:
            self.batch_msgs.append(message)
        self.batch.append(Sample(kind=kind, site=key[0], device=key[1], ts=from_rfc3339(p.ts), seq=p.seq,
                                 values=dict(p.values), historical=p.historical))

    async def maybe_flush(self, *, force: bool = False) -> None:
        now = self.clock.monotonic()
        due = self.batch and (len(self.batch) >= self.batch_size or force
                              or now - self.batch_started >= self.flush_interval_s
                              or now - self.last_intake >= self.idle_flush_s)
        if not due:
            return
        item = (self.batch, self.batch_msgs)
        self.batch, self.batch_msgs = [], []
        if self.writes.full() or self.spool.batches:
            # The store is slow or the spool is draining: keep order and memory bounded by going to disk.
            await self._to_spool(item)
        else:
            self.writes.put_nowait(item)

    async def _to_spool(self, item: tuple[list[Sample], list[BusMessage]]) -> None:
        await self.spool.append(item[0])
        self.stats.batches_spooled += 1
        self.acknowledge(item[1])

    # --- output -------------------------------------------------------------------------------------------------
    async def _write(self, batch: Sequence[Sample]) -> bool:
        """Write one batch: True when stored (or rejected for good and kept aside), False to retry later."""
        try:
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
        """Write queued live batches; a batch that fails goes to the spool (the replayer takes over)."""
        while True:
            item = await self.writes.get()
            self.in_flight = item  # so that a shutdown in the middle of this write keeps the batch
            if self.spool.batches or not await self._write(item[0]):
                await self._to_spool(item)
            else:
                self.acknowledge(item[1])
            self.in_flight = None

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
        leftovers: list[tuple[list[Sample], list[BusMessage]]] = []
        if self.in_flight:
            leftovers.append(self.in_flight)
            self.in_flight = None
        while not self.writes.empty():
            leftovers.append(self.writes.get_nowait())
        if self.batch:
            leftovers.append((self.batch, self.batch_msgs))
            self.batch, self.batch_msgs = [], []
        for item in leftovers:
            try:
                async with asyncio.timeout(timeout_s):
                    ok = not self.spool.batches and await self._write(item[0])
            except TimeoutError:
                ok = False
            if ok:
                self.acknowledge(item[1])
            else:
                await self._to_spool(item)
        log.info("recorder_closed written=%d spooled_batches=%d", self.stats.samples_written, self.spool.batches)


async def run_recorder(*, bus: BusConfig, store: TelemetryWriter, spool_dir: Path, clock: Clock,
                       shared_group: str | None = None, batch_size: int = 5000, flush_interval_s: float = 1.0,
                       metrics_port: int | None = None, spool_max_bytes: int = 1 << 30,
                       ack_after_write: bool = True) -> None:
    """Record telemetry from the bus into `store` until cancelled (see the module doc for the guarantees).

    For telemetry to survive a recorder restart, configure `bus` with clean_session=False and a fixed client_id.
    `shared_group`: subscribe `$share/{shared_group}/sl/v1/+/+/telemetry` (MQTT 5 shared subscription; Mosquitto,
    not amqtt). The store is not closed here: its owner closes it.
    """
    if ack_after_write:
        bus = bus.model_copy(update={"manual_ack": True})
    bus_client = Bus(bus)
    recorder = Recorder(store, Spool(spool_dir, max_bytes=spool_max_bytes), clock, batch_size=batch_size,
                        flush_interval_s=flush_interval_s, ack=bus_client.ack if ack_after_write else None)
    telemetry_filter = subscription(Suffix.TELEMETRY)
    if shared_group:
        telemetry_filter = f"$share/{shared_group}/{telemetry_filter}"
    async with bus_client as b, b.subscribe(subscription(Suffix.BIRTH), telemetry_filter, queue_size=100_000) as sub:
        log.info("recorder_start filter=%s batch_size=%d flush_interval_s=%s spool=%s", telemetry_filter,
                 batch_size, flush_interval_s, spool_dir)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(recorder.writer())
                tg.create_task(recorder.replayer())
                tg.create_task(recorder.ticker())
                if metrics_port is not None:
                    from gateways.metrics import serve_recorder_metrics
                    tg.create_task(serve_recorder_metrics(metrics_port, recorder))
                async for message in sub:
                    if message.topic.endswith("/birth"):
                        recorder.on_birth(message)
                        b.ack(message)
                    else:
                        recorder.on_telemetry(message)
                    await recorder.maybe_flush()
        finally:
            await asyncio.shield(recorder.close())
