"""The one reconnect policy of every MQTT client of ours: keep a connection to one of the broker endpoints forever.

`ConnectionKeeper.run` connects to the endpoints in order until one answers, runs the owner's `on_up` (subscribe,
republish...), keeps the connection alive, and when it is lost moves on to the next endpoint (round robin) after a
wait drawn with full jitter from an exponentially growing bound (`backoff_initial_s` doubling up to `backoff_max_s`,
reset once a connection came up): a fleet of clients reconnecting after a broker dies spreads out instead of
arriving at once. A persistent session (clean_session=False, fixed client id) resumes on whichever broker holds it
(a cluster's nodes share sessions). It gives up only on a refusal that retrying cannot cure (`BrokerRefusedError`:
bad credentials, not authorized); a TLS certificate the CA does not vouch for is logged as an error and retried
(the broker's certificate may be being replaced), and named by `wait_connected`-style errors through `last_error`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import Awaitable, Callable

from gateways.mqtt.codec import PROP_SERVER_KEEP_ALIVE, ProtocolError
from gateways.mqtt.config import BusConfig, Endpoint, tls_context
from gateways.mqtt.connection import BrokerRefusedError, Connection, Sink, open_connection

log = logging.getLogger(__name__)

OnUp = Callable[[Connection, bool], Awaitable[None]]


class Backoff:
    """Exponential backoff with full jitter: each wait is uniform in [0, bound], the bound doubling up to `max_s`."""

    def __init__(self, initial_s: float, max_s: float, rng: random.Random | None = None) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.bound_s = initial_s
        self._rng = rng or random.Random()

    def next(self) -> float:
        wait = self._rng.uniform(0, self.bound_s)
        self.bound_s = min(self.bound_s * 2, self.max_s)
        return wait

    def reset(self) -> None:
        self.bound_s = self.initial_s


def describe(exc: BaseException) -> str:
    """Why a connection attempt failed, in words an operator can act on."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


class ConnectionKeeper:
    """One connection kept up forever across `config.endpoints`. `conn` is the live connection (None between
    connections); `connected` is set once `on_up` has run on it. Not re-entrant."""

    def __init__(self, config: BusConfig, sink: Sink, *, name: str) -> None:
        self.config = config
        self.sink = sink
        self.name = name
        self.endpoints = config.endpoints
        self.tls = tls_context(config)  # raises ValueError for an unreadable TLS file: at start, not per attempt
        self.conn: Connection | None = None
        self.endpoint: Endpoint = self.endpoints[0]
        self.connected = asyncio.Event()
        self.connects = 0
        self.generation = 0
        self.last_error: str | None = None
        self.backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)

    async def run(self, on_up: OnUp, on_down: Callable[[], None] | None = None) -> None:
        """Connect, `await on_up(conn, session_present)`, keep alive; on loss, the next endpoint after a backoff.
        Runs until cancelled (a clean DISCONNECT then) or raises BrokerRefusedError."""
        c = self.config
        index = 0
        while True:
            endpoint = self.endpoints[index]
            self.generation += 1
            was_up = False
            try:
                conn, session_present, props = await open_connection(c, endpoint, self.tls, self.sink,
                                                                     self.generation, name=self.name)
                self.conn = conn
                try:
                    await on_up(conn, session_present)
                    self.endpoint = endpoint
                    self.connects += 1
                    self.last_error = None
                    was_up = True
                    self.connected.set()
                    log.info("%s_connected client_id=%s broker=%s mqtt=%s session_present=%s connects=%d", self.name,
                             c.client_id, endpoint.url, "5" if c.mqtt_v5 else "3.1.1", session_present, self.connects)
                    await conn.keep_alive(int(props.get(PROP_SERVER_KEEP_ALIVE, c.keepalive_s)))
                finally:
                    self.connected.clear()
                    self.conn = None
                    if on_down is not None:
                        on_down()
                    conn.close()  # clean (DISCONNECT) when still open: a cancellation, or on_up failed
            except BrokerRefusedError as exc:
                self.last_error = str(exc)
                log.error("%s_refused client_id=%s broker=%s error=%s", self.name, c.client_id, endpoint.url, exc)
                raise
            except (OSError, TimeoutError, ConnectionError, ProtocolError) as exc:
                error = describe(exc)
                self.last_error = f"{endpoint.url}: {error}"
                if was_up:
                    self.backoff.reset()  # it was up: the next attempt starts from a short wait
                index = (index + 1) % len(self.endpoints)
                wait = self.backoff.next()
                level = logging.ERROR if isinstance(exc, ssl.SSLCertVerificationError) else logging.WARNING
                log.log(level, "%s_disconnected client_id=%s broker=%s error=%s next=%s retry_in_s=%.2f", self.name,
                        c.client_id, endpoint.url, error, self.endpoints[index].url, wait)
                await asyncio.sleep(wait)
