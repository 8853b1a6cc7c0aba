"""The cable between a simulated MQTT device and its broker: the simulator's own TCP connection to the broker, which
the device's MQTT client reaches through a one-connection listener on 127.0.0.1, so a fault can cut it.

A real device that loses its cable or its power sends no DISCONNECT: the broker sees the connection end and
publishes the device's Last Will. The MQTT client library (aiomqtt) has no public way to drop a connection without
its DISCONNECT, so the simulator owns the wire: `Cable.cut()` aborts both ends at once (unsent bytes dropped), which
is what the broker and the client each see of a cut cable. A broker that ends the connection ends the client's too.

The cable connects to the broker before the client starts, so a broker that cannot be reached is an OSError from
`laid()`, not a client timeout. TLS is the cable's (the client speaks plain MQTT to 127.0.0.1 inside the device):
the cable checks the broker's certificate against the broker's name and presents the device's own.

Cost: the bytes pass through asyncio transports once more in the simulator's loop (no tasks, no copies beyond the
kernel's); `benchmarks/fleet.py` does not use MQTT devices.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator

#: Bytes one end buffers towards a peer that reads slowly before it stops reading from the other side.
HIGH_WATER = 256 * 1024
#: On a clean goodbye the client's DISCONNECT still has to cross the cable: how long leaving `laid()` waits for it.
DRAIN_S = 2.0


class _End(asyncio.Protocol):
    """One end of the cable; what it receives goes out of the other end."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.transport: asyncio.Transport | None = None
        self.other: _End | None = None
        self.early: list[bytes] = []        # received before the other end was connected (bounded by the kernel)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.other is not None:
            for data in self.other.early:
                transport.write(data)
            self.other.early.clear()

    def data_received(self, data: bytes) -> None:
        target = self.other.transport if self.other is not None else None
        if target is None:
            self.early.append(data)
        elif not target.is_closing():
            target.write(data)

    def eof_received(self) -> bool | None:
        self._hang_up()
        return None                         # and this end closes too

    def connection_lost(self, exc: Exception | None) -> None:
        self._hang_up()
        self.link.lost(self)

    def _hang_up(self) -> None:
        # One side hung up (a DISCONNECT and close, a broker that stops): the other side gets what is already on its
        # way, then the end of the connection.
        if self.other is not None and self.other.transport is not None:
            self.other.transport.close()

    # Flow control: an end that cannot take more stops the other end's reading; the kernel pushes back the sender.
    def pause_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.resume_reading()


class _Link:
    """One laying of the cable: the broker's end, and the client's once it connects."""

    def __init__(self) -> None:
        self.far = _End(self)
        self.near: _End | None = None
        self.open = 1
        self.closed = asyncio.Event()

    def connect_near(self) -> _End:
        end = _End(self)
        if self.near is not None:           # one client per laying: a second connection is dropped at once
            return _Refused(self)
        self.near, self.open = end, self.open + 1
        end.other, self.far.other = self.far, end
        return end

    def lost(self, end: _End) -> None:
        self.open -= 1
        if self.open <= 0:
            self.closed.set()

    def abort(self) -> None:
        for end in (self.far, self.near):
            if end is not None and end.transport is not None:
                end.transport.abort()


class _Refused(_End):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        pass


class Cable:
    """The wire of one device: laid for one connection at a time, cut on a fault."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._link: _Link | None = None

    @contextlib.asynccontextmanager
    async def laid(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                   timeout_s: float = 5.0) -> AsyncIterator[tuple[str, int]]:
        """Connect to the broker at host:port (TLS with `tls`, checked against `host`) and yield the 127.0.0.1
        address the device's client connects to, once. Raises OSError or TimeoutError when the broker cannot be
        reached. Leaving the block lets a goodbye drain (up to DRAIN_S), then cuts what is left."""
        loop = asyncio.get_running_loop()
        self.cut()
        link = _Link()
        await asyncio.wait_for(loop.create_connection(lambda: link.far, host, port, ssl=tls,
                                                      server_hostname=host if tls is not None else None), timeout_s)
        self._link = link
        server = await loop.create_server(link.connect_near, "127.0.0.1", 0)
        try:
            yield "127.0.0.1", int(server.sockets[0].getsockname()[1])
        finally:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(link.closed.wait(), DRAIN_S)
            link.abort()
            if self._link is link:
                self._link = None

    def cut(self) -> None:
        """End the connection at both ends at once; nothing still buffered goes out."""
        if self._link is not None:
            self._link.abort()
