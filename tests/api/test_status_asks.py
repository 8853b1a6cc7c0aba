"""A device's retained status the listener missed (NATS may drop one published while the API subscribed) is asked
for again: a live state from a device whose own status is not online is the evidence; 2 s later, if no status came,
the listener subscribes to that device's status topic, the broker answers with the retained message, and the
subscription goes. Virtual time, the in-memory bus (its retained messages are the broker's)."""

from __future__ import annotations

import asyncio
import json

import pytest

from api import listener
from controllers.bus import BusMessage
from tests.api.conftest import Harness, eventually
from tests.api.fakes import cabinet_state, signal_state
from tests.api.test_gateway_presence import device

STATUS = "sl/v1/tn/tsc-001/status"


def lose_status(h: Harness, status: str) -> None:
    """The broker keeps a new retained status the listener never receives."""
    h.bus.retained[STATUS] = BusMessage(STATUS, f'{{"status":"{status}"}}'.encode(), True, 1)


async def test_a_missed_status_is_asked_for_again_after_a_live_state(harness: Harness) -> None:
    h = harness
    await h.bus.publish(STATUS, {"status": "offline"}, retain=True)  # the device's Last Will
    await h.settle()
    assert (await device(h, "tsc-001"))["status"] == "offline"
    subscribers = h.bus.subscribers
    lose_status(h, "online")  # it came back; its `online` was lost
    await h.bus.publish("sl/v1/tn/tsc-001/state", signal_state(h.clock.now(), seq=2), retain=True)  # sent live
    await h.settle()
    await h.clock.advance(1.5)  # the status may only be late: no ask yet
    assert h.state.listener.status_asks.asked == 0
    assert (await device(h, "tsc-001"))["status"] == "offline"

    await h.clock.advance(1.0)
    await eventually(lambda: h.state.cache.get("tsc-001").status == "online")  # type: ignore[union-attr]
    assert h.state.listener.status_asks.asked == 1
    assert (await device(h, "tsc-001"))["status"] == "online"
    await eventually(lambda: h.bus.subscribers == subscribers)  # the asking subscription is gone
    await h.clock.advance(120)  # answered: never asked again
    assert h.state.listener.status_asks.asked == 1 and "tsc-001" not in h.state.listener.status_asks
    assert "signalight_api_status_asks_total 1.0" in (await h.client.get("/metrics")).text


async def test_a_status_that_does_not_come_is_asked_for_with_a_doubling_wait(harness: Harness,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness
    monkeypatch.setattr(listener, "STATUS_ASK_LISTEN_S", 0.2)  # real time each unanswered ask waits
    await h.bus.publish(STATUS, {"status": "offline"}, retain=True)
    await h.settle()
    del h.bus.retained[STATUS]  # nothing to answer with (a broker that lost it)
    await h.bus.publish("sl/v1/tn/tsc-001/state", signal_state(h.clock.now(), seq=2), retain=True)
    await h.settle()
    asked = []
    for _ in range(16):  # 8 s of virtual time
        await h.clock.advance(0.5)
        await asyncio.sleep(0)
        asked.append(h.state.listener.status_asks.asked)
    # asked at 2 s, then 4 s later (6 s); not every half second
    assert asked[2] == 0 and asked[3] == 1 and asked[10] == 1 and asked[11] == 2 and asked[-1] == 2, asked
    assert (await device(h, "tsc-001"))["status"] == "offline"  # nothing made up
    await h.bus.publish(STATUS, {"status": "online"}, retain=True)  # a status at last: the asks end
    await h.settle()
    await h.clock.advance(60)
    assert h.state.listener.status_asks.asked == 2 and len(h.state.listener.status_asks) == 0


async def test_a_retained_state_or_an_online_device_is_no_evidence(harness: Harness) -> None:
    h = harness
    await h.bus.publish(STATUS, {"status": "offline"}, retain=True)
    await h.settle()
    lose_status(h, "online")
    # a retained copy of its state (what a new subscription gets): published earlier, it says nothing of now
    state = BusMessage("sl/v1/tn/tsc-001/state", json.dumps(signal_state(h.clock.now(), seq=2)).encode(), True, 1)
    await h.state.listener.handle(state)
    assert h.state.cache.get("tsc-001").state["seq"] == 2  # type: ignore[union-attr]  # it was applied
    # and a live state from a device shown online by its own status
    refused = h.state.listener.refused
    await h.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(h.clock.now()), retain=True)
    await h.settle()
    assert h.state.listener.refused == refused
    await h.clock.advance(10)
    assert h.state.listener.status_asks.asked == 0
    assert (await device(h, "tsc-001"))["status"] == "offline"
