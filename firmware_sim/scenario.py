"""Scenario files: timed fault injections in virtual time, deterministic under the fleet's seed.

    - at: 30 s            # also "2 min", "1.5 h", or a number of seconds
      device: tn-sig-001
      fault: force_conflict
      args: {}            # optional; {active: false} clears

Steps run in `at` order on the fleet's virtual clock. A bad file raises ScenarioError naming the step.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from firmware_sim.faults import FaultError, apply_fault
from firmware_sim.fleet import Fleet

log = logging.getLogger(__name__)

_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the step and field."""


@dataclass(frozen=True, slots=True)
class Step:
    at_s: float
    device: str
    fault: str
    args: dict[str, Any] = field(default_factory=dict)


def parse_duration(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h)?\s*", str(value))
    if not m:
        raise ScenarioError(f"{where}: expected a duration like '30 s' or '2 min', got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def parse_scenario(doc: Any) -> list[Step]:
    if not isinstance(doc, list):
        raise ScenarioError("a scenario is a list of steps")
    steps = []
    for i, raw in enumerate(doc):
        where = f"step {i + 1}"
        if not isinstance(raw, dict) or not {"at", "device", "fault"} <= raw.keys():
            raise ScenarioError(f"{where}: needs at, device and fault")
        extra = set(raw) - {"at", "device", "fault", "args"}
        if extra:
            raise ScenarioError(f"{where}: unknown fields {sorted(extra)}")
        args = raw.get("args") or {}
        if not isinstance(args, dict):
            raise ScenarioError(f"{where}.args: expected a mapping")
        steps.append(Step(parse_duration(raw["at"], f"{where}.at"), str(raw["device"]), str(raw["fault"]), args))
    return sorted(steps, key=lambda s: s.at_s)


def load_scenario(path: Path) -> list[Step]:
    """Read and check a scenario YAML file. Raises OSError or ScenarioError."""
    try:
        return parse_scenario(yaml.safe_load(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from exc


async def run_scenario(fleet: Fleet, steps: list[Step]) -> None:
    """Apply each step at its virtual time from now; a step the fleet refuses is logged and skipped."""
    t0 = fleet.clock.monotonic()
    for step in steps:
        wait = step.at_s - (fleet.clock.monotonic() - t0)
        if wait > 0:
            await fleet.clock.sleep(wait)
        try:
            apply_fault(fleet, step.device, step.fault, step.args)
        except FaultError as exc:
            log.error("scenario_step_refused at_s=%s device=%s fault=%s error=%s", step.at_s, step.device,
                      step.fault, exc)
