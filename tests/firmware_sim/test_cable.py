"""The cable of a simulated MQTT device: bytes both ways, a cut ends both connections, no broker ends the device's."""

from __future__ import annotations

import asyncio

import pytest

from firmware_sim.cable import Cable
from tests.servers import free_port


async def test_bytes_go_both_ways_and_a_cut_resets_both_ends() -> None:
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    got_peer = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        got_peer.set()
        data = await reader.readexactly(5)
        writer.write(data.upper())
        await writer.drain()
        try:
            rest = await reader.read()          # until the cable is cut
            ended.set_result(f"eof after {rest!r}")
        except ConnectionResetError:
            ended.set_result("reset")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cable = Cable("cab-1")
    async with cable.laid("127.0.0.1", port) as (host, near_port):
        reader, writer = await asyncio.open_connection(host, near_port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"HELLO"
        await got_peer.wait()
        cable.cut()
        # the device's end is reset: no more data, the connection is gone
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()
    # the broker's end saw the connection end without a DISCONNECT (nothing after "hello"): it publishes the Will
    assert await asyncio.wait_for(ended, 5) in ("eof after b''", "reset")
    server.close()
    await server.wait_closed()


async def test_a_broker_that_cannot_be_reached_resets_the_device() -> None:
    cable = Cable("cab-2")
    async with cable.laid("127.0.0.1", free_port()) as (host, near_port):
        reader, writer = await asyncio.open_connection(host, near_port)
        writer.write(b"\x10\x00")
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()
