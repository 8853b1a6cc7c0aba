"""Modbus TCP (MBAP framing) on an asyncio protocol: requests matched to answers by transaction id.

Why our own and not pymodbus's client: pymodbus 3.16 runs every request of a client behind one lock, through a task
per `wait_for`, its framer and its trace hooks: about 80 µs of Python a request, so one gateway process topped out
near 1,500 reads a second. A district gateway polls 2,000 devices a second. The protocol itself is small (a 7-byte
header and a PDU), and this module implements only what a polling master needs: function codes 1–4 (reads) and 16
(write multiple registers), their exception responses, and several transactions in flight on one connection when
the device allows it (the Modbus TCP specification lets a client do so; `max_in_flight` per link says how many).
pymodbus stays where it does the job well: the simulator's servers.

Answers are matched by transaction id; an answer whose unit id or function code does not match its request, a
protocol id other than 0, or a length outside 2..254 is a protocol error: the connection is closed and every
request waiting on it fails (a peer that sends such frames cannot be trusted with the next one either). An answer
for a transaction that already timed out is dropped and counted (`late`).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass

_HEADER = struct.Struct(">HHHB")  # transaction id, protocol id (0), length (unit id + PDU), unit id
_READ = struct.Struct(">BHH")  # function code, address, count (FC 1-4)
_WRITE_MULTIPLE = struct.Struct(">BHHB")  # FC 16: function, address, count, byte count

EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class MbapError(Exception):
    """A request failed: no connection, a timeout, a closed connection or a protocol error."""


class MbapTimeout(MbapError):
    """No answer within the request's timeout."""


class MbapException(MbapError):
    """The device answered with a Modbus exception response."""

    def __init__(self, function: int, code: int) -> None:
        self.function = function
        self.code = code
        super().__init__(f"exception response to function {function}: code {code} "
                         f"({EXCEPTIONS.get(code, 'unknown')})")


@dataclass(slots=True)
class _Pending:
    unit_id: int
    function: int
    future: asyncio.Future[bytes]
    timer: asyncio.TimerHandle | None = None


class MbapProtocol(asyncio.Protocol):
    """One Modbus TCP connection. `request` sends a PDU and returns a future of the answer's PDU data (after the
    function code). Not thread-safe: one event loop."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._pending: dict[int, _Pending] = {}
        self._next_tid = 1
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.late = 0
        self.error: str | None = None
        self.last_rx = 0.0  # loop time of the last bytes received

    # --- asyncio.Protocol ---------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._fail_all(self.error or f"connection lost: {exc or 'closed by peer'}")
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_rx = asyncio.get_running_loop().time()
        buf = self._buf
        buf += data
        pos = 0
        end = len(buf)
        while end - pos >= 8:
            tid, proto, length, unit = _HEADER.unpack_from(buf, pos)
            if proto != 0 or not 2 <= length <= 254:
                self.abort(f"protocol error: protocol id {proto}, length {length}")
                return
            if end - pos < 6 + length:
                break
            function = buf[pos + 7]
            body = bytes(buf[pos + 8:pos + 6 + length])
            pos += 6 + length
            pending = self._pending.pop(tid, None)
            if pending is None:
                self.late += 1
                continue
            if pending.timer is not None:
                pending.timer.cancel()
            if unit != pending.unit_id or function & 0x7F != pending.function:
                self._pending[tid] = pending  # failed with the rest below
                self.abort(f"protocol error: transaction {tid} answered by unit {unit} function {function}, "
                           f"asked unit {pending.unit_id} function {pending.function}")
                return
            if pending.future.done():
                continue
            if function & 0x80:
                pending.future.set_exception(MbapException(pending.function, body[0] if body else 0))
            else:
                pending.future.set_result(body)
        del buf[:pos]

    # --- requests -----------------------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def request(self, unit_id: int, pdu: bytes, timeout_s: float) -> asyncio.Future[bytes]:
        """Send `pdu` (function code first) to `unit_id`; the future gets the answer's data or an MbapError."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        transport = self.transport
        if transport is None or transport.is_closing():
            future.set_exception(MbapError(self.error or "not connected"))
            return future
        tid = self._next_tid
        while tid in self._pending:
            tid = tid % 0xFFFF + 1
        self._next_tid = tid % 0xFFFF + 1
        pending = _Pending(unit_id, pdu[0], future)
        pending.timer = loop.call_later(timeout_s, self._timed_out, tid, pending, timeout_s)
        self._pending[tid] = pending
        transport.write(_HEADER.pack(tid, 0, len(pdu) + 1, unit_id) + pdu)
        return future

    def _timed_out(self, tid: int, pending: _Pending, timeout_s: float) -> None:
        if self._pending.get(tid) is pending:
            del self._pending[tid]
        if not pending.future.done():
            pending.future.set_exception(MbapTimeout(f"no answer within {timeout_s:g} s"))

    def abort(self, reason: str) -> None:
        """Close the connection now; every waiting request fails with `reason`."""
        self.error = reason
        self._fail_all(reason)
        if self.transport is not None:
            self.transport.abort()

    def _fail_all(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if p.timer is not None:
                p.timer.cancel()
            if not p.future.done():
                p.future.set_exception(MbapError(reason))


async def open_connection(host: str, port: int, timeout_s: float) -> MbapProtocol:
    """Connect; raises MbapError (refused, unreachable, timeout)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            _, protocol = await loop.create_connection(MbapProtocol, host, port)
    except TimeoutError:
        raise MbapTimeout(f"cannot connect within {timeout_s:g} s") from None
    except OSError as exc:
        raise MbapError(f"cannot connect: {exc.strerror or exc}") from None
    return protocol


# --- PDUs -----------------------------------------------------------------------------------------------------------
READ_FUNCTIONS = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
MAX_READ = {1: 2000, 2: 2000, 3: 125, 4: 125}


def read_pdu(function: int, address: int, count: int) -> bytes:
    if not 1 <= count <= MAX_READ[function]:
        raise ValueError(f"function {function}: count {count} outside 1..{MAX_READ[function]}")
    if not 0 <= address <= 0xFFFF or address + count > 0x10000:
        raise ValueError(f"address {address}+{count} outside 0..65535")
    return _READ.pack(function, address, count)


def decode_read(function: int, count: int, data: bytes) -> list[int]:
    """Registers (FC 3/4) or bits as 0/1 (FC 1/2) from a read answer's data. Raises MbapError if malformed."""
    if not data or data[0] != len(data) - 1:
        raise MbapError(f"function {function}: byte count {data[0] if data else None} does not match "
                        f"{len(data) - 1} data bytes")
    if function in (3, 4):
        if data[0] != 2 * count:
            raise MbapError(f"function {function}: {data[0]} bytes for {count} registers")
        return list(struct.unpack_from(f">{count}H", data, 1))
    if data[0] != (count + 7) // 8:
        raise MbapError(f"function {function}: {data[0]} bytes for {count} bits")
    return [data[1 + i // 8] >> (i % 8) & 1 for i in range(count)]


def write_registers_pdu(address: int, values: list[int]) -> bytes:
    """FC 16 (write multiple registers), 1..123 registers of 0..65535."""
    if not 1 <= len(values) <= 123:
        raise ValueError(f"write of {len(values)} registers outside 1..123")
    if not 0 <= address <= 0xFFFF or address + len(values) > 0x10000:
        raise ValueError(f"address {address}+{len(values)} outside 0..65535")
    for i, v in enumerate(values):
        if not 0 <= v <= 0xFFFF:
            raise ValueError(f"register {address + i}: value {v} outside 0..65535")
    return _WRITE_MULTIPLE.pack(16, address, len(values), 2 * len(values)) + struct.pack(f">{len(values)}H", *values)


def check_write_echo(address: int, count: int, data: bytes) -> None:
    """FC 16's answer echoes the address and count written. Raises MbapError if it does not."""
    if len(data) != 4 or struct.unpack(">HH", data) != (address, count):
        raise MbapError(f"write of {count} registers at {address}: answer {data.hex()} does not echo them")
