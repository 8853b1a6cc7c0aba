"""`signalight fault`: a rig injects and clears faults in a running simulator from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hil_tests.rig import Rig, eventually, read_manifest, rig_env
from tests.servers import Mosquitto, free_port

pytestmark = [pytest.mark.integration]


def _state(broker: Mosquitto, device: str) -> dict[str, object]:
    out = subprocess.run(["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-t", f"sl/v1/+/{device}/state",
                          "-C", "1", "-W", "5"], capture_output=True, text=True, timeout=15, check=False).stdout
    values: dict[str, object] = json.loads(out.splitlines()[0])["values"]
    return values


def test_fault_is_injected_refused_and_cleared(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rig = Rig(tmp_path, rig_env(tmp_path, mosquitto.host, mosquitto.port, free_port()))
    try:
        rig.start("sim", "sim", "--intersections", "0", "--cabinets", "2", "--modbus-cabinets", "0")
        manifest = eventually(lambda: read_manifest(tmp_path / "manifest.json"), 60, "the manifest", rig)
        cabinet = manifest["devices"][0]["id"]
        eventually(lambda: _state(mosquitto, cabinet), 20, "the cabinet's state", rig)

        done = rig.cli("fault", cabinet, "door_open")
        assert json.loads(done.stdout)
        eventually(lambda: _state(mosquitto, cabinet).get("door_open") is True, 20, "door open in the state", rig)

        bad = rig.cli("fault", cabinet, "no_such_fault", check=False)
        assert bad.returncode == 2 and "refused" in bad.stderr and "Traceback" not in bad.stderr
        bad_json = rig.cli("fault", cabinet, "door_open", "--args", "{nope", check=False)
        assert bad_json.returncode == 2 and "--args is not JSON" in bad_json.stderr

        rig.cli("fault", cabinet, "door_open", "--args", '{"active": false}')
        eventually(lambda: _state(mosquitto, cabinet).get("door_open") is False, 20, "door closed again", rig)
    finally:
        rig.stop_all()


def test_without_a_simulator_it_says_where_it_looked(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "signalight", "fault", "tn-cab-001", "door_open", "--manifest",
                           str(tmp_path / "none.json")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "none.json" in proc.stderr
