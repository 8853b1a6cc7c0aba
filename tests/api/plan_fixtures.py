"""Helpers of the plan, deploy and manual-control tests: an intersection run by the fake fleet's tsc-001, the
example plan, and a fake controller's answers to deploy_plan."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from api.models import Intersection
from controllers.commands import CommandResult, DeployStage, ErrorCode
from tests.api.conftest import Harness

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "plans" / "examples"
INTERSECTION = "tn-001"
BASE_URL = f"/api/v1/intersections/{INTERSECTION}/plans"
CONTROLLER = "tsc-001"


def example_plan() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "tn-001-weekday.json").read_text(encoding="utf-8"))
    return data


def invalid_plan() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / "invalid-timing.json").read_text(encoding="utf-8"))
    data["intersection_id"] = INTERSECTION
    return data


def with_cycle(plan: dict[str, Any], pattern: int, cycle_s: float) -> dict[str, Any]:
    """The plan with one pattern's cycle changed, the difference given to the coordinated phases 2 and 6."""
    out = copy.deepcopy(plan)
    for pat in out["patterns"]:
        if pat["pattern"] == pattern:
            delta = cycle_s - pat["cycle_s"]
            pat["cycle_s"] = cycle_s
            pat["splits_s"]["2"] += delta
            pat["splits_s"]["6"] += delta
    return out


async def add_intersection(h: Harness, controller: str | None = CONTROLLER) -> None:
    now = h.clock.now()
    async with h.state.sessions() as session:
        session.add(Intersection(id=INTERSECTION, site="tn", name="Ngã tư Hoàng Văn Thụ", controller_id=controller,
                                 approaches=[], created_at=now, updated_at=now))
        await session.commit()


async def answer(h: Harness, command_id: str, *, final: bool, ok: bool = True, stage: DeployStage | None = None,
                 error: ErrorCode | None = None, message: str | None = None) -> None:
    """Publish a cmd/res of the fake controller and wait until the API handled it."""
    result = CommandResult(id=command_id, ok=ok, final=final, stage=stage, error=error, message=message)
    await h.bus.publish(f"sl/v1/tn/{CONTROLLER}/cmd/res", result.to_payload())
    await h.settle()
