"""Command round trips through a three-node NATS cluster against one NATS node, in the same run, and the failover
time of a client whose node is killed.

A responder (what a device or a gateway does with `cmd`: answer `cmd/res` at once) is connected to node 1, a
requester (what the API does) to node 3; the requester keeps `--concurrency` commands in flight for `--seconds` and
counts commands per second and the p50/p99 round trip. The same pair then runs on a single node (requester and
responder on the same node). Last, the responder's node is killed and the time until the responder is connected to
another node and a command round-trips again is measured (the failover a part sees on NATS: its reconnect, plus
JetStream's leader elections for what lived on the dead node).

    python -m benchmarks.cluster [--seconds 10] [--concurrency 16]

The machine this runs on matters: on a shared, loaded machine the figures are of that load as much as of NATS.
The last line is `RESULT cluster key=value ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.common import percentile, result_line
from controllers.bus import BusError
from gateways.mqtt import Bus, BusConfig
from tests.servers import NatsCluster

CMD = "sl/v1/bench/dev-1/cmd"
RES = "sl/v1/bench/dev-1/cmd/res"


def config(urls: list[str], client_id: str) -> BusConfig:
    return BusConfig(urls=tuple(urls), client_id=client_id, backoff_initial_s=0.05, backoff_max_s=0.5,
                     connect_timeout_s=5, keepalive_s=5)


async def responder(bus: Bus) -> None:
    async with bus.subscribe(CMD) as commands:
        async for message in commands:
            body = json.loads(message.payload)
            await bus.publish(RES, {"id": body["id"], "ok": True})


async def measure(requester_urls: list[str], responder_urls: list[str], seconds: float, concurrency: int,
                  tag: str) -> tuple[float, float, float]:
    """(commands per second, p50 ms, p99 ms)."""
    waiting: dict[str, asyncio.Future[None]] = {}
    rtts: list[float] = []
    async with Bus(config(responder_urls, f"bench-resp-{tag}")) as resp_bus, \
            Bus(config(requester_urls, f"bench-req-{tag}")) as req_bus, req_bus.subscribe(RES) as results:
        await resp_bus.wait_connected(10)
        await req_bus.wait_connected(10)
        async with asyncio.TaskGroup() as tg:
            serving = tg.create_task(responder(resp_bus))

            async def collect() -> None:
                async for message in results:
                    fut = waiting.pop(json.loads(message.payload)["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(None)

            collecting = tg.create_task(collect())
            await asyncio.sleep(1.0)  # the subscriptions reached every node
            end = time.monotonic() + seconds

            async def worker() -> None:
                while time.monotonic() < end:
                    cid = str(uuid.uuid4())
                    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                    waiting[cid] = fut
                    start = time.monotonic()
                    await req_bus.publish(CMD, {"id": cid, "name": "switch", "args": {}})
                    await asyncio.wait_for(fut, 10)
                    rtts.append(time.monotonic() - start)

            began = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            took = time.monotonic() - began
            serving.cancel()
            collecting.cancel()
    return len(rtts) / took, percentile(rtts, 50) * 1000, percentile(rtts, 99) * 1000


async def failover(cluster: NatsCluster) -> float:
    """Seconds from the responder's node's death until a command round-trips again."""
    urls = cluster.urls
    async with Bus(config(urls, "bench-fo-resp")) as resp_bus, \
            Bus(config([urls[2], urls[1]], "bench-fo-req")) as req_bus, req_bus.subscribe(RES) as results:
        await resp_bus.wait_connected(10)
        await req_bus.wait_connected(10)
        serving = asyncio.create_task(responder(resp_bus))
        await asyncio.sleep(1.0)
        cluster.kill(0)
        killed = time.monotonic()
        try:
            while time.monotonic() - killed < 120:
                cid = str(uuid.uuid4())
                try:
                    await req_bus.publish(CMD, {"id": cid, "name": "switch", "args": {}})
                    async with asyncio.timeout(1.0):
                        async for message in results:
                            if json.loads(message.payload)["id"] == cid:
                                return time.monotonic() - killed
                except (BusError, TimeoutError):  # a publish refused or timed out while NATS recovers: again
                    await asyncio.sleep(0.1)
            return float("nan")
        finally:
            serving.cancel()


async def main(seconds: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder:
        (Path(folder) / "c").mkdir()
        (Path(folder) / "one").mkdir()
        cluster, one = NatsCluster(Path(folder) / "c", size=3), NatsCluster(Path(folder) / "one", size=1)
        try:
            cluster.start()
            one.start()
            c_rate, c_p50, c_p99 = await measure([cluster.url(2)], [cluster.url(0)], seconds, concurrency, "c")
            o_rate, o_p50, o_p99 = await measure([one.url(0)], [one.url(0)], seconds, concurrency, "one")
            print(f"three nodes (requester on 3, responder on 1): {c_rate:.0f} commands/s, p50 {c_p50:.1f} ms, "
                  f"p99 {c_p99:.1f} ms")
            print(f"one node: {o_rate:.0f} commands/s, p50 {o_p50:.1f} ms, p99 {o_p99:.1f} ms")
            fo = await failover(cluster)
            print(f"responder's node killed: commands round-trip again after {fo:.2f} s")
            print(result_line("cluster", cluster_cmd_per_s=c_rate, cluster_p99_ms=c_p99, one_node_cmd_per_s=o_rate,
                              one_node_p99_ms=o_p99, ratio=c_rate / o_rate if o_rate else 0.0, failover_s=fo))
        finally:
            cluster.stop()
            one.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.seconds, args.concurrency))
