"""Prometheus metrics of one API process: HTTP requests (middleware) and the live picture (a collector that reads
the API state at scrape time, so nothing is counted twice). Each app has its own registry, so several apps in one
process (tests) do not clash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.state import ApiState


class StateCollector(Collector):
    def __init__(self, get_state: Callable[[], ApiState | None]) -> None:
        self._get_state = get_state

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        state = self._get_state()
        if state is None:
            return
        devices = GaugeMetricFamily("signalight_api_devices", "devices known live, by status", labels=["status"])
        counts: dict[str, int] = {"online": 0, "offline": 0, "unknown": 0}
        for dev in state.cache.all():
            counts[dev.status] = counts.get(dev.status, 0) + 1
        for status, n in counts.items():
            devices.add_metric([status], n)
        yield devices
        bus = CounterMetricFamily("signalight_api_bus_messages", "bus messages handled", labels=["outcome"])
        bus.add_metric(["accepted"], state.listener.received - state.listener.refused - state.listener.unknown)
        bus.add_metric(["refused"], state.listener.refused)
        bus.add_metric(["unknown_device"], state.listener.unknown)
        yield bus
        yield CounterMetricFamily("signalight_api_status_asks", "devices whose retained status was asked for again "
                                  "(a live state came while their own status was not online)",
                                  value=state.listener.status_asks.asked)
        cmds = CounterMetricFamily("signalight_api_commands", "command lifecycle events", labels=["event"])
        cmds.add_metric(["sent"], state.dispatcher.sent)
        cmds.add_metric(["result"], state.dispatcher.results)
        cmds.add_metric(["expired"], state.dispatcher.expired)
        cmds.add_metric(["result_refused"], state.dispatcher.refused_results)
        yield cmds
        yield GaugeMetricFamily("signalight_api_stream_clients", "connected SSE clients",
                                value=state.hub.subscriber_count)
        yield CounterMetricFamily("signalight_api_stream_overflows", "SSE clients dropped for falling behind",
                                  value=state.hub.overflows)
        alarms = sum(len(state.alarms.active_kinds(d.id)) for d in state.cache.all())
        yield GaugeMetricFamily("signalight_api_active_alarms", "active alarms on live devices", value=alarms)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("signalight_api_requests", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("signalight_api_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


class MetricsMiddleware:
    """Counts requests by route template (never the raw path, which would explode the label set)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            method = Request(scope).method
            # The router records the matched route in the (shared) scope; its template keeps labels bounded.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
