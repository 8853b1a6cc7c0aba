"""The API's bus on a real Mosquitto: a command result published while the API is disconnected (a broker failover,
an API restart: to the broker both are a session without a connection) reaches the API once it is back, also when
its consumers subscribe only after the bus has connected (the API's tasks start after its migrations); a result
published while it is connected, which comes on both of its sessions, is taken once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from controllers.topics import Suffix, subscription
from gateways.mqtt import Bus, BusConfig
from signalight.processes import api_bus, api_results_client_id
from signalight.settings import Settings
from tests.gateways.helpers import eventually
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

RESULT = "sl/v1/tn/tn-cab-001/cmd/res"


async def _result(device: Bus, command_id: str) -> None:
    await device.publish(RESULT, {"id": command_id, "ok": True})


async def test_a_command_result_published_while_the_api_is_away_reaches_it(mosquitto: Mosquitto,
                                                                          tmp_path: Path) -> None:
    s = Settings(mqtt_urls=[mosquitto.url], api_port=free_port(), data_dir=tmp_path)
    assert api_results_client_id(s) == api_results_client_id(s.model_copy())  # the same session after a restart
    async with Bus(BusConfig(urls=(mosquitto.url,), client_id="dev-cab-001")) as device:
        async with api_bus(s) as bus, bus.subscribe(subscription(Suffix.CMD_RES)) as results:
            for _ in range(50):  # until the API's session has its subscription (the first run makes it)
                await _result(device, "c-1")
                with contextlib.suppress(TimeoutError):
                    first = await asyncio.wait_for(anext(results), 0.2)
                    break
            assert json.loads(first.payload)["id"] == "c-1"

        await _result(device, "c-2")  # the API is away

        async with api_bus(s) as bus, asyncio.timeout(30):
            # The broker hands over what it kept right after the CONNACK, before the API's tasks subscribe
            await eventually(lambda: len(bus.backlog) == 1, within_s=10)
            async with (bus.subscribe(subscription(Suffix.CMD_RES), subscription(Suffix.BIRTH)) as listener,
                        bus.subscribe(subscription(Suffix.CMD_RES)) as deploys):
                for consumer in (listener, deploys):  # every consumer of results started together sees it
                    kept = await anext(consumer)
                    assert (kept.topic, json.loads(kept.payload)["id"]) == (RESULT, "c-2")
                await device.publish("sl/v1/tn/tn-cab-001/birth", {"kind": "lighting_cabinet"}, retain=True)
                await _result(device, "c-3")  # live: it comes on both sessions, and is taken once
                await _result(device, "c-4")
                got = [await anext(listener) for _ in range(3)]
                assert sorted((m.topic.rsplit("/", 1)[-1], json.loads(m.payload).get("id")) for m in got) == [
                    ("birth", None), ("res", "c-3"), ("res", "c-4")]
                assert [json.loads((await anext(deploys)).payload)["id"] for _ in range(2)] == ["c-3", "c-4"]
                await _result(device, "c-5")
                assert json.loads((await anext(deploys)).payload)["id"] == "c-5"  # no second c-3 or c-4 before it
