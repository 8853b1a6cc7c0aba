"""`device_offline_grace_s`: a device's offline (its own Last Will, or its gateway's) is shown only once it has lasted
the grace; one withdrawn within it (a broker failover: the device is back on another node) shows nothing and
raises no comm_loss. Virtual time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.conftest import Harness, open_harness
from tests.api.test_gateway_presence import GW, comm_loss, device, modbus_signal, presence


@pytest.fixture
async def graced(tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(f"sqlite+aiosqlite:///{tmp_path / 'api.db'}", device_offline_grace_s=20) as h:
        yield h


async def test_an_offline_withdrawn_within_the_grace_is_never_shown(graced: Harness) -> None:
    h = graced
    await h.bus.publish("sl/v1/tn/lc-001/status", {"status": "offline"}, retain=True)  # a failover's Last Will
    await h.settle()
    await h.clock.advance(10)
    assert (await device(h, "lc-001"))["status"] == "online"
    await h.bus.publish("sl/v1/tn/lc-001/status", {"status": "online"}, retain=True)  # back on another node
    await h.settle()
    await h.clock.advance(30)
    assert (await device(h, "lc-001"))["status"] == "online"
    assert await comm_loss(h, "lc-001") == []

    # one that lasts is shown once the grace is over, with its alarm
    await h.bus.publish("sl/v1/tn/lc-001/status", {"status": "offline"}, retain=True)
    await h.settle()
    await h.clock.advance(19)
    assert (await device(h, "lc-001"))["status"] == "online"
    await h.clock.advance(2)
    assert (await device(h, "lc-001"))["status"] == "offline"
    assert len(await comm_loss(h, "lc-001", active=True)) == 1
    # and back at once
    await h.bus.publish("sl/v1/tn/lc-001/status", {"status": "online"}, retain=True)
    await h.settle()
    assert (await device(h, "lc-001"))["status"] == "online"


async def test_a_gateway_failover_is_no_offline_of_its_devices(graced: Harness) -> None:
    h = graced
    await h.bus.publish(GW, presence("online", "s1"), retain=True)
    await modbus_signal(h.bus, h, "tsc-101", "s1")
    await h.settle()
    await h.bus.publish(GW, presence("offline", "s1", reason="connection lost"), retain=True)  # its Last Will
    await h.settle()
    await h.clock.advance(5)
    await h.bus.publish(GW, presence("online", "s1"), retain=True)  # the same process, on another node
    await h.settle()
    await h.clock.advance(30)
    assert (await device(h, "tsc-101"))["status"] == "online"
    assert await comm_loss(h, "tsc-101") == []
