"""Timing-plan download over Modbus: CRC-32 over the transfer bytes, verify, activate at a cycle boundary;
invalid or corrupt plans are refused with an error code and the running plan stays.

The payload is encoded by the central side's encoder (controllers.plans.encoding): the firmware's own, independent
decoding must agree with it byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from controllers.plans import PlanV1
from controllers.plans.encoding import encode_plan
from firmware_sim.fleet import FleetConfig
from firmware_sim.plan_transfer import canonical_bytes, to_registers
from tests.firmware_sim.controller_commands import COMMIT, LENGTH, STAGING, stage
from tests.firmware_sim.fleet_runner import running_fleet
from tests.firmware_sim.helpers import controller_with_regs, run

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "plans" / "examples"


def example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return doc


def test_encoding_agrees_with_the_central_encoder() -> None:
    doc = example("tn-001-weekday.json")
    central = encode_plan(PlanV1.model_validate(doc))
    assert canonical_bytes(doc) == central.payload
    assert to_registers(central.payload) == list(central.registers)
    assert to_registers(b'{"a":1}') == [0x7B22, 0x6122, 0x3A31, 0x7D00]
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_valid_plan_activates_at_a_cycle_boundary() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 60)
    regs.refresh()
    before = regs.image.get("plan_crc32")
    doc = example("tn-001-weekday.json")
    payload = canonical_bytes(doc)
    crc = zlib.crc32(payload)
    stage(regs, payload, crc)
    assert regs.write(COMMIT, [1]) is None
    regs.refresh()
    assert (regs.image.get("plan_status"), regs.image.get("plan_error")) == (3, 0)
    assert regs.image.get("plan_crc32") == before, "not active before the cycle boundary"
    activated_at, waited = None, 0
    while activated_at is None and waited < 2000:
        old = ctrl.seq.cycle_timer()        # the running pattern's local cycle timer when the tick starts
        ctrl.step()
        waited += 1
        if ctrl.pending_plan is None:
            activated_at = old
    assert activated_at == 0 and waited <= 1000, "at the next cycle boundary: within one 100 s cycle"
    regs.refresh()
    assert regs.image.get("plan_crc32") == crc
    assert ctrl.plan.intersection_id == "tn-001"
    run(ctrl, 200)
    assert ctrl.mode in ("coordinated", "free", "flash")


def test_corrupt_and_invalid_plans_are_refused_and_the_running_plan_stays() -> None:
    ctrl, regs = controller_with_regs()
    run(ctrl, 30)
    regs.refresh()
    running, plan = regs.image.get("plan_crc32"), ctrl.plan
    good = canonical_bytes(example("tn-001-weekday.json"))
    cases = [
        (good, zlib.crc32(good) ^ 1, 1),                                           # crc_mismatch
        (good[:-1] + b"!", zlib.crc32(good[:-1] + b"!"), 3),                        # parse_error
        (canonical_bytes(example("invalid-timing.json")), None, 4),                 # invalid_plan
        (canonical_bytes(example("invalid-schema.json")), None, 4),
    ]
    for payload, crc, error in cases:
        crc = zlib.crc32(payload) if crc is None else crc
        stage(regs, payload, crc)
        assert regs.write(COMMIT, [1]) is None
        regs.refresh()
        assert (regs.image.get("plan_status"), regs.image.get("plan_error")) == (4, error), payload[:60]
        assert int(regs.image.get("alarm_flags")) & (1 << 7), "plan_deploy_failed alarm"
        run(ctrl, 2)
        assert ctrl.plan is plan and ctrl.pending_plan is None
        regs.refresh()
        assert regs.image.get("plan_crc32") == running
    assert regs.write(LENGTH, [0]) is None
    assert regs.write(COMMIT, [1]) is None
    regs.refresh()
    assert regs.image.get("plan_error") == 2                                        # bad_length
    assert regs.write(COMMIT, [7]) == 3, "commit values other than 0/1 are an illegal data value"
    assert regs.write(COMMIT, [0]) is None
    regs.refresh()
    assert (regs.image.get("plan_status"), regs.image.get("plan_error")) == (4, 6)  # aborted


async def test_download_over_modbus_tcp(tmp_path: Path) -> None:
    config = FleetConfig(intersections=1, cabinets=0, modbus_cabinets=0, speed=20.0, control_port=None)
    central = encode_plan(PlanV1.model_validate(example("tn-001-weekday.json")))
    async with running_fleet(config) as (fleet, manifest):
        dev = manifest["devices"][0]
        client = AsyncModbusTcpClient(dev["host"], port=dev["port"], timeout=5)
        await client.connect()
        try:
            unit = dev["unit_id"]
            regs = list(central.registers)
            for i in range(0, len(regs), 120):
                assert not (await client.write_registers(STAGING + i, regs[i:i + 120], device_id=unit)).isError()
            header = [central.length, central.crc32 >> 16, central.crc32 & 0xFFFF]
            assert not (await client.write_registers(LENGTH, header, device_id=unit)).isError()
            assert not (await client.write_register(COMMIT, 1, device_id=unit)).isError()
            status = await client.read_input_registers(21, count=2, device_id=unit)
            assert status.registers == [3, 0]
            readback = await client.read_holding_registers(STAGING, count=120, device_id=unit)
            assert readback.registers == regs[:120], "the center reads the staging block back"
            for _ in range(100):        # a 100 s cycle at 20x: active within about 5 s
                crc = await client.read_input_registers(14, count=2, device_id=unit)
                if (crc.registers[0] << 16 | crc.registers[1]) == central.crc32:
                    break
                await asyncio.sleep(0.1)
            assert (crc.registers[0] << 16 | crc.registers[1]) == central.crc32
            assert fleet.controllers[dev["id"]].plan.intersection_id == "tn-001"
        finally:
            client.close()
