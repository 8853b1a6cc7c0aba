"""One Modbus TCP connection per host:port, shared by every unit id behind it.

`max_in_flight` is how many requests may wait for an answer on the connection at once. The default, 1, is what
every device tolerates: many Modbus TCP-to-serial gateways (and some devices) answer one request at a time and mix
up interleaved ones. Devices that queue requests (the Modbus TCP specification allows a client several transactions
in flight) can be given more in the manifest; answers are matched by transaction id either way (`mbap`).

The link connects on first use and after a failure (the polling coordinators own the backoff); one connection
attempt at a time. Every request has a timeout. Failure policy, so one dead unit id behind a gateway does not cut off
the others: a timeout closes the connection only when nothing at all arrived on it since the request went out (a
silent link: half-open TCP, rebooted device); an exception response leaves it open; a protocol error or a lost
connection closes it. Errors become `ModbusError` naming the device, unit id, link, table and address.
"""

from __future__ import annotations

import asyncio
import logging

from gateways.modbus import mbap
from gateways.modbus.profile import Table

log = logging.getLogger(__name__)


class ModbusError(Exception):
    """A Modbus request failed: timeout, connection refused or lost, an exception response or a malformed answer."""


class ModbusLink:
    """A lazily connected Modbus TCP client. Not thread-safe; one event loop."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 2.0, max_in_flight: int = 1) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.max_in_flight = max_in_flight
        self._slots = asyncio.Semaphore(max_in_flight)
        self._connect_lock = asyncio.Lock()
        self._protocol: mbap.MbapProtocol | None = None
        self.requests = 0
        self.connects = 0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        p = self._protocol
        return p is not None and p.transport is not None and not p.transport.is_closing()

    async def _ensure(self) -> mbap.MbapProtocol:
        p = self._protocol
        if p is not None and p.transport is not None and not p.transport.is_closing():
            return p
        async with self._connect_lock:
            p = self._protocol
            if p is not None and p.transport is not None and not p.transport.is_closing():
                return p
            self.close()
            try:
                p = await mbap.open_connection(self.host, self.port, self.timeout_s)
            except mbap.MbapError as exc:
                raise ModbusError(f"{self.name}: {exc}") from None
            self._protocol = p
            self.connects += 1
            return p

    def close(self) -> None:
        if self._protocol is not None:
            if self._protocol.transport is not None:
                self._protocol.transport.close()
            self._protocol = None

    async def _call(self, unit_id: int, pdu: bytes, what: str, device: str) -> bytes:
        async with self._slots:
            p = await self._ensure()
            self.requests += 1
            sent_at = asyncio.get_running_loop().time()
            try:
                return await p.request(unit_id, pdu, self.timeout_s)
            except mbap.MbapException as exc:
                raise ModbusError(f"device={device} unit={unit_id} link={self.name} {what}: {exc}") from None
            except mbap.MbapTimeout as exc:
                if p.last_rx < sent_at:
                    p.abort(f"link silent for {self.timeout_s:g} s")
                raise ModbusError(f"device={device} unit={unit_id} link={self.name} {what}: {exc}") from None
            except mbap.MbapError as exc:
                raise ModbusError(f"device={device} unit={unit_id} link={self.name} {what}: {exc}") from None

    async def read(self, table: Table, address: int, count: int, *, unit_id: int, device: str = "") -> list[int]:
        """Read `count` registers or bits; bits come back as 0/1. Raises ModbusError."""
        function = mbap.READ_FUNCTIONS[table]
        what = f"read {table}@{address}+{count}"
        data = await self._call(unit_id, mbap.read_pdu(function, address, count), what, device)
        try:
            return mbap.decode_read(function, count, data)
        except mbap.MbapError as exc:
            raise ModbusError(f"device={device} unit={unit_id} link={self.name} {what}: {exc}") from None

    async def write_registers(self, address: int, values: list[int], *, unit_id: int, device: str = "") -> None:
        """Write a block of holding registers in one FC16 request. Raises ModbusError (ValueError for values that
        are not registers: nothing is sent)."""
        what = f"write holding@{address}+{len(values)}"
        data = await self._call(unit_id, mbap.write_registers_pdu(address, values), what, device)
        try:
            mbap.check_write_echo(address, len(values), data)
        except mbap.MbapError as exc:
            raise ModbusError(f"device={device} unit={unit_id} link={self.name} {what}: {exc}") from None
