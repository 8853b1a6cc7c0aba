"""Our Modbus TCP client: framing against a recording transport, then against a real pymodbus server and against
misbehaving servers (silent, one dead unit behind a gateway, wrong answers)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Callable

import pytest

from gateways.modbus import mbap
from gateways.modbus.link import ModbusError, ModbusLink
from gateways.modbus.profile import load_profile
from tests.gateways.modbus_device import ModbusTestDevice
from tests.servers import free_port


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def answer(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def registers(function: int, values: list[int]) -> bytes:
    return bytes([function, 2 * len(values)]) + struct.pack(f">{len(values)}H", *values)


def connected() -> tuple[mbap.MbapProtocol, RecordingTransport]:
    p = mbap.MbapProtocol()
    t = RecordingTransport()
    p.connection_made(t)
    return p, t


def tid_of(frame: bytes) -> int:
    return int(struct.unpack_from(">H", frame)[0])


async def test_request_frame_and_answers_split_and_joined_across_chunks() -> None:
    p, t = connected()
    a = p.request(5, mbap.read_pdu(4, 100, 2), 1.0)
    b = p.request(6, mbap.read_pdu(3, 0, 1), 1.0)
    assert t.written[0] == struct.pack(">HHHBBHH", tid_of(t.written[0]), 0, 6, 5, 4, 100, 2)
    stream = answer(tid_of(t.written[1]), 6, registers(3, [7])) + answer(tid_of(t.written[0]), 5, registers(4, [1, 2]))
    for i in range(0, len(stream), 3):  # three bytes at a time: every frame is split somewhere
        p.data_received(stream[i:i + 3])
    assert mbap.decode_read(4, 2, await a) == [1, 2] and mbap.decode_read(3, 1, await b) == [7]
    assert p.in_flight == 0


async def test_exception_response_fails_only_its_request() -> None:
    p, t = connected()
    a = p.request(1, mbap.read_pdu(3, 9000, 1), 1.0)
    b = p.request(1, mbap.read_pdu(3, 0, 1), 1.0)
    p.data_received(answer(tid_of(t.written[0]), 1, bytes([0x83, 2])) + answer(tid_of(t.written[1]), 1,
                                                                                 registers(3, [42])))
    with pytest.raises(mbap.MbapException, match="illegal data address"):
        await a
    assert mbap.decode_read(3, 1, await b) == [42]
    assert not t.aborted


@pytest.mark.parametrize("bad", [
    lambda tid: answer(tid, 9, registers(3, [1])),  # another unit answers
    lambda tid: answer(tid, 1, registers(4, [1])),  # another function answers
    lambda tid: struct.pack(">HHHB", tid, 1, 3, 1) + bytes([3, 0]),  # protocol id 1
    lambda tid: struct.pack(">HHHB", tid, 0, 300, 1) + bytes(8),  # length beyond a Modbus ADU
])
async def test_protocol_errors_close_the_connection_and_fail_every_waiting_request(
        bad: Callable[[int], bytes]) -> None:
    p, t = connected()
    a = p.request(1, mbap.read_pdu(3, 0, 1), 1.0)
    b = p.request(2, mbap.read_pdu(3, 0, 1), 1.0)
    p.data_received(bad(tid_of(t.written[0])))
    assert t.aborted
    for f in (a, b):
        with pytest.raises(mbap.MbapError, match="protocol error"):
            await f


async def test_timeout_then_late_answer_is_dropped_and_counted() -> None:
    p, t = connected()
    a = p.request(1, mbap.read_pdu(3, 0, 1), 0.01)
    with pytest.raises(mbap.MbapTimeout):
        await a
    p.data_received(answer(tid_of(t.written[0]), 1, registers(3, [1])))
    assert p.late == 1 and not t.aborted and p.in_flight == 0


async def test_transaction_ids_wrap_and_skip_those_in_flight() -> None:
    p, t = connected()
    p._next_tid = 0xFFFF
    held = p.request(1, mbap.read_pdu(3, 0, 1), 5.0)  # tid 0xFFFF stays in flight
    p._next_tid = 0xFFFF
    p.request(1, mbap.read_pdu(3, 0, 1), 5.0)
    assert [tid_of(w) for w in t.written] == [0xFFFF, 1]
    p.abort("test over")
    with pytest.raises(mbap.MbapError):
        await held


@pytest.mark.parametrize(("call", "message"), [
    (lambda: mbap.read_pdu(3, 0, 126), "count 126 outside 1..125"),
    (lambda: mbap.read_pdu(1, 65535, 2), "outside 0..65535"),
    (lambda: mbap.write_registers_pdu(10, [1, 70000]), "register 11: value 70000 outside 0..65535"),
    (lambda: mbap.write_registers_pdu(10, []), "write of 0 registers"),
])
def test_requests_out_of_range_are_refused_before_sending(call: Callable[[], bytes], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_malformed_read_answers_are_errors() -> None:
    with pytest.raises(mbap.MbapError, match="4 bytes for 1 registers"):
        mbap.decode_read(3, 1, bytes([4, 0, 1, 0, 2]))
    with pytest.raises(mbap.MbapError, match="does not match"):
        mbap.decode_read(3, 1, bytes([2, 0]))
    assert mbap.decode_read(1, 10, bytes([2, 0b10000101, 0b10])) == [1, 0, 1, 0, 0, 0, 0, 1, 0, 1]
    with pytest.raises(mbap.MbapError, match="does not echo"):
        mbap.check_write_echo(10, 2, struct.pack(">HH", 10, 3))


# --- against servers ------------------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def device(units: tuple[int, ...] = (1, 2)) -> AsyncIterator[ModbusTestDevice]:
    dev = ModbusTestDevice(load_profile("signal-controller-v1"), units)
    await dev.start()
    try:
        yield dev
    finally:
        await dev.stop()


async def test_reads_and_writes_on_a_pymodbus_server() -> None:
    async with device() as dev:
        dev.memory[1].set_raw("input", 0, list(range(100, 125)))
        dev.memory[2].set_raw("holding", 10, [65535, 0, 1])
        dev.memory[2].set_raw("coil", 0, [1, 0, 1, 1])
        # One request at a time (the default): pymodbus 3.16's server answers only the first of several requests
        # that arrive in one TCP segment (pymodbus issue #2933), as many a real Modbus gateway would.
        link = ModbusLink("127.0.0.1", dev.port)
        try:
            results = await asyncio.gather(*(link.read("input", 0, 25, unit_id=1) for _ in range(40)))
            assert all(r == list(range(100, 125)) for r in results)
            assert await link.read("holding", 10, 3, unit_id=2) == [65535, 0, 1]
            assert await link.read("coil", 0, 4, unit_id=2) == [1, 0, 1, 1]
            await link.write_registers(200, [1, 2, 3], unit_id=2)
            assert dev.memory[2].tables["holding"][200:203] == [1, 2, 3]
            with pytest.raises(ModbusError, match=r"device=sc-1 unit=1 .* holding@9000\+4: .*illegal data address"):
                await link.read("holding", 9000, 4, unit_id=1, device="sc-1")
            assert await link.read("input", 0, 1, unit_id=1) == [100]  # an exception response keeps the link
            assert link.connects == 1
        finally:
            link.close()


@contextlib.asynccontextmanager
async def serve(handler: Callable[[int, int, bytes], bytes | None]) -> AsyncIterator[int]:
    """A Modbus TCP server answering each request with handler(tid, unit, pdu), or not at all for None. Yields its
    port; closes every connection on exit."""
    writers: list[asyncio.StreamWriter] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                pdu = await reader.readexactly(length - 1)
                out = handler(tid, unit, pdu)
                if out is not None:
                    writer.write(out)

    port = free_port()
    server = await asyncio.start_server(client, "127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        for w in writers:
            w.close()
        await server.wait_closed()
        await asyncio.sleep(0)


async def test_pipelined_requests_are_matched_by_transaction_id() -> None:
    seen: list[int] = []

    def handler(tid: int, unit: int, pdu: bytes) -> bytes:
        _, address, _ = struct.unpack(">BHH", pdu)
        seen.append(tid)
        return answer(tid, unit, registers(3, [address, unit]))

    async with serve(handler) as port:
        link = ModbusLink("127.0.0.1", port, max_in_flight=8)
        try:
            got = await asyncio.gather(*(link.read("holding", a, 2, unit_id=a % 7 + 1) for a in range(200)))
            assert got == [[a, a % 7 + 1] for a in range(200)]
            assert len(set(seen)) > 8 and link.connects == 1
        finally:
            link.close()


async def test_a_dead_unit_behind_a_gateway_does_not_cut_off_the_others() -> None:
    async with serve(lambda tid, unit, pdu: answer(tid, unit, registers(3, [unit])) if unit == 1 else None) as port:
        link = ModbusLink("127.0.0.1", port, timeout_s=0.3, max_in_flight=4)
        try:
            async def alive() -> list[list[int]]:
                out = []
                for _ in range(10):
                    out.append(await link.read("holding", 0, 1, unit_id=1))
                    await asyncio.sleep(0.05)
                return out

            dead, ok = await asyncio.gather(link.read("holding", 0, 1, unit_id=2), alive(), return_exceptions=True)
            assert isinstance(dead, ModbusError) and "unit=2" in str(dead) and "no answer within 0.3 s" in str(dead)
            assert ok == [[1]] * 10
            assert link.connects == 1  # answers kept arriving: the connection stayed up
        finally:
            link.close()


async def test_a_silent_link_is_closed_and_reconnected() -> None:
    silent = True
    async with serve(lambda tid, unit, pdu: None if silent else answer(tid, unit, registers(3, [5]))) as port:
        link = ModbusLink("127.0.0.1", port, timeout_s=0.2)
        try:
            with pytest.raises(ModbusError, match=r"no answer within 0\.2 s"):
                await link.read("holding", 0, 1, unit_id=1)
            assert not link.connected  # nothing at all came back: presumed dead (half-open TCP, rebooted device)
            silent = False
            assert await link.read("holding", 0, 1, unit_id=1) == [5]
            assert link.connects == 2
        finally:
            link.close()


async def test_refused_connection_names_the_link() -> None:
    port = free_port()
    link = ModbusLink("127.0.0.1", port, timeout_s=1)
    with pytest.raises(ModbusError, match=f"127.0.0.1:{port}: cannot connect"):
        await link.read("holding", 0, 1, unit_id=1)


async def test_max_in_flight_one_never_interleaves() -> None:
    in_flight = 0
    peak = 0
    pending: list[tuple[int, int]] = []

    def handler(tid: int, unit: int, pdu: bytes) -> bytes | None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        pending.append((tid, unit))
        return None

    async with serve(handler) as port:
        link = ModbusLink("127.0.0.1", port, timeout_s=2)
        try:
            tasks = [asyncio.create_task(link.read("holding", 0, 1, unit_id=u)) for u in (1, 2, 3)]
            for _ in range(3):
                for _ in range(100):
                    await asyncio.sleep(0.01)
                    if pending:
                        break
                assert len(pending) == 1  # the next request waits for this answer
                tid, unit = pending.pop()
                assert link._protocol is not None and link._protocol.transport is not None
                link._protocol.data_received(answer(tid, unit, registers(3, [unit])))
                in_flight -= 1
            assert [await t for t in tasks] == [[1], [2], [3]]
            assert peak == 1
        finally:
            link.close()
