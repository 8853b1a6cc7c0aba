"""paho's socket wrapper: reads buffered, writes gathered per event-loop iteration, nothing lost or reordered."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

import pytest

from gateways.mqtt_socket import BufferedSocket


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


async def test_small_reads_are_served_from_one_system_call() -> None:
    a, b = pair()
    s = BufferedSocket(a, asyncio.get_running_loop())
    try:
        with pytest.raises(BlockingIOError):
            s.recv(1)
        b.sendall(b"\x40\x02\x00\x01" * 3)
        await asyncio.sleep(0.01)
        assert s.recv(1) == b"\x40" and s.pending() == 11
        assert s.recv(1) == b"\x02" and s.recv(2) == b"\x00\x01"
        assert s.recv(4) == b"\x40\x02\x00\x01"
        assert s.recv(100) == b"\x40\x02\x00\x01" and s.pending() == 0  # what is buffered, no more
        with pytest.raises(BlockingIOError):
            s.recv(1)
        b.close()
        assert s.recv(1) == b""  # end of stream, as from the socket itself
    finally:
        s.close()
        b.close()


async def test_writes_of_one_iteration_leave_in_one_send_in_order() -> None:
    a, b = pair()
    s = BufferedSocket(a, asyncio.get_running_loop())
    try:
        for i in range(50):
            assert s.send(bytes([i]) * 3) == 3
        assert s.sends == 0  # nothing yet: gathered until the end of this iteration
        await asyncio.sleep(0)
        assert s.sends == 1
        assert b.recv(1000) == b"".join(bytes([i]) * 3 for i in range(50))
    finally:
        s.close()
        b.close()


async def test_a_full_buffer_pushes_back_and_close_flushes() -> None:
    a, b = pair()
    s = BufferedSocket(a, asyncio.get_running_loop(), max_buffer=10)
    try:
        s.send(b"x" * 10)
        # The kernel takes the first 10 bytes when the buffer is full; paho retries what raises BlockingIOError.
        assert s.send(b"y" * 5) == 5
        sent = b"x" * 10 + b"y" * 5
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = b"z" * 10_000_000
        with pytest.raises(BlockingIOError):
            for _ in range(1000):  # until the kernel's buffer is full too
                s.send(big[:5000])
                sent += big[:5000]
        got = bytearray()
        while len(got) < len(sent):
            await asyncio.sleep(0.01)
            with contextlib.suppress(BlockingIOError):
                got += b.recv(1 << 20)
        assert bytes(got) == sent  # nothing lost, nothing reordered
        s.send(b"bye")
    finally:
        s.close()  # writes "bye" before closing
    assert b.recv(10) == b"bye"
    b.close()


async def test_other_threads_write_straight_to_the_socket() -> None:
    a, b = pair()
    s = BufferedSocket(a, asyncio.get_running_loop())
    try:
        t = threading.Thread(target=s.send, args=(b"connect",))
        t.start()
        t.join()
        assert b.recv(100) == b"connect" and s.sends == 0
    finally:
        s.close()
        b.close()


async def test_everything_else_is_the_socket() -> None:
    a, b = pair()
    s = BufferedSocket(a, asyncio.get_running_loop())
    try:
        assert s.fileno() == a.fileno() and s.getsockname() == a.getsockname()
    finally:
        s.close()
        b.close()
