"""What the parts need from the MQTT bus, as a protocol.

The API and the scheduler talk to gateways only over the bus; they receive a `BusPort` from the composition root
(`signalight`), which wires the implementation of `gateways.mqtt`. Unit tests use an in-memory fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class BusMessage:
    topic: str
    payload: bytes
    retain: bool = False
    qos: int = 0


class BusPort(Protocol):
    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        """Publish; a dict is sent as compact UTF-8 JSON. Raises `BusError` when the broker cannot be reached
        within the bus's publish timeout."""
        ...

    def subscribe(self, *filters: str, queue_size: int = 10_000) -> AbstractAsyncContextManager[
            AsyncIterator[BusMessage]]:
        """A subscription that survives reconnects (the bus resubscribes), as an async context manager
        yielding an async iterator of messages. Its queue holds `queue_size` messages; when full, the
        oldest is dropped and counted (a consumer this slow has already lost the live picture) —
        consumers that must not lose messages (the recorder) use a persistent session instead."""
        ...


class BusError(Exception):
    """The bus could not do what was asked (not connected within the timeout, publish refused)."""
