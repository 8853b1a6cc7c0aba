"""Brokers and transports for the MQTT tests: the embedded amqtt broker, a scripted broker for what a real one will
not do on demand, and a fake transport that records what a `Connection` writes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from amqtt.broker import Broker

from tests.servers import free_port

CONNACK_OK = b"\x20\x02\x00\x00"
CONNACK_OK_V5 = b"\x20\x03\x00\x00\x00"


class FakeTransport(asyncio.Transport):
    """What a `Connection` writes, and whether it was aborted or paused."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.aborted = False
        self.closed = False
        self.paused = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.aborted or self.closed

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


@contextlib.asynccontextmanager
async def amqtt_broker() -> AsyncIterator[tuple[str, int]]:
    port = free_port()
    broker = Broker({"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}", "max_connections": 0}},
                     "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}})
    await broker.start()
    try:
        yield "127.0.0.1", port
    finally:
        await broker.shutdown()


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One MQTT packet from a client: its first byte and its body. Raises IncompleteReadError at the end."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return first, await reader.readexactly(length)


@contextlib.asynccontextmanager
async def scripted_broker(reply: Callable[[int, bytes], bytes | None]) -> AsyncIterator[tuple[int, list[int]]]:
    """A TCP server that answers each packet (type, body) with `reply(...)`; None: no answer. Yields its port and
    the packet types it received."""
    received: list[int] = []
    sessions: set[asyncio.Task[Any]] = set()

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sessions.add(task)
        try:
            while True:
                first, body = await read_packet(reader)
                received.append(first >> 4)
                answer = reply(first >> 4, body)
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            sessions.discard(task)

    port = free_port()
    server = await asyncio.start_server(session, "127.0.0.1", port)
    try:
        yield port, received
    finally:
        server.close()
        for task in list(sessions):
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)
        await server.wait_closed()
