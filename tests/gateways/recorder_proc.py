"""The recorder as its own process, for the SIGKILL test: `python -m tests.gateways.recorder_proc HOST PORT DB SPOOL`.

Persistent session (fixed client id, clean_session=False), embedded store, flush every 0.5 s."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from controllers.clock import SystemClock
from gateways.mqtt import BusConfig
from gateways.recorder_service import run_recorder
from gateways.stores.embedded import EmbeddedStore


async def main(host: str, port: int, db: Path, spool: Path) -> None:
    store = EmbeddedStore(db)
    try:
        await run_recorder(bus=BusConfig(host=host, port=port, client_id="rec-kill", clean_session=False),
                           store=store, spool_dir=spool, clock=SystemClock(), flush_interval_s=0.5)
    finally:
        await store.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
