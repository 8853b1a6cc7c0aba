"""docker-compose.yml runs what the command line offers: every signalight service's command exists, and the timed
jobs have their one `scheduler` service (the API process does not run the lighting jobs, so without it no daily
energy report would ever be written)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from signalight.cli import app

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    return found


def test_every_signalight_service_runs_a_command_the_cli_has() -> None:
    ours = {name: s for name, s in services().items() if s.get("image") == "signalight:latest"}
    assert ours, "no signalight service in docker-compose.yml"
    for name, service in ours.items():
        result = CliRunner().invoke(app, [*service["command"][:1], "--help"])
        assert result.exit_code == 0, f"service {name}: `signalight {service['command'][0]}` -> {result.output}"


def test_one_scheduler_service_runs_the_timed_jobs_on_the_production_stores() -> None:
    found = services()
    scheduler = found["scheduler"]
    assert scheduler["command"] == ["scheduler"]
    assert scheduler.get("deploy", {}).get("replicas", 1) == 1
    assert {"postgres", "influxdb", "migrate"} <= set(scheduler["depends_on"])
    env = scheduler["environment"]
    assert env["SIGNALIGHT_STORE"] == "influxdb" and env["SIGNALIGHT_DB_URL"] == found["api"]["environment"][
        "SIGNALIGHT_DB_URL"], "the scheduler reads and writes the API's config DB and telemetry store"
    assert "profiles" not in scheduler, "the scheduler is part of the system, not an optional profile"
