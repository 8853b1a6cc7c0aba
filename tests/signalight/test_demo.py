"""`signalight demo`: one process, everything live, visible to an external MQTT client, Ctrl-C stops it fast."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hil_tests.rig import eventually
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DEVICES = 10  # the demo fleet: 4 intersections and 6 cabinets


def test_demo_runs_everything_in_one_process(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    api_port = free_port()
    # occupy the MQTT port asked for: the demo must say so and use another one
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    env = {**os.environ, "SIGNALIGHT_API_PORT": str(api_port), "SIGNALIGHT_MQTT_PORT": str(taken)}
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "signalight", "demo", "--data-dir", str(tmp_path / "var")],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def banner() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"demo exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            text = log_path.read_text()
            return text if "signalight demo is running" in text else None

        text = eventually(banner, 90, "the demo banner")
        assert f"MQTT port {taken} is taken" in text
        mqtt_port = int(re.search(r"MQTT broker\s+mqtt://127\.0\.0\.1:(\d+)", text).group(1))  # type: ignore[union-attr]
        assert mqtt_port != taken
        api = f"http://127.0.0.1:{api_port}"
        assert f"{api}/" in text and "demo / demo" in text

        page = httpx.get(f"{api}/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        token = httpx.post(f"{api}/api/v1/auth/token", data={"username": "demo", "password": "demo"},
                           timeout=10).json()["access_token"]
        client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        request.addfinalizer(client.close)

        def online() -> list[dict[str, object]] | None:
            listed = client.get("/api/v1/devices").raise_for_status().json()
            ok = [d for d in listed if d["status"] == "online" and d["state"]]
            return listed if len(ok) == DEVICES else None

        listed = eventually(online, 60, "all 10 demo devices online with state")
        kinds = sorted(str(d["kind"]) for d in listed)
        assert kinds.count("signal_controller") == 4 and kinds.count("lighting_cabinet") == 6
        assert client.get("/api/v1/alarms", params={"kind": "unknown_device"}).json() == [], "imported first"

        # Commands issued through the API are signed, verified and executed: a Modbus signal, an MQTT cabinet.
        until = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        signal_id = next(d["id"] for d in listed if d["kind"] == "signal_controller")
        cabinet_id = next(d["id"] for d in listed
                          if d["kind"] == "lighting_cabinet" and d["birth"]["transport"] == "mqtt")  # type: ignore[index]
        for device_id, body in ((signal_id, {"name": "flash", "args": {"until": until}}),
                                (cabinet_id, {"name": "switch", "args": {"circuit": 1, "level_pct": 30,
                                                                         "until": until}})):
            sent = client.post(f"/api/v1/devices/{device_id}/commands", json=body)
            assert sent.status_code == 202, sent.text
            href = sent.json()["href"]
            done = eventually(lambda href=href: client.get(href).json() if client.get(href).json()["status"]
                              != "pending" else None, 30, f"the result of {body['name']}")
            assert done["status"] == "succeeded", done

        # the demo's default city lighting calendar is stored and deployed to its cabinets
        def lighting() -> dict[str, object] | None:
            docs = client.get("/api/v1/lighting/documents").json()
            if docs != [{"document_id": "city", "latest_version": 1}]:
                return None
            cabinet = next(str(d["id"]) for d in listed if d["kind"] == "lighting_cabinet")
            view: dict[str, object] = client.get(f"/api/v1/cabinets/{cabinet}/lighting").json()
            return view if view.get("program") else None

        assert eventually(lighting, 60, "the demo's lighting calendar deployed")

        # an external MQTT client sees the retained state of every device
        out = subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(mqtt_port), "-t", "sl/v1/+/+/state",
                              "-v", "-C", str(DEVICES), "-W", "10", "--retained-only"],
                             capture_output=True, text=True, timeout=20, check=False).stdout
        states = {line.split(" ", 1)[0].split("/")[3]: json.loads(line.split(" ", 1)[1])
                  for line in out.splitlines()}
        assert len(states) == DEVICES, out

        # Ctrl-C stops it cleanly in under 5 s
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(15)
        took = time.monotonic() - start
        assert code == 0, log_path.read_text()[-3000:]
        assert took < 5, f"demo took {took:.1f} s to stop"
        assert "Traceback" not in log_path.read_text()
    finally:
        blocker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
