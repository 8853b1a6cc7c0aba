"""A gateway-like load for scale runs, in its own process: every Modbus device of a manifest read once a second
(the fast poll group: input registers 0..22), one TCP connection per port, units behind it in turn.

    python -m tests.firmware_sim.poller MANIFEST SECONDS   -> prints "reads=N errors=M"
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient


async def poll_port(host: str, port: int, units: list[int], until: float, counts: dict[str, int]) -> None:
    client = AsyncModbusTcpClient(host, port=port, timeout=5)
    await client.connect()
    try:
        while time.monotonic() < until:
            started = time.monotonic()
            for unit in units:
                rr = await client.read_input_registers(0, count=23, device_id=unit)
                counts["errors" if rr.isError() else "reads"] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        client.close()


async def main(doc: dict[str, Any], seconds: float) -> None:
    ports: dict[tuple[str, int], list[int]] = defaultdict(list)
    for d in doc["devices"]:
        if d["transport"] == "modbus":
            ports[(d["host"], d["port"])].append(d["unit_id"])
    counts: dict[str, int] = defaultdict(int)
    until = time.monotonic() + seconds
    async with asyncio.TaskGroup() as tg:
        for (host, port), units in ports.items():
            tg.create_task(poll_port(host, port, units, until, counts))
    print(f"reads={counts['reads']} errors={counts['errors']}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(Path(sys.argv[1]).read_text()), float(sys.argv[2])))
