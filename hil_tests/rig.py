"""A rig: signalight parts started as separate OS processes, as in production, with their logs kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
ENGINEER_PASSWORD = "rig-engineer-pass-word"


def rig_env(folder: Path, mqtt_host: str, mqtt_port: int, api_port: int) -> dict[str, str]:
    """Settings of every process of a rig: one broker, SQLite config DB and data folder in `folder`."""
    return {
        "SIGNALIGHT_ENVIRONMENT": "development",
        "SIGNALIGHT_SITE": "tn",
        "SIGNALIGHT_DATA_DIR": str(folder / "var"),
        "SIGNALIGHT_MQTT_HOST": mqtt_host,
        "SIGNALIGHT_MQTT_PORT": str(mqtt_port),
        "SIGNALIGHT_API_PORT": str(api_port),
        "SIGNALIGHT_DB_URL": f"sqlite+aiosqlite:///{folder / 'config.db'}",
        "SIGNALIGHT_MANIFEST": str(folder / "manifest.json"),
    }


class Rig:
    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = {**os.environ, **env}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def api(self) -> str:
        """Base URL of the rig's API process."""
        return f"http://127.0.0.1:{self.env['SIGNALIGHT_API_PORT']}"

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a `signalight` command to completion."""
        return subprocess.run([sys.executable, "-m", "signalight", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=check)

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `signalight *args` as process `name`; `env` adds settings of this process only."""
        with (self.folder / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "signalight", *args], env={**self.env, **(env or {})},
                                    stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str, timeout: float = 10) -> tuple[int, float]:
        """SIGTERM one process; returns (exit code, seconds it took to stop)."""
        proc = self.procs[name]
        start = time.monotonic()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                raise AssertionError(
                    f"{name} did not stop within {timeout} s of SIGTERM:\n{self.log(name)[-3000:]}") from None
        return proc.returncode, time.monotonic() - start

    def stop_all(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def import_manifest(self, manifest: dict[str, Any], timeout: float = 60) -> None:
        """Register the manifest's devices in the API's registry as an engineer does (births create no device)."""
        self.cli("admin", "create-user", "rig-engineer", "--role", "engineer", "--password", ENGINEER_PASSWORD)
        token = eventually(lambda: httpx.post(f"{self.api}/api/v1/auth/token", timeout=5, data={
            "username": "rig-engineer", "password": ENGINEER_PASSWORD}).json().get("access_token"),
            timeout, "an engineer's token from the API", self)
        resp = httpx.post(f"{self.api}/api/v1/devices/import", json=manifest, timeout=30,
                          headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200, resp.text

    def assert_running(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")


def eventually(probe: Callable[[], T | None], timeout: float, what: str, rig: Rig | None = None,
               interval: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` (and any process that died)."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if rig is not None:
            rig.assert_running()
        try:
            value = probe()
            if value:
                return value
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error!r})")


def read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None  # being written
    return data
