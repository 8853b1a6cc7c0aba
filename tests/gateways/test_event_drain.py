"""The gateway's event reader keeps a busy controller's log from overflowing: window after window in one poll while
the windows come back full, each acknowledged, every event published once and in order. The simulated controller's
own register image (firmware_sim) behind a minimal in-process link (our own read/write interface); the publisher
records."""

from __future__ import annotations

from typing import Any

from firmware_sim.controller_regs import ControllerRegisters
from gateways.manifest import ModbusDevice
from gateways.modbus.events import MAX_ROUNDS, EventReader
from gateways.modbus.profile import load_profile
from gateways.modbus.reader import DeviceReader
from tests.firmware_sim.helpers import controller, run


class RegisterLink:
    """Reads and writes straight into a simulated device's register image (as its Modbus TCP server does)."""

    def __init__(self, regs: ControllerRegisters) -> None:
        self.regs = regs
        self.requests = 0

    async def read(self, table: str, address: int, count: int, *, unit_id: int, device: str) -> list[int]:
        self.requests += 1
        self.regs.refresh()
        return list(self.regs.image.tables[table][address:address + count])

    async def write_registers(self, address: int, values: list[int], *, unit_id: int, device: str) -> None:
        self.requests += 1
        assert self.regs.write(address, values) is None


class Recorded:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []

    async def publish_event(self, event: dict[str, Any], *, ts: str) -> None:
        self.events.append((ts, event["code"], event["param"]))


def _reader(regs: ControllerRegisters) -> tuple[EventReader, RegisterLink, Recorded]:
    entry = ModbusDevice(id="tn-sig-001", site="tn", kind="signal_controller", transport="modbus", host="127.0.0.1",
                        port=502, unit_id=1, profile="signal-controller-v1")
    link = RegisterLink(regs)
    published = Recorded()
    reader = DeviceReader(entry, load_profile("signal-controller-v1"), link)  # type: ignore[arg-type]
    return EventReader(reader, published), link, published  # type: ignore[arg-type]


async def test_one_poll_drains_a_backlog_of_many_windows_and_loses_nothing() -> None:
    ctrl = controller(3)
    regs = ControllerRegisters(ctrl)
    run(ctrl, 180)                       # three minutes unread: several hundred events, far more than a window
    logged = [(e.code, e.param) for e in ctrl.events.entries]
    assert 16 * 8 < len(logged) < 1024 and ctrl.events.overflows == 0
    events, link, published = _reader(regs)
    regs.refresh()
    await events.drain(int(regs.image.get("event_count")))
    assert [(c, p) for _, c, p in published.events] == logged, "every entry once, in the log's order"
    assert not ctrl.events.entries, "every entry acknowledged"
    assert link.requests <= 2 * (len(logged) // 16 + 2), "a read and an ack per window"
    # the next poll: only what came since, once
    run(ctrl, 5)
    since = [(e.code, e.param) for e in ctrl.events.entries]
    regs.refresh()
    await events.drain(int(regs.image.get("event_count")))
    assert [(c, p) for _, c, p in published.events] == logged + since
    assert events.rounds_capped == 0 and ctrl.events.overflows == 0


async def test_a_device_that_ignores_acks_is_read_once_per_poll() -> None:
    ctrl = controller(4)
    regs = ControllerRegisters(ctrl)
    run(ctrl, 120)
    regs.write = lambda address, values: None  # type: ignore[method-assign]   # acks go nowhere
    events, link, published = _reader(regs)
    regs.refresh()
    await events.drain(16)
    assert len(published.events) == 16 and link.requests == 4, "a second window brought nothing new: stop"
    assert MAX_ROUNDS * 16 >= 1024, "a poll can take a whole device log"
