"""One Modbus TCP connection per host:port, shared by every unit id behind it, one request at a time.

Modbus TCP gateways (and many devices) answer one request at a time and mix up interleaved ones; so every request
takes the link's lock. The link connects on first use and after a failure (no background reconnect by pymodbus:
the polling coordinators own the backoff). Every request has a timeout. Errors become `ModbusError` naming the
device, unit id, table and address.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from gateways.modbus.profile import Table

log = logging.getLogger(__name__)


class ModbusError(Exception):
    """A Modbus request failed: timeout, connection refused or lost, or an exception response."""


class ModbusLink:
    """A lazily connected pymodbus client with a lock. Not thread-safe; one event loop."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.lock = asyncio.Lock()
        self._client: AsyncModbusTcpClient | None = None
        self.requests = 0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"

    async def _ensure(self) -> AsyncModbusTcpClient:
        client = self._client
        if client is not None and client.connected:
            return client
        if client is not None:
            client.close()
        # retries=0: a failed request is reported at once; the coordinator decides when to try again.
        client = AsyncModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0,
                                      reconnect_delay=0, name=f"modbus-{self.name}")
        try:
            ok = await asyncio.wait_for(client.connect(), self.timeout_s)
        except (TimeoutError, OSError) as exc:
            client.close()
            raise ModbusError(f"{self.name}: cannot connect: {exc or 'timeout'}") from None
        if not ok:
            client.close()
            raise ModbusError(f"{self.name}: cannot connect")
        transport = getattr(client.ctx, "transport", None) if hasattr(client, "ctx") else None
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        return client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def read(self, table: Table, address: int, count: int, *, unit_id: int, device: str = "") -> list[int]:
        """Read `count` registers or bits; bits come back as 0/1. Raises ModbusError."""
        async with self.lock:
            client = await self._ensure()
            try:
                if table == "holding":
                    coro = client.read_holding_registers(address, count=count, device_id=unit_id)
                elif table == "input":
                    coro = client.read_input_registers(address, count=count, device_id=unit_id)
                elif table == "coil":
                    coro = client.read_coils(address, count=count, device_id=unit_id)
                else:
                    coro = client.read_discrete_inputs(address, count=count, device_id=unit_id)
                self.requests += 1
                # asyncio.timeout, not wait_for: no extra task per request on this hot path.
                async with asyncio.timeout(self.timeout_s * 1.5):
                    result = await coro
            except (TimeoutError, ModbusException, OSError) as exc:
                self.close()
                raise ModbusError(f"device={device} unit={unit_id} link={self.name} read {table}@{address}"
                                  f"+{count}: {exc or 'timeout'}") from None
        if result.isError():
            raise ModbusError(f"device={device} unit={unit_id} link={self.name} read {table}@{address}+{count}: "
                              f"exception response {result}")
        if table in ("coil", "discrete"):
            return [1 if b else 0 for b in result.bits[:count]]
        return list(result.registers)

    async def write_registers(self, address: int, values: list[int], *, unit_id: int, device: str = "") -> None:
        """Write a block of holding registers in one FC16 request. Raises ModbusError."""
        async with self.lock:
            client = await self._ensure()
            try:
                self.requests += 1
                async with asyncio.timeout(self.timeout_s * 1.5):
                    result = await client.write_registers(address, values, device_id=unit_id)
            except (TimeoutError, ModbusException, OSError) as exc:
                self.close()
                raise ModbusError(f"device={device} unit={unit_id} link={self.name} write holding@{address}"
                                  f"+{len(values)}: {exc or 'timeout'}") from None
        if result.isError():
            raise ModbusError(f"device={device} unit={unit_id} link={self.name} write holding@{address}: "
                              f"exception response {result}")
