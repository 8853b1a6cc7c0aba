"""The simulator's fault-injection endpoint: a small HTTP/1.1 server on the fleet's host, and its client.

    GET  /devices        -> 200 [{id, kind, transport, ...live summary}]
    POST /faults         {device, fault, args?} -> 200 {device, fault, active, args} | 400 {error}
    GET  /healthz        -> 200 {ok: true}

One request per connection (Connection: close); bodies up to 64 KiB; every read has a timeout. Runs in the
fleet's TaskGroup; `inject_fault()` is the client the CLI and rigs call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from firmware_sim.faults import FaultError, apply_fault
from firmware_sim.fleet import Fleet

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
READ_TIMEOUT_S = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large"}


def device_summary(fleet: Fleet) -> list[dict[str, Any]]:
    out = []
    for device_id, entry in fleet.entries.items():
        item: dict[str, Any] = {k: entry[k] for k in ("id", "kind", "transport") if k in entry}
        item["comm_fault"] = device_id in fleet.comm_fault
        if (ctrl := fleet.controllers.get(device_id)) is not None:
            item.update(mode=ctrl.mode, alarms=sorted(ctrl.alarms), powered=ctrl.powered)
        elif (cab := fleet.cabinets.get(device_id)) is not None:
            item.update(circuits_on=[c.on for c in cab.circuits], alarms=cab.alarms(fleet.clock.now()))
        out.append(item)
    return out


def handle(fleet: Fleet, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """Route one request; returns (status, JSON body). Never raises for bad input."""
    if path == "/healthz" and method == "GET":
        return 200, {"ok": True}
    if path == "/devices" and method == "GET":
        return 200, device_summary(fleet)
    if path == "/faults" and method == "POST":
        try:
            doc = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            return 400, {"error": f"body is not JSON: {exc}"}
        if not isinstance(doc, dict) or not isinstance(doc.get("device"), str) or not isinstance(
                doc.get("fault"), str) or not isinstance(doc.get("args", {}), dict):
            return 400, {"error": "expected {device: str, fault: str, args?: object}"}
        try:
            return 200, apply_fault(fleet, doc["device"], doc["fault"], doc.get("args"))
        except FaultError as exc:
            return 400, {"error": str(exc)}
    if path in ("/healthz", "/devices", "/faults"):
        return 405, {"error": f"{method} not allowed on {path}"}
    return 404, {"error": f"no such path {path}"}


async def _serve_one(fleet: Fleet, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    status, payload = 400, {"error": "bad request"}
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            status, payload = 413, {"error": f"body over {MAX_BODY} bytes"}
        else:
            body = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S) if length else b""
            status, payload = handle(fleet, method, path.split("?")[0], body)
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        log.warning("control_bad_request error=%r", exc)
    data = json.dumps(payload).encode()
    writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data)
    try:
        await asyncio.wait_for(writer.drain(), READ_TIMEOUT_S)
    finally:
        writer.close()


async def serve_control(tg: asyncio.TaskGroup, fleet: Fleet, host: str, port: int) -> str:
    """Start listening (port 0: a free one) and return the base URL; the server lives in `tg`."""
    server = await asyncio.start_server(lambda r, w: _serve_one(fleet, r, w), host, port)
    bound = server.sockets[0].getsockname()[1]

    async def keep() -> None:
        async with server:
            await server.serve_forever()
    tg.create_task(keep(), name="control")
    url = f"http://{host}:{bound}"
    log.info("control_listening url=%s", url)
    return url


async def inject_fault(url: str, device: str, fault: str, args: dict[str, Any] | None = None, *,
                       timeout_s: float = 10.0) -> dict[str, Any]:
    """POST a fault to a running simulator. Raises FaultError with the server's message on a refusal and
    httpx.HTTPError when it cannot be reached."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        resp = await client.post(f"{url.rstrip('/')}/faults", json={"device": device, "fault": fault,
                                                                    "args": args or {}})
    body: dict[str, Any] = resp.json()
    if resp.status_code != 200:
        raise FaultError(str(body.get("error", resp.text)))
    return body


def main(argv: list[str] | None = None) -> int:
    """`python -m firmware_sim.control URL DEVICE FAULT [ARGS_JSON]`: inject (or clear, with {"active": false})
    a fault in a running simulator; `python -m firmware_sim.control URL --devices` lists the devices."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m firmware_sim.control", description=main.__doc__)
    p.add_argument("url", help="the simulator's control URL (manifest: control.url)")
    p.add_argument("device", nargs="?")
    p.add_argument("fault", nargs="?")
    p.add_argument("args", nargs="?", default="{}", help='JSON object, e.g. \'{"circuit": 2}\'')
    p.add_argument("--devices", action="store_true", help="list the devices and their live summary")
    a = p.parse_args(argv)
    if a.devices:
        resp = httpx.get(f"{a.url.rstrip('/')}/devices", timeout=10)
        sys.stdout.write(json.dumps(resp.json(), indent=2) + "\n")
        return 0 if resp.status_code == 200 else 1
    if not a.device or not a.fault:
        p.error("DEVICE and FAULT are required (or --devices)")
    try:
        args = json.loads(a.args)
    except json.JSONDecodeError as exc:
        p.error(f"ARGS_JSON is not JSON: {exc}")
    try:
        result = asyncio.run(inject_fault(a.url, a.device, a.fault, args))
    except (FaultError, httpx.HTTPError) as exc:
        sys.stderr.write(f"fault refused: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
