"""The cable of a simulated MQTT device: bytes both ways, a cut ends both connections with nothing more sent, a
goodbye crosses before the cable is taken up, and a broker that cannot be reached is an error before any client."""

from __future__ import annotations

import asyncio

import pytest

from firmware_sim.cable import Cable
from tests.servers import free_port


class Peer:
    """The broker's side: echoes the first 5 bytes upper-cased, then records what else comes and how it ended."""

    def __init__(self) -> None:
        self.ended: asyncio.Future[tuple[bytes, str]] = asyncio.get_running_loop().create_future()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.readexactly(5)
        writer.write(data.upper())
        await writer.drain()
        try:
            rest = await reader.read()
            self.ended.set_result((rest, "eof"))
        except ConnectionResetError:
            self.ended.set_result((b"", "reset"))
        writer.close()


async def test_a_cut_ends_both_sides_and_nothing_more_reaches_the_broker() -> None:
    peer = Peer()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    cable = Cable("cab-1")
    async with cable.laid("127.0.0.1", server.sockets[0].getsockname()[1]) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"HELLO"
        cable.cut()
        writer.write(b"\xe0\x00")               # a DISCONNECT written after the cut never arrives
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()
    assert await asyncio.wait_for(peer.ended, 5) in ((b"", "eof"), (b"", "reset"))
    server.close()
    await server.wait_closed()


async def test_a_goodbye_crosses_before_the_cable_is_taken_up() -> None:
    peer = Peer()
    server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
    async with Cable("cab-2").laid("127.0.0.1", server.sockets[0].getsockname()[1]) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"HELLO"
        writer.write(b"\xe0\x00")               # DISCONNECT, then the client closes at once
        writer.close()
    assert await asyncio.wait_for(peer.ended, 5) == (b"\xe0\x00", "eof")
    server.close()
    await server.wait_closed()


async def test_a_broker_that_cannot_be_reached_is_an_error_before_the_client() -> None:
    with pytest.raises(OSError):
        async with Cable("cab-3").laid("127.0.0.1", free_port()):
            pytest.fail("no address for a client without a broker")
