"""Watching a broker in the simulator tests: collect what devices publish, check it against the contract, wait for
a message."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiomqtt

from firmware_sim.schemas import check


async def collect(client: aiomqtt.Client, into: list[tuple[str, dict[str, Any], bool]],
                  seen: asyncio.Event | None = None) -> None:
    async for msg in client.messages:
        assert isinstance(msg.payload, bytes)
        payload = json.loads(msg.payload)
        into.append((str(msg.topic), payload, bool(msg.retain)))
        if seen is not None:
            seen.set()


def validate_all(messages: list[tuple[str, dict[str, Any], bool]]) -> None:
    for topic, payload, _ in messages:
        suffix = topic.split("/", 4)[4]
        if suffix != "cmd":
            check(suffix, payload)


async def wait_for(messages: list[tuple[str, dict[str, Any], bool]], pred: Any, timeout_s: float = 10) -> Any:
    async with asyncio.timeout(timeout_s):
        while True:
            for m in messages:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
