"""Fixtures of the gateway tests: Modbus test devices with the signal controller's and the lighting cabinet's
register maps (real Modbus TCP servers on free ports)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateways.modbus.profile import load_profile
from tests.gateways.gateway_rig import cabinet_effect, signal_effect
from tests.gateways.modbus_device import ModbusTestDevice


@pytest.fixture
async def signal_device() -> AsyncIterator[ModbusTestDevice]:
    dev = ModbusTestDevice(load_profile("signal-controller-v1"), (1, 2), on_command=signal_effect)
    for u in (1, 2):
        m = dev.memory[u]
        m.set("mode", "coordinated")
        m.set("pattern", 3)
        m.set("cycle_s", 90)
        m.set("cycle_timer_s", 12.3)
        m.set("phase_green", 0b00100010)
        m.set("phase_red", 0b11011101)
        m.set("ped_walk", 0b10)
        m.set("firmware", "1.2.0")
        m.set("model", "SC-2070")
        m.set("phases_in_use", 0xFF)
        m.set("cabinet_temp_c", -5.5)
    await dev.start()
    yield dev
    await dev.stop()


@pytest.fixture
async def cabinet_device() -> AsyncIterator[ModbusTestDevice]:
    dev = ModbusTestDevice(load_profile("lighting-cabinet-v1"), (7,), on_command=cabinet_effect)
    m = dev.memory[7]
    m.set("circuits", 4)
    m.set("circuit1_on", True)
    m.set("circuit1_level_pct", 100)
    m.set("circuit1_current_a", 4.25)
    m.set("mains_ok", True)
    m.set("photocell_lux", 3.5)
    m.set_raw("input", 28, [0x5678, 0x0001])  # energy_kwh, low word first in this vendor's map
    m.set("firmware", "2.0")
    m.set("model", "LC-4")
    await dev.start()
    yield dev
    await dev.stop()
