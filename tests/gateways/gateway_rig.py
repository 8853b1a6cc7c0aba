"""Helpers of the gateway's integration tests: a watcher of everything on the bus (payloads checked against the
contract's schemas), device entries, bus settings, signed commands and what the Modbus test devices do on a command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiomqtt
import jsonschema

import contracts
from controllers.clock import to_rfc3339
from controllers.devices import DeviceKind
from gateways.manifest import ModbusDevice
from gateways.mqtt import BusConfig
from tests.command_signing import signed
from tests.gateways.modbus_device import Memory
from tests.servers import Mosquitto

SCHEMAS = {s: json.loads(contracts.mqtt_schema_path(s).read_text()) for s in contracts.MQTT_SCHEMA_FILES}


def signal_effect(unit: int, mem: Memory, regs: list[int]) -> None:
    code = regs[0]
    if code == 2:  # flash
        mem.set("mode", "flash")
        mem.set("flash_cause", "central")
        mem.set("control_source", "central")
        mem.set("phase_green", 0)
        mem.set("phase_red", 0b11111111)


def cabinet_effect(unit: int, mem: Memory, regs: list[int]) -> None:
    code, circuit, level = regs[0], regs[1], regs[2]
    if code == 1:
        mem.set(f"circuit{circuit}_on", level > 0)
        mem.set(f"circuit{circuit}_level_pct", level)
        mem.set(f"circuit{circuit}_control", "override")
        mem.set(f"circuit{circuit}_override_remaining_s", (regs[3] << 16) | regs[4])


class Watcher:
    """An independent MQTT client recording everything under sl/v1/#, validating payloads against the schemas."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any, bool]] = []
        self.changed = asyncio.Event()

    async def run(self, client: aiomqtt.Client) -> None:
        await client.subscribe("sl/v1/#", qos=1)
        async for m in client.messages:
            suffix = "/".join(m.topic.value.split("/")[4:])
            payload = json.loads(m.payload) if m.payload else None
            if suffix in SCHEMAS and suffix != "cmd":  # the test sends bad commands on purpose
                jsonschema.validate(payload, SCHEMAS[suffix])
            self.messages.append((m.topic.value, payload, bool(m.retain)))
            self.changed.set()

    async def wait_for(self, topic: str, pred: Any = lambda p: True, within_s: float = 10.0, count: int = 1) -> Any:
        """The `count`-th message on `topic` matching `pred`, waiting up to `within_s`."""
        async with asyncio.timeout(within_s):
            while True:
                found = [p for t, p, _ in self.messages if t == topic and pred(p)]
                if len(found) >= count:
                    return found[count - 1]
                self.changed.clear()
                await self.changed.wait()


@contextlib.asynccontextmanager
async def watching(mosquitto: Mosquitto) -> AsyncIterator[Watcher]:
    w = Watcher()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"w-{uuid.uuid4().hex[:6]}") as c:
        task = asyncio.create_task(w.run(c))
        await asyncio.sleep(0.2)
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def entry(id_: str, kind: str, profile: str, port: int, unit: int = 1) -> ModbusDevice:
    return ModbusDevice(id=id_, site="tn", kind=DeviceKind(kind), host="127.0.0.1", port=port, unit_id=unit,
                        profile=profile)


def bus(mosquitto: Mosquitto, name: str) -> BusConfig:
    return BusConfig(host=mosquitto.host, port=mosquitto.port, client_id=name, publish_timeout_s=5)


def cmd(name: str, args: dict[str, Any], *, expires_in_s: float = 30, id_: str | None = None,
        device: str = "sc-1") -> dict[str, Any]:
    """A command as the API sends it: signed for `device` of site tn."""
    return signed({"id": id_ or str(uuid.uuid4()), "name": name, "args": args, "issued_by": "test",
                   "expires_at": to_rfc3339(datetime.now(UTC) + timedelta(seconds=expires_in_s))}, "tn", device)
