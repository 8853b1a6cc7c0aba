"""Prometheus metrics of the gateway and the recorder: own registry, served over HTTP by asyncio (no thread).

Collectors read the live counters at scrape time, so the hot paths only bump plain integers. `serve_metrics` runs
until cancelled; it answers any GET with the text exposition format, with a 5 s timeout per request.

What is read is described by small protocols (what a gateway device, a Modbus link, the MQTT device watch and the
recorder show), so this module imports none of them: the gateway and the recorder import it, not the reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

class PollCounters(Protocol):
    @property
    def polls(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def missed(self) -> int: ...
    @property
    def last_lateness_s(self) -> float: ...
    @property
    def lateness_max_s(self) -> float: ...


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


class _Polled(Protocol):
    @property
    def stats(self) -> PollCounters: ...
    @property
    def online(self) -> bool: ...


class _Publishing(Protocol):
    @property
    def published(self) -> int: ...


class _Refusing(Protocol):
    @property
    def refused(self) -> Mapping[str, int]: ...


class GatewayMember(Protocol):
    """A device a gateway polls (`gateways.gateway.GatewayDevice`)."""

    @property
    def entry(self) -> _Identified: ...
    @property
    def coordinator(self) -> _Polled: ...
    @property
    def publisher(self) -> _Publishing: ...
    @property
    def ledger(self) -> _Refusing: ...


class LinkCounters(Protocol):
    """A Modbus link (`gateways.modbus.link.ModbusLink`)."""

    @property
    def name(self) -> str: ...
    @property
    def requests(self) -> int: ...


class WatchCounters(Protocol):
    @property
    def messages(self) -> int: ...
    @property
    def malformed(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    @property
    def rebirths(self) -> int: ...


class DeviceWatch(Protocol):
    """The gateway's watch over MQTT devices (`gateways.mqtt_device_watch.MqttDeviceWatch`)."""

    @property
    def devices(self) -> Mapping[tuple[str, str], WatchCounters]: ...


class RecorderCounters(Protocol):
    @property
    def received(self) -> int: ...
    @property
    def malformed(self) -> int: ...
    @property
    def samples_written(self) -> int: ...
    @property
    def batches_spooled(self) -> int: ...
    @property
    def batches_replayed(self) -> int: ...
    @property
    def write_failures(self) -> int: ...


class _SpoolGauges(Protocol):
    @property
    def size_bytes(self) -> int: ...
    @property
    def dropped_samples(self) -> int: ...


class _Queue(Protocol):
    def qsize(self) -> int: ...


class RecorderView(Protocol):
    """What the metrics read of a recorder (`gateways.recorder.Recorder`)."""

    @property
    def stats(self) -> RecorderCounters: ...
    @property
    def spool(self) -> _SpoolGauges: ...
    @property
    def batch(self) -> Sized: ...
    @property
    def writes(self) -> _Queue: ...
    @property
    def pending(self) -> Mapping[tuple[str, str], Sized]: ...


#: (name, help, kind, function returning [(labels, value)]) — kind is "counter" or "gauge".
Reading = tuple[str, str, str, Callable[[], Iterable[tuple[dict[str, str], float]]]]


class FunctionCollector(Collector):
    """Metrics computed at scrape time from plain counters."""

    def __init__(self, readings: list[Reading]) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        for name, doc, kind, read in self.readings:
            rows = list(read())
            labels = sorted({k for lab, _ in rows for k in lab})
            family: CounterMetricFamily | GaugeMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(name, doc, labels=labels)
            else:
                family = GaugeMetricFamily(name, doc, labels=labels)
            for lab, value in rows:
                family.add_metric([lab.get(k, "") for k in labels], value)
            yield family


def registry_of(readings: list[Reading]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FunctionCollector(readings))
    return registry


async def serve_metrics(port: int, registry: CollectorRegistry, host: str = "0.0.0.0") -> None:
    """Serve `registry` on http://host:port/metrics until cancelled. Raises OSError when the port is taken."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                await reader.readuntil(b"\r\n\r\n")
                body = generate_latest(registry)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                             + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port)
    log.info("metrics_listening port=%d", port)
    async with server:
        await server.serve_forever()


def gateway_readings(members: Iterable[GatewayMember], links: Iterable[LinkCounters]) -> list[Reading]:
    """Readings of a gateway: per-device polls, failures, lateness, online; per-link requests."""
    ms = list(members)
    ls = list(links)

    def per_device(attr: str) -> Callable[[], list[tuple[dict[str, str], float]]]:
        return lambda: [({"device": m.entry.id}, float(getattr(m.coordinator.stats, attr))) for m in ms]

    return [
        ("signalight_gateway_polls_total", "Polls attempted", "counter", per_device("polls")),
        ("signalight_gateway_poll_failures_total", "Polls that failed", "counter", per_device("failures")),
        ("signalight_gateway_polls_missed_total", "Polls skipped because the loop fell behind", "counter",
         per_device("missed")),
        ("signalight_gateway_poll_lateness_seconds", "Lateness of the last poll", "gauge",
         per_device("last_lateness_s")),
        ("signalight_gateway_poll_lateness_max_seconds", "Largest poll lateness", "gauge",
         per_device("lateness_max_s")),
        ("signalight_gateway_device_online", "1 when the device answers", "gauge",
         lambda: [({"device": m.entry.id}, 1.0 if m.coordinator.online else 0.0) for m in ms]),
        ("signalight_gateway_published_total", "Messages published", "counter",
         lambda: [({"device": m.entry.id}, float(m.publisher.published)) for m in ms]),
        ("signalight_gateway_modbus_requests_total", "Modbus requests per link", "counter",
         lambda: [({"link": lk.name}, float(lk.requests)) for lk in ls]),
        ("signalight_gateway_commands_refused_total", "Commands refused (unsigned, forged, expired, replayed, "
         "malformed ...)", "counter",
         lambda: [({"device": m.entry.id, "reason": r}, float(n)) for m in ms for r, n in m.ledger.refused.items()]),
    ]


def device_watch_readings(link: DeviceWatch) -> list[Reading]:
    def per_device(attr: str) -> Callable[[], list[tuple[dict[str, str], float]]]:
        return lambda: [({"device": d}, float(getattr(st, attr))) for (_, d), st in link.devices.items()]

    return [
        ("signalight_gateway_mqtt_messages_total", "Messages seen from MQTT devices", "counter",
         per_device("messages")),
        ("signalight_gateway_mqtt_malformed_total", "Malformed payloads dropped", "counter", per_device("malformed")),
        ("signalight_gateway_mqtt_seq_gaps_total", "Gaps in device seq", "counter", per_device("gaps")),
        ("signalight_gateway_mqtt_rebirths_total", "Rebirths asked", "counter", per_device("rebirths")),
    ]


async def serve_gateway_metrics(port: int, members: Iterable[GatewayMember], links: Iterable[LinkCounters],
                                device_watch: DeviceWatch | None = None) -> None:
    readings = gateway_readings(members, links)
    if device_watch is not None:
        readings += device_watch_readings(device_watch)
    await serve_metrics(port, registry_of(readings))


def recorder_readings(r: RecorderView) -> list[Reading]:
    def stat(attr: str) -> Callable[[], list[tuple[dict[str, str], float]]]:
        return lambda: [({}, float(getattr(r.stats, attr)))]

    return [
        ("signalight_recorder_received_total", "Telemetry messages received", "counter", stat("received")),
        ("signalight_recorder_malformed_total", "Telemetry messages dropped as malformed", "counter",
         stat("malformed")),
        ("signalight_recorder_points_written_total", "Samples written to the store", "counter",
         stat("samples_written")),
        ("signalight_recorder_batches_spooled_total", "Batches sent to the disk spool", "counter",
         stat("batches_spooled")),
        ("signalight_recorder_batches_replayed_total", "Spooled batches written", "counter",
         stat("batches_replayed")),
        ("signalight_recorder_write_failures_total", "Failed store writes", "counter", stat("write_failures")),
        ("signalight_recorder_spool_bytes", "Bytes in the disk spool", "gauge",
         lambda: [({}, float(r.spool.size_bytes))]),
        ("signalight_recorder_spool_dropped_samples_total", "Samples dropped because the spool was full", "counter",
         lambda: [({}, float(r.spool.dropped_samples))]),
        ("signalight_recorder_queue_depth", "Samples in the open batch and batches waiting to be written", "gauge",
         lambda: [({"queue": "batch"}, float(len(r.batch))), ({"queue": "writes"}, float(r.writes.qsize()))]),
        ("signalight_recorder_pending_unknown_kind", "Samples waiting for their device's birth", "gauge",
         lambda: [({}, float(sum(len(v) for v in r.pending.values())))]),
        ("signalight_recorder_pending_dropped_total", "Samples dropped while waiting for their device's birth",
         "counter", stat("pending_dropped")),
        ("signalight_recorder_birth_requests_total", "Retained births asked for again (samples waited without one)",
         "counter", stat("birth_requests")),
    ]


def event_recorder_readings(r: RecorderView) -> list[Reading]:
    """The event recorder's counters (gateways.event_recorder): events received, stored, spooled and replayed,
    dropped when the spool overflowed, malformed, failed writes. There is no duplicate counter: a redelivered or
    replayed event rewrites its own point (device, ms timestamp, seq), so duplicates never reach the store, and
    whether a write replaced a point is not known to the recorder (InfluxDB does not say)."""
    def stat(attr: str) -> Callable[[], list[tuple[dict[str, str], float]]]:
        return lambda: [({}, float(getattr(r.stats, attr)))]

    return [
        ("signalight_recorder_events_received_total", "Controller events received", "counter", stat("received")),
        ("signalight_recorder_events_malformed_total", "Controller events dropped as malformed", "counter",
         stat("malformed")),
        ("signalight_recorder_events_stored_total", "Controller events written to the store", "counter",
         stat("samples_written")),
        ("signalight_recorder_events_batches_spooled_total", "Event batches sent to the disk spool", "counter",
         stat("batches_spooled")),
        ("signalight_recorder_events_batches_replayed_total", "Spooled event batches written (replays)", "counter",
         stat("batches_replayed")),
        ("signalight_recorder_events_write_failures_total", "Failed event store writes", "counter",
         stat("write_failures")),
        ("signalight_recorder_events_overflow_total", "Events dropped because the event spool was full", "counter",
         lambda: [({}, float(r.spool.dropped_samples))]),
        ("signalight_recorder_events_queue_depth", "Events in the open batch and event batches waiting", "gauge",
         lambda: [({"queue": "batch"}, float(len(r.batch))), ({"queue": "writes"}, float(r.writes.qsize()))]),
    ]


async def serve_recorder_metrics(port: int, recorder: RecorderView, events: RecorderView | None = None) -> None:
    """The recorder's metrics, and its event recorder's when it keeps events."""
    readings = recorder_readings(recorder) + (event_recorder_readings(events) if events is not None else [])
    await serve_metrics(port, registry_of(readings))
