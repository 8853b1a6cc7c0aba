"""Running a process: the main coroutine under asyncio, stopped cleanly by SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from gateways.mqtt import BrokerRefusedError

log = logging.getLogger("signalight")


def run(main: Callable[[], Awaitable[None]], *, name: str) -> None:
    """Run `main()` until it returns or the process receives SIGINT/SIGTERM, which cancel it.

    Cancellation travels down every TaskGroup, so each part flushes and closes what it holds. A second signal
    while stopping is ignored: stopping is already under way and is bounded by each part's own timeouts.
    """

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        stopping = False

        def on_signal(signum: int) -> None:
            nonlocal stopping
            if not stopping:
                stopping = True
                log.info("stopping part=%s signal=%s", name, signal.Signals(signum).name)
                task.cancel()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await main()
        except asyncio.CancelledError:
            if not stopping:
                raise
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("stopped part=%s", name)

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runner())
    except* BrokerRefusedError as refused:
        # Bad credentials, not authorized: retrying cannot cure it, and a traceback would bury the reason.
        log.error("broker_refused part=%s error=%s", name, str(refused.exceptions[0]))
        raise SystemExit(1) from None
