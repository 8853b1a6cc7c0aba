"""The cable between a simulated MQTT device and its broker: a TCP relay the device's client connects through, so a
fault (communication loss, power failure) can cut it.

A real device that loses its cable or its power sends no DISCONNECT: the broker sees the connection end (or go
silent) and publishes the device's Last Will. The MQTT client library (aiomqtt) offers no public way to drop a
connection without its DISCONNECT, so the simulator owns the wire instead: `Cable.cut()` aborts both ends of the
relay (closed at once, unsent bytes dropped, no DISCONNECT), which is what the broker and the client each see of a
cut cable.

The relay carries bytes only: TLS runs end to end between the client and the broker. The client connects to the
cable's local end, so `broker_context` makes its TLS context check the broker's certificate against the broker's
name rather than 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

#: Bytes a relay end buffers towards a peer that reads slowly before it stops reading from the other side.
HIGH_WATER = 256 * 1024


class _End(asyncio.Protocol):
    """One end of the relay; `peer` is the other end, which gets every byte this end receives."""

    def __init__(self, cable: Cable) -> None:
        self.cable = cable
        self.transport: asyncio.Transport | None = None
        self.peer: _End | None = None
        self.early: list[bytes] = []        # what the device sent before the broker's end was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=HIGH_WATER)
        self.cable.ends.add(self)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)
        else:
            self.early.append(data)

    def eof_received(self) -> bool | None:
        if self.peer is not None and self.peer.transport is not None and self.peer.transport.can_write_eof():
            self.peer.transport.write_eof()
            return True     # half-closed: the other direction still carries the last bytes
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.cable.ends.discard(self)
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # Flow control: a peer that cannot take more stops this end's reading, and the kernel pushes back on the sender.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


class Cable:
    """Relays the connections of one device to one broker address at a time; `cut()` ends them all."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.ends: set[_End] = set()
        self._connecting: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def laid(self, host: str, port: int) -> AsyncIterator[tuple[str, int]]:
        """Listen on a free port of 127.0.0.1 and relay each connection to `host:port`; yields the local address.
        A broker that cannot be reached ends the device's connection, as a refused connection would."""
        loop = asyncio.get_running_loop()

        def near() -> _End:
            end = _End(self)
            task = loop.create_task(self._reach(end, host, port))
            self._connecting.add(task)
            task.add_done_callback(self._connecting.discard)
            return end

        server = await loop.create_server(near, "127.0.0.1", 0)
        try:
            local_port: int = server.sockets[0].getsockname()[1]
            yield "127.0.0.1", local_port
        finally:
            server.close()
            for task in list(self._connecting):
                task.cancel()
            self.cut()
            await server.wait_closed()

    async def _reach(self, near: _End, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, far = await asyncio.wait_for(loop.create_connection(lambda: _End(self), host, port), 10)
        except (OSError, TimeoutError) as exc:
            log.info("cable_no_broker device=%s broker=%s:%d error=%s", self.device_id, host, port, exc)
            if near.transport is not None:
                near.transport.abort()
            return
        sock = far.transport.get_extra_info("socket") if far.transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if near.transport is None or near.transport.is_closing():
            if far.transport is not None:
                far.transport.close()
            return
        near.peer, far.peer = far, near
        assert far.transport is not None
        for data in near.early:
            far.transport.write(data)
        near.early.clear()

    def cut(self) -> None:
        """End every connection through the cable at once, both ends; nothing still buffered goes out."""
        for end in list(self.ends):
            if end.transport is not None:
                end.transport.abort()


class _BrokerNamed(ssl.SSLContext):
    """A client context that checks the server's certificate against `broker_name`, whatever address the socket
    was connected to (the cable's local end)."""

    broker_name: str | None = None

    def wrap_socket(self, sock: socket.socket, server_side: bool = False, do_handshake_on_connect: bool = True,
                    suppress_ragged_eofs: bool = True, server_hostname: str | bytes | None = None,
                    session: ssl.SSLSession | None = None) -> ssl.SSLSocket:
        return super().wrap_socket(sock, server_side, do_handshake_on_connect, suppress_ragged_eofs,
                                   self.broker_name if self.broker_name is not None else server_hostname, session)


def broker_context(ca: str | None, cert: str | None, key: str | None) -> _BrokerNamed:
    """Verify the broker against `ca` (the system's CAs without one) and its name (set `broker_name` before each
    connection); present `cert`/`key` when given."""
    context = _BrokerNamed(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    context.check_hostname = True
    if ca is not None:
        context.load_verify_locations(cafile=ca)
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if cert is not None:
        context.load_cert_chain(cert, key)
    return context
