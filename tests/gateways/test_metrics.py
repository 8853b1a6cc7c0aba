"""Prometheus metrics of the gateway and the recorder, scraped over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import httpx
import pytest

from controllers.clock import SystemClock
from gateways.gateway import run_gateway
from gateways.mqtt import BusConfig
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore
from tests.gateways.gateway_rig import entry
from tests.gateways.modbus_device import ModbusTestDevice
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text


@contextlib.asynccontextmanager
async def running(coro: object) -> AsyncIterator[None]:
    task = asyncio.create_task(coro)  # type: ignore[arg-type]
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_gateway_and_recorder_metrics(mosquitto: Mosquitto, signal_device: ModbusTestDevice,
                                            tmp_path: Path) -> None:
    gw_port, rec_port = free_port(), free_port()
    cfg = BusConfig(host=mosquitto.host, port=mosquitto.port, client_id="gw-m")
    store = EmbeddedStore(tmp_path / "t.db")
    devices = [entry("sc-1", "signal_controller", "signal-controller-v1", signal_device.port, 1)]
    async with running(run_recorder(bus=cfg.model_copy(update={"client_id": "rec-m"}), store=store,
                                    spool_dir=tmp_path / "spool", clock=SystemClock(), flush_interval_s=0.1,
                                    metrics_port=rec_port)), \
            running(run_gateway(bus=cfg, devices=devices, clock=SystemClock(), metrics_port=gw_port)):
        text = ""

        async def poll() -> None:
            nonlocal text
            with contextlib.suppress(httpx.HTTPError):
                text = await scrape(rec_port)

        for _ in range(100):
            await poll()
            if 'signalight_recorder_points_written_total' in text and \
                    "signalight_recorder_points_written_total 0.0" not in text:
                break
            await asyncio.sleep(0.1)
        assert "signalight_recorder_points_written_total 0.0" not in text, text
        assert "signalight_recorder_spool_bytes 0.0" in text
        # the event recorder's counters: three events and one malformed, each counted once stored or dropped
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="ev-m") as pub:
            for seq, body in enumerate((b'"code": 82, "param": 10', b'"code": 81, "param": 10',
                                        b'"code": 1, "param": 2', b'"code": 300, "param": 2')):
                await pub.publish("sl/v1/tn/sc-9/event", b'{"ts": "2026-11-23T07:00:00.%03dZ", "seq": %d, %s}'
                                  % (seq, seq, body), qos=1)
        for _ in range(100):
            await poll()
            if "signalight_recorder_events_stored_total 3.0" in text:
                break
            await asyncio.sleep(0.1)
        for line in ("signalight_recorder_events_stored_total 3.0", "signalight_recorder_events_received_total 3.0",
                     "signalight_recorder_events_malformed_total 1.0", "signalight_recorder_events_overflow_total 0.0"):
            assert line in text, text
        gw = await scrape(gw_port)
        assert 'signalight_gateway_polls_total{device="sc-1"}' in gw
        assert 'signalight_gateway_device_online{device="sc-1"} 1.0' in gw
        assert "signalight_gateway_poll_lateness_seconds" in gw and "signalight_gateway_modbus_requests_total" in gw
    await store.aclose()


def test_metrics_imports_neither_the_gateway_nor_the_recorder() -> None:
    import subprocess
    import sys

    code = ("import sys, gateways.metrics; bad = [m for m in ('gateways.gateway', 'gateways.recorder', "
            "'gateways.mqtt_device_watch', 'gateways.modbus.link') if m in sys.modules]; "
            "print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
