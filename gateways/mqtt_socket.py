"""paho-mqtt's socket with reads buffered and writes gathered per event-loop iteration.

paho reads a packet with one `recv` per header byte and one for the rest (four system calls for a PUBACK), and
writes every packet with its own `send` (one TCP segment, one wake-up of the broker, each). At a gateway's thousands
of QoS 1 publishes a second those system calls, not the Python around them, were the bulk of its CPU. This wrapper,
installed as paho's socket when the connection opens (`install`), changes only that:

- `recv` takes whatever the kernel holds (up to 64 KiB) in one call and serves paho's small reads from it;
  `pending()` tells aiomqtt's reader loop, which already asks it for TLS sockets, that more packets are buffered.
- `send` appends to a buffer written with one `send` at the end of the current event-loop iteration (`call_soon`),
  so the publishes of one iteration leave in one segment; with TCP_NODELAY on, nothing waits longer than that.
  Backpressure: beyond `max_buffer` bytes not yet taken by the kernel, `send` raises BlockingIOError, which makes
  paho keep the packet in its own queue and retry when the socket is writable (paho's usual path).
- `close` writes what is buffered first (best effort: the socket is non-blocking), so a DISCONNECT still leaves.

Calls from another thread (paho connects in aiomqtt's executor thread) go straight to the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any

READ_SIZE = 65536


class BufferedSocket:
    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, *, max_buffer: int = 1 << 20,
                 loop_thread: int | None = None) -> None:
        self._sock = sock
        self._loop = loop
        # The event loop's thread: paho opens the socket in aiomqtt's executor thread, not there.
        self._thread = loop_thread if loop_thread is not None else threading.get_ident()
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()
        self._flush_handle: asyncio.Handle | asyncio.TimerHandle | None = None
        self.max_buffer = max_buffer
        self.sends = 0

    # --- reading ------------------------------------------------------------------------------------------------
    def recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = self._sock.recv(READ_SIZE)  # raises BlockingIOError (or ssl.SSLWantRead) as paho expects
            if len(data) <= bufsize:
                return data
            self._rbuf, self._rpos = data, 0
        end = self._rpos + bufsize
        out = self._rbuf[self._rpos:end]
        self._rpos = min(end, len(self._rbuf))
        return out

    def pending(self) -> int:
        inner = getattr(self._sock, "pending", None)
        return len(self._rbuf) - self._rpos + (inner() if callable(inner) else 0)

    # --- writing ------------------------------------------------------------------------------------------------
    def send(self, data: bytes | bytearray | memoryview) -> int:
        if threading.get_ident() != self._thread:
            return self._sock.send(data)
        if len(self._wbuf) >= self.max_buffer:
            self._flush()
            if len(self._wbuf) >= self.max_buffer:
                raise BlockingIOError("send buffer full")
        self._wbuf += data
        if self._flush_handle is None:
            self._flush_handle = self._loop.call_soon(self._flush)
        return len(data)

    def _flush(self) -> None:
        self._flush_handle = None
        if not self._wbuf:
            return
        try:
            n = self._sock.send(self._wbuf)
            self.sends += 1
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError:
            # The connection is broken: paho notices on its next read and reconnects; what was buffered is lost
            # exactly as if the kernel had held it (QoS 1 messages unacknowledged are sent again by their owner).
            self._wbuf.clear()
            return
        del self._wbuf[:n]
        if self._wbuf:
            # The kernel's buffer is full (a slow broker): try again shortly. Not add_writer: aiomqtt owns the
            # socket's writer callback for paho.
            self._flush_handle = self._loop.call_later(0.005, self._flush)

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._wbuf:
            with contextlib.suppress(OSError):
                self._sock.send(self._wbuf)
            self._wbuf.clear()
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def install(paho_client: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Make `paho_client` wrap every socket it opens in a BufferedSocket (call before connecting, on the event
    loop's thread).

    Relies on paho 2.x keeping its socket in `_sock` and announcing a new one through `on_socket_open` (both pinned
    by uv.lock): the wrapper replaces `_sock` there, before aiomqtt registers its reader.
    """
    announced = paho_client.on_socket_open
    loop_thread = threading.get_ident()  # called on the event loop's thread

    def on_socket_open(client: Any, userdata: Any, sock: Any) -> None:
        wrapped = sock
        if isinstance(sock, socket.socket):
            # aiomqtt applies its socket options only to a plain socket: set TCP_NODELAY here (a QoS 1 round trip
            # costs ~88 ms without it).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            wrapped = BufferedSocket(sock, loop, loop_thread=loop_thread)
        client._sock = wrapped
        if announced is not None:
            announced(client, userdata, wrapped)

    paho_client.on_socket_open = on_socket_open
