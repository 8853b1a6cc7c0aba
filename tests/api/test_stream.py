"""The SSE stream over a real HTTP server (uvicorn on a free port): snapshot, live events, filter, resume."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from tests.api.conftest import Harness
from tests.api.fakes import cabinet_state, signal_state


@pytest.fixture
async def base_url(harness: Harness) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # so asyncio sets TCP_NODELAY
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(harness.app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes no started event
            await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    sock.close()


class Events:
    """SSE events of one response, read from a single line iterator."""

    def __init__(self, resp: httpx.Response) -> None:
        self._lines = resp.aiter_lines()

    async def next(self, count: int) -> list[dict[str, Any]]:
        """The next `count` events (comments and retry lines skipped)."""
        events: list[dict[str, Any]] = []
        current: dict[str, Any] = {}
        async with asyncio.timeout(10):
            async for line in self._lines:
                if line.startswith("id: "):
                    current["id"] = line[4:]
                elif line.startswith("event: "):
                    current["event"] = line[7:]
                elif line.startswith("data: "):
                    current["data"] = json.loads(line[6:])
                elif line == "" and "event" in current:
                    events.append(current)
                    current = {}
                    if len(events) == count:
                        return events
        raise AssertionError(f"stream ended after {events}")


async def test_snapshot_live_and_resume(harness: Harness, base_url: str) -> None:
    headers = await harness.login("viewer")
    async with httpx.AsyncClient(base_url=base_url) as client:
        async with client.stream("GET", "/api/v1/stream", headers=headers) as resp:
            assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
            events = Events(resp)
            [snap] = await events.next(1)
            assert snap["event"] == "snapshot"
            assert {d["id"] for d in snap["data"]["devices"]} == {"tsc-001", "lc-001"}
            await harness.bus.publish("sl/v1/tn/tsc-001/state", signal_state(harness.clock.now(), seq=2,
                                                                             mode="flash"), retain=True)
            [live] = await events.next(1)
            assert live["event"] == "state" and live["data"]["device"] == "tsc-001"
            assert live["data"]["data"]["values"]["mode"] == "flash"
        last_id = live["id"]
        # Missed while disconnected: a state change and the alarm it raises.
        await harness.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(harness.clock.now(), seq=3, door_open=True),
                                  retain=True)
        await harness.settle()
        async with client.stream("GET", "/api/v1/stream", headers={**headers, "Last-Event-ID": last_id}) as resp:
            missed = await Events(resp).next(2)
        assert [(e["event"], e["data"]["device"]) for e in missed] == [("state", "lc-001"), ("alarm", "lc-001")]
        assert missed[1]["data"]["data"]["kind"] == "door_open"
        async with client.stream("GET", "/api/v1/stream", headers={**headers, "Last-Event-ID": "other.5"}) as resp:
            [snap] = await Events(resp).next(1)
        assert snap["event"] == "snapshot", "an id from another process gets a fresh snapshot"


async def test_filter_and_query_token(harness: Harness, base_url: str) -> None:
    token = (await harness.login("viewer"))["Authorization"].removeprefix("Bearer ")
    async with httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/api/v1/stream")).status_code == 401
        async with client.stream("GET", "/api/v1/stream",
                                 params={"access_token": token, "device": "lc-001"}) as resp:
            events = Events(resp)
            [snap] = await events.next(1)
            assert [d["id"] for d in snap["data"]["devices"]] == ["lc-001"]
            await harness.bus.publish("sl/v1/tn/tsc-001/state", signal_state(harness.clock.now(), seq=4), retain=True)
            await harness.bus.publish("sl/v1/tn/lc-001/state", cabinet_state(harness.clock.now(), seq=5), retain=True)
            [only] = await events.next(1)
            assert only["data"]["device"] == "lc-001"


async def test_keepalive_comment(harness: Harness, base_url: str) -> None:
    headers = await harness.login("viewer")
    async with httpx.AsyncClient(base_url=base_url) as client, client.stream(
            "GET", "/api/v1/stream", params={"keepalive": 0.05}, headers=headers) as resp:
        async with asyncio.timeout(5):
            async for line in resp.aiter_lines():
                if line == ": keepalive":
                    break


async def test_stream_ends_when_the_token_expires(harness: Harness, base_url: str) -> None:
    headers = harness.token("viewer")
    async with httpx.AsyncClient(base_url=base_url) as client, client.stream(
            "GET", "/api/v1/stream", params={"keepalive": 0.05}, headers=headers) as resp:
        events = Events(resp)
        await events.next(1)
        await harness.clock.advance(harness.state.settings.access_token_ttl_s + 1)
        async with asyncio.timeout(5):
            async for _ in events._lines:
                pass  # the server closes the stream
