"""The status page's JavaScript, run by Node against the real API: login, live fleet over SSE, a flash command."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from api.app import STATIC
from tests.api.served import PASSWORD, serve_api

NODE = shutil.which("node")
SCRIPT = Path(__file__).with_name("status_page_smoke.mjs")


@pytest.mark.skipif(NODE is None, reason="Node.js is needed to run the status page's JavaScript")
def test_status_page_logs_in_streams_and_commands(tmp_path: Path) -> None:
    assert NODE is not None
    with serve_api(f"sqlite+aiosqlite:///{tmp_path / 'page.db'}", gateway_down=True) as served:
        run = subprocess.run([NODE, str(SCRIPT), served.url, "operator", PASSWORD, str(STATIC / "app.js")],
                             capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout.strip().splitlines()[-1])
        commands = served.bus.sent_to("cmd")
    assert seen["devices"] == 3 and seen["conn"] == "conn live" and seen["who"] == "operator (operator)"
    assert seen["circuits"] == 2 and seen["summary"] == "3 devices · 2 online"
    assert seen["reasons"] == ["gateway offline (edge01-a)"]  # its own retained status says online
    assert "/api/v1/auth/token" in seen["posted"][0]
    assert [(c["name"], c["issued_by"]) for c in commands] == [("flash", "operator")]
