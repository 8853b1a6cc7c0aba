"""The recorder service: one MQTT intake feeding the telemetry `Recorder` and the hi-res `EventRecorder`.

`run_recorder` wires the parts the recorder's guarantees come from (`gateways.recorder` module doc): the intake
(`gateways.mqtt.MqttIntake`, manual acks after write), the telemetry recorder, the event recorder
(`gateways.event_recorder`, when the store keeps events), the asker of missed births (`ask_for_births`) and the
metrics endpoint, all in one task group.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from controllers.clock import Clock
from controllers.events import EventStore
from controllers.telemetry import TelemetryWriter
from controllers.topics import Suffix, subscription, topic
from gateways.event_recorder import EventRecorder, EventSink
from gateways.metrics import serve_recorder_metrics
from gateways.mqtt import BrokerRefusedError, BusConfig, MqttIntake
from gateways.partition import Partition
from gateways.recorder import PreparingWriter, Recorder
from gateways.spool import Spool

log = logging.getLogger(__name__)
_EVENT_TOPIC_END = "/" + Suffix.EVENT.value
_TOPICS_PER_PACKET = 200  # births asked for (or dropped) in one SUBSCRIBE (UNSUBSCRIBE): ~8 kB, well under limits


async def run_recorder(*, bus: BusConfig, store: TelemetryWriter, spool_dir: Path, clock: Clock,
                       shared_group: str | None = None, batch_size: int = 5000, flush_interval_s: float = 1.0,
                       metrics_port: int | None = None, spool_max_bytes: int = 1 << 30,
                       ack_after_write: bool = True, partition: Partition | None = None,
                       record_events: bool = True, write_concurrency: int | None = None) -> None:
    """Record telemetry from the bus into `store` until cancelled (see the module doc for the guarantees).

    `bus` configures the recorder's own connection (`MqttIntake`). For telemetry to survive a recorder restart,
    configure it with clean_session=False and a fixed client_id. `shared_group`: subscribe
    `$share/{shared_group}/sl/v1/+/+/telemetry` (shared subscription; Mosquitto, not amqtt). The store is not closed
    here: its owner closes it. Raises `BrokerRefusedError` when the broker refuses the connection or the subscription.
    `partition`: store only the telemetry of that partition's devices (`gateways.partition`; any broker).
    `record_events`: also keep every controller hi-res event (`event`) when the store is an `EventStore`
    (gateways.event_recorder). `write_concurrency`: telemetry batches written at once; by default 2 for a store
    that prepares its batches (InfluxDB over HTTP, which takes concurrent writes on all its cores: +14 % in
    `benchmarks.ingest`), 1 for the others.
    """
    if partition is not None and shared_group:
        raise ValueError("a recorder takes a shared_group or a partition, not both")
    if ack_after_write:
        bus = bus.model_copy(update={"manual_ack": True})
    telemetry_filter = subscription(Suffix.TELEMETRY)
    if shared_group:
        telemetry_filter = f"$share/{shared_group}/{telemetry_filter}"
    filters = [subscription(Suffix.BIRTH), telemetry_filter]
    events: Recorder | None = None
    event_store: EventStore | None = store if record_events and isinstance(store, EventStore) else None
    if event_store is not None:
        # Every controller hi-res event on the same intake, into the same store (gateways.event_recorder).
        event_filter = subscription(Suffix.EVENT)
        filters.append(f"$share/{shared_group}/{event_filter}" if shared_group else event_filter)
    intake = MqttIntake(bus, filters)
    if write_concurrency is None:
        write_concurrency = 2 if isinstance(store, PreparingWriter) else 1
    recorder = Recorder(store, Spool(spool_dir, max_bytes=spool_max_bytes), clock, batch_size=batch_size,
                        flush_interval_s=flush_interval_s, ack=intake.ack if ack_after_write else None,
                        partition=partition, write_concurrency=write_concurrency)
    if event_store is not None:
        events = EventRecorder(EventSink(event_store), Spool(spool_dir / "events", max_bytes=spool_max_bytes), clock,
                               batch_size=batch_size, flush_interval_s=flush_interval_s,
                               ack=intake.ack if ack_after_write else None, partition=partition)
    async with intake:
        log.info("recorder_start filter=%s partition=%s batch_size=%d flush_interval_s=%s spool=%s", telemetry_filter,
                 partition or "all", batch_size, flush_interval_s, spool_dir)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(recorder.writer())
                tg.create_task(recorder.replayer())
                tg.create_task(recorder.ticker())
                tg.create_task(ask_for_births(recorder, intake, clock))
                if metrics_port is not None:
                    tg.create_task(serve_recorder_metrics(metrics_port, recorder, events))
                if events is not None:
                    tg.create_task(events.writer())
                    tg.create_task(events.replayer())
                    tg.create_task(events.ticker())
                async for messages in intake:
                    if events is not None:
                        taken = [m for m in messages if m.topic.endswith(_EVENT_TOPIC_END)]
                        if taken:
                            await events.take(taken)
                            messages = [m for m in messages if not m.topic.endswith(_EVENT_TOPIC_END)]
                    await recorder.take(messages)
        except BaseExceptionGroup as group:
            # The broker refusing us is a plain error for the caller, not an exception group.
            refused = [e for e in group.exceptions if isinstance(e, BrokerRefusedError)]
            if refused:
                raise refused[0] from None
            raise
        finally:
            # Inside the intake's context: the acks of what close() writes or spools still reach the broker.
            await asyncio.shield(recorder.close())
            if events is not None:
                await asyncio.shield(events.close())


async def ask_for_births(recorder: Recorder, intake: MqttIntake, clock: Clock, interval_s: float = 0.5) -> None:
    """Until cancelled: ask the broker again for the retained birth of each device whose samples wait for it
    (`Recorder.births_due`) by subscribing its birth topic anew, and drop those subscriptions once the birth is in.
    A lost connection only postpones it (the recorder keeps asking with its backoff)."""
    while True:
        await clock.sleep(interval_s)
        due = [topic(site, device, Suffix.BIRTH) for site, device in recorder.births_due(clock.monotonic())]
        done: list[str] = []
        if intake.extra_topics:  # the births asked for that came (or whose device no longer waits)
            waiting = {topic(site, device, Suffix.BIRTH) for site, device in recorder.pending}
            done = sorted(intake.extra_topics - waiting)
        try:
            for i in range(0, len(done), _TOPICS_PER_PACKET):
                await intake.drop_topics(done[i:i + _TOPICS_PER_PACKET])
            if due:
                log.warning("recorder_birth_asked devices=%d first=%s (samples waited for a birth the broker did not"
                            " deliver; asking for the retained birth again)", len(due), due[0])
            for i in range(0, len(due), _TOPICS_PER_PACKET):
                await intake.resend_retained(due[i:i + _TOPICS_PER_PACKET])
        except ConnectionError as exc:
            log.info("recorder_birth_ask_postponed reason=%s", exc)
