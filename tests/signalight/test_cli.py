"""The command line: every listed command exists and answers --help; settings errors are clear, not tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from signalight.cli import app

COMMANDS = ["demo", "sim", "gateway", "recorder", "api", "admin", "db", "dashboards", "fault", "broker"]


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


@pytest.mark.parametrize("args", [[c] for c in COMMANDS[:5]] + [["admin", "create-user"], ["db", "upgrade"],
                                                                 ["dashboards", "export"]])
def test_each_command_has_help(args: list[str]) -> None:
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output


def test_invalid_setting_is_reported_by_name_without_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "signalight", "gateway", "--manifest", "/nonexistent.json"],
                          capture_output=True, text=True, timeout=60,
                          env={"SIGNALIGHT_MQTT_PORT": "notaport", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "SIGNALIGHT_MQTT_PORT" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_gateway_without_registry_says_what_to_do(tmp_path: object) -> None:
    proc = subprocess.run([sys.executable, "-m", "signalight", "gateway", "--manifest", "/nonexistent.json"],
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr


@pytest.mark.parametrize(("start", "says"), [("yesterday", "not an ISO 8601 time"),
                                             ("2026-12-01T16:05", "give its UTC offset")])
def test_sim_start_must_be_a_time_with_its_offset(start: str, says: str) -> None:
    result = CliRunner().invoke(app, ["sim", "--start", start, "--intersections", "0", "--cabinets", "0"])
    assert result.exit_code == 2 and says in result.output, result.output
