"""Device-state reads per second through the control API, against a bare FastAPI endpoint in the same run.

    python -m benchmarks.api [--seconds 5] [--concurrency 16] [--devices 50]

Each server runs in its own process under uvicorn on a free loopback port (so the load generator does not share
its GIL); the client is a minimal asyncio HTTP/1.1 client with `concurrency` keep-alive connections. The API side is
the real application: JWT check, scope check, the live device cache fed by the bus (an in-memory bus holding the
retained birth, status and state of `devices` signal controllers), SQLite config DB. The bare side returns the same
JSON document as a constant, without auth. The last line is `RESULT api key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from controllers.bus import BusMessage
from controllers.clock import SystemClock, to_rfc3339


class MemoryBus:
    """Retained messages only: enough to feed the API's device cache at start-up."""

    def __init__(self, retained: list[BusMessage]) -> None:
        self.retained = retained

    async def publish(self, topic: str, payload: bytes | dict[str, Any], *, qos: int = 1,
                      retain: bool = False) -> None:
        return None

    @asynccontextmanager
    async def subscribe(self, *filters: str, queue_size: int = 10_000) -> AsyncIterator[AsyncIterator[BusMessage]]:
        async def messages() -> AsyncIterator[BusMessage]:
            for msg in self.retained:
                yield msg
            await asyncio.Event().wait()  # then silence, as a quiet fleet

        yield messages()


def fleet(devices: int) -> list[BusMessage]:
    ts = to_rfc3339(datetime.now(UTC))
    out = []
    for n in range(devices):
        sig = f"sl/v1/tn/tsc-{n:03d}"
        phases = {str(p): ("green" if p in (2, 6) else "red") for p in range(1, 9)}
        out += [
            BusMessage(f"{sig}/birth", json.dumps({"ts": ts, "bd_seq": 1, "kind": "signal_controller",
                                                   "model": "bench", "firmware": "1", "capabilities": []}).encode()),
            BusMessage(f"{sig}/status", b'{"status":"online"}'),
            BusMessage(f"{sig}/state", json.dumps({"ts": ts, "seq": 1, "kind": "signal_controller", "values": {
                "mode": "coordinated", "pattern": 1, "cycle_timer_s": 12.0, "phases": phases,
                "peds": {"2": "walk", "4": "dont_walk", "6": "walk", "8": "dont_walk"}}}).encode()),
        ]
    return out


def _serve_api(sock: socket.socket, db_path: str, devices: int, secret: str, ready: Any) -> None:
    import uvicorn

    from api.app import ApiDeps, create_app
    from api.config import ApiSettings
    from api.users import create_user

    settings = ApiSettings(db_url=f"sqlite+aiosqlite:///{db_path}", environment="production", secret_key=secret)
    # Tokens are honoured only for an active user: the benchmark's token names this one.
    asyncio.run(create_user(settings.db_url, "bench", "bench-password", "viewer"))
    app = create_app(ApiDeps(settings=settings, bus=MemoryBus(fleet(devices)), telemetry=None, clock=SystemClock()))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    ready.set()
    server.run(sockets=[sock])


def _serve_bare(sock: socket.socket, body: bytes, ready: Any) -> None:
    import uvicorn
    from fastapi import FastAPI, Response

    app = FastAPI()

    @app.get("/bare/{device_id}")
    async def bare(device_id: str) -> Response:
        return Response(body, media_type="application/json")

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    ready.set()
    server.run(sockets=[sock])


def _socket() -> socket.socket:
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only for that proto; without it each
    # response (headers, then body) waits ~40 ms on Nagle and the peer's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


async def _wait_up(url: str, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(url, headers=headers)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {url} did not come up")


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams: the load generator must be much cheaper than
    the servers it measures (httpx costs more per request than a bare FastAPI endpoint)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}\r\n".encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await asyncio.wait_for(self.reader.readexactly(length), 10)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def load(base: str, paths: list[str], headers: dict[str, str], seconds: float,
               concurrency: int) -> dict[str, float]:
    """GET `paths` round-robin from `concurrency` keep-alive connections for `seconds`: reads/s, latency (ms)."""
    url = httpx.URL(base)
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        client = RawClient(url.host, url.port or 80, headers)
        i = offset
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await client.get(paths[i % len(paths)])
                latencies.append(time.perf_counter() - started)
                errors += status != 200
                i += 1
        finally:
            await client.close()

    began = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for w in range(concurrency):
            tg.create_task(worker(w))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"reads_per_s": len(latencies) / elapsed, "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, "errors": errors,
            "n": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--devices", type=int, default=50)
    args = parser.parse_args()

    from api.security import Role, issue_token

    secret = "benchmark-secret-" + "x" * 32
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        api_sock, bare_sock = _socket(), _socket()
        api_ready, bare_ready = ctx.Event(), ctx.Event()
        api_proc = ctx.Process(target=_serve_api, args=(api_sock, str(Path(tmp) / "bench.db"), args.devices,
                                                        secret, api_ready), daemon=True)
        api_url = f"http://127.0.0.1:{api_sock.getsockname()[1]}"
        bare_url = f"http://127.0.0.1:{bare_sock.getsockname()[1]}"
        token, _ = issue_token(secret, subject="bench", role=Role.VIEWER, typ="access", now=datetime.now(UTC),
                               ttl_s=3600)
        auth = {"Authorization": f"Bearer {token}"}
        api_proc.start()
        try:
            asyncio.run(_wait_up(f"{api_url}/api/v1/devices/tsc-{args.devices - 1:03d}", auth))
            body = httpx.get(f"{api_url}/api/v1/devices/tsc-000", headers=auth).content
            bare_proc = ctx.Process(target=_serve_bare, args=(bare_sock, body, bare_ready), daemon=True)
            bare_proc.start()
            try:
                asyncio.run(_wait_up(f"{bare_url}/bare/x", {}))
                ids = [f"tsc-{n:03d}" for n in range(args.devices)]
                print(f"devices={args.devices} concurrency={args.concurrency} seconds={args.seconds} "
                      f"body_bytes={len(body)}")
                bare = asyncio.run(load(bare_url, [f"/bare/{i}" for i in ids], {}, args.seconds, args.concurrency))
                print(f"bare FastAPI   : {bare['reads_per_s']:8.0f} reads/s  p50 {bare['p50_ms']:.2f} ms  "
                      f"p99 {bare['p99_ms']:.2f} ms  errors {bare['errors']:.0f}")
                one = asyncio.run(load(api_url, [f"/api/v1/devices/{i}" for i in ids], auth, args.seconds,
                                       args.concurrency))
                print(f"API one device : {one['reads_per_s']:8.0f} reads/s  p50 {one['p50_ms']:.2f} ms  "
                      f"p99 {one['p99_ms']:.2f} ms  errors {one['errors']:.0f}")
                fleet_list = asyncio.run(load(api_url, ["/api/v1/devices"], auth, args.seconds, args.concurrency))
                print(f"API fleet list : {fleet_list['reads_per_s']:8.0f} reads/s  p50 {fleet_list['p50_ms']:.2f} "
                      f"ms  p99 {fleet_list['p99_ms']:.2f} ms  ({args.devices} devices each)")
            finally:
                bare_proc.terminate()
                bare_proc.join(10)
        finally:
            api_proc.terminate()
            api_proc.join(10)
    ratio = one["reads_per_s"] / bare["reads_per_s"]
    print(f"RESULT api device_reads_per_s={one['reads_per_s']:.0f} bare_reads_per_s={bare['reads_per_s']:.0f} "
          f"ratio={ratio:.2f} p99_ms={one['p99_ms']:.2f} list_reads_per_s={fleet_list['reads_per_s']:.0f} "
          f"errors={one['errors'] + bare['errors'] + fleet_list['errors']:.0f} devices={args.devices}")


if __name__ == "__main__":
    main()
